"""Template tags of the triage pages: links to principals and networks, compact times.

Times are shown in the user's zone with the zone named (zoned, local under a
header that names it, zone_title; triage/users/zones.py); utc is for text that
says UTC itself, such as the e-mails to REVIEW_RECIPIENTS.

Principal and network names are attacker-chosen text: they travel as
URL-encoded query parameters, and the tag's output is escaped again for the
HTML attribute it lands in. The tags run for every row of every table, so
they avoid Django's slower general-purpose helpers (reverse, date) per call.
"""

import functools
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

from django import template
from django.urls import reverse
from django.utils import timezone

from triage.allowlist.services import user_can_change_exclusions
from triage.users import zones

register = template.Library()


@functools.cache
def _path(name: str) -> str:
    return reverse(name)


@register.simple_tag
def principal_url(account_id: str | None, user_name: str | None) -> str:
    query = urlencode({"account": account_id or "", "user": user_name or ""})
    return f"{_path('principal')}?{query}"


@register.simple_tag
def network_url(organization: str | None, as_number: int | None = None) -> str:
    if organization:
        return f"{_path('network')}?{urlencode({'org': organization})}"
    if as_number is not None:
        return f"{_path('network')}?{urlencode({'asn': as_number})}"
    return ""


@register.simple_tag
def events_url(**filters) -> str:
    """The Events page under these filters (account, user, asn, org, ip, key, …)."""
    query = {name: value for name, value in filters.items() if value not in (None, "")}
    return f"{_path('events')}?{urlencode(query)}"


# ECS fields whose value is an Events page filter: shown as a link to its events.
_PIVOTS = {
    "source.ip": "ip",
    "source.as.number": "asn",
    "source.as.organization.name": "org",
    "cloud.account.id": "account",
    "aws.cloudtrail.user_identity.access_key_id": "key",
    "event.action": "action",
}


@register.simple_tag
def ecs_pivot_url(name: str, value) -> str:
    """The Events page filtered on this field's value, or "" for a field it cannot filter on."""
    if name not in _PIVOTS or value in (None, ""):
        return ""
    return events_url(**{_PIVOTS[name]: value})


@register.filter
def alert_url(alert_id: int) -> str:
    return f"{_path('alerts')}{int(alert_id)}/"


@register.simple_tag
def alerts_url(**filters) -> str:
    """The alert list under these filters (any status unless one is given)."""
    query = {"status": "", **{name: value for name, value in filters.items() if value is not None}}
    return f"{_path('alerts')}?{urlencode(query)}"


@register.filter
def utc(moment: datetime | None, precision: str = "minute") -> str:
    """2026-11-28 10:13 in UTC whatever the user's zone: for text that names UTC itself."""
    return zones.local_text(moment, precision, UTC)


@register.filter
def local(moment: datetime | None, precision: str = "minute") -> str:
    """2026-11-28 11:13 in the user's zone: for a column whose header names the zone."""
    return zones.local_text(moment, precision)


@register.filter
def zoned(moment: datetime | None, precision: str = "minute") -> str:
    """2026-11-28 11:13 CET: in the user's zone, named (triage/users/zones.py)."""
    return zones.zoned_text(moment, precision)


@register.filter
def zone_title(moment: datetime | None) -> str:
    """2026-11-28 11:13:05 Europe/Berlin (UTC+01:00): for a title attribute."""
    return zones.full_text(moment)


@register.simple_tag
def current_zone() -> str:
    """The user's zone: Europe/Berlin, UTC (for headers: "Time (Europe/Berlin)")."""
    return zones.zone_name()


@register.simple_tag
def now_zoned() -> str:
    return zones.zoned_text(timezone.now())


@register.filter
def iso(moment: datetime | None) -> str:
    """For <time datetime=…>."""
    return moment.astimezone(UTC).isoformat() if moment else ""


@register.filter
def ago(moment: datetime | None) -> str:
    """How long ago, compactly: just now, 12 min, 5 h, 3 d."""
    if moment is None:
        return ""
    seconds = (timezone.now() - moment).total_seconds()
    if seconds < 60:
        return "just now"
    if seconds < 3600:
        return f"{int(seconds // 60)} min ago"
    if seconds < 86400 * 2:
        return f"{int(seconds // 3600)} h ago"
    return f"{int(seconds // 86400)} d ago"


@register.filter
def duration_text(value: timedelta | None) -> str:
    """3 h 05 min, 2 d 4 h, 45 s: a time to acknowledge or close, as a reader says it."""
    if value is None:
        return "—"
    seconds = int(value.total_seconds())
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, seconds = divmod(rest, 60)
    if days:
        return f"{days} d {hours} h"
    if hours:
        return f"{hours} h {minutes:02d} min"
    if minutes:
        return f"{minutes} min"
    return f"{seconds} s"


@register.filter
def percent(value: float | None) -> str:
    return "—" if value is None else f"{value:.0%}"


@register.filter
def may_change_exclusions(user) -> bool:
    """Whether the keyboard's "e" (an exclusion from this alert) leads anywhere for user."""
    return user_can_change_exclusions(user)
