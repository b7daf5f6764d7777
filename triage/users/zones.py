"""The time zone each user reads times in, and how a time names its zone.

Times are stored and computed in UTC (CloudTrail's zone). A user may choose an
IANA zone (Europe/Berlin) on My preferences; TimeZoneMiddleware activates it for
each of their requests, so pages, forms and Django's own `date` filter all use
it, and every time shown names its zone: "2026-11-28 11:13 CET" inline, the
zone's full name in column headers, titles and the page footer. A user with no
choice, anyone signed out, the JSON API, exports, webhooks and e-mails to
destinations (which have no user) stay in UTC and say so.
"""

import functools
from datetime import datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo, available_timezones

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from triage.users.models import TimeZonePreference

DEFAULT_ZONE = "UTC"


@functools.cache
def zone_names() -> tuple[str, ...]:
    """Every zone a user may choose, UTC first then alphabetically.

    The "posix/" and "right/" copies and the bare legacy aliases without a
    region (EST, GMT+0, …) are left out: they name no place a reader knows.
    """
    names = {
        name
        for name in available_timezones()
        if "/" in name and not name.startswith(("posix/", "right/", "Etc/", "SystemV/"))
    }
    return (DEFAULT_ZONE, *sorted(names))


def zone_valid(name: str) -> bool:
    return name in zone_names()


def user_zone_name(user: AbstractBaseUser) -> str:
    """The zone the user reads times in: their choice, else UTC (also for a zone that
    the installed time zone database no longer has)."""
    if not user.is_authenticated:
        return DEFAULT_ZONE
    name = (
        TimeZonePreference.objects.filter(user_id=user.pk)
        .values_list("time_zone", flat=True)
        .first()
    )
    return name if name and zone_valid(name) else DEFAULT_ZONE


@transaction.atomic
def user_zone_set(*, user: AbstractBaseUser, name: str) -> TimeZonePreference:
    if not zone_valid(name):
        raise ValidationError(
            f"{name[:64]!r} is not a time zone asnwatch knows (e.g. Europe/Berlin)."
        )
    preference, _ = TimeZonePreference.objects.update_or_create(
        user_id=user.pk, defaults={"time_zone": name}
    )
    return preference


def _zone(zone: tzinfo | None) -> tzinfo:
    return zone if zone is not None else timezone.get_current_timezone()


def zone_name(zone: tzinfo | None = None) -> str:
    """The active zone's IANA name: Europe/Berlin, UTC."""
    return str(getattr(_zone(zone), "key", None) or _zone(zone))


def offset_text(offset: timedelta | None) -> str:
    """UTC+01:00, UTC-03:30, UTC+00:00."""
    minutes = int((offset or timedelta()).total_seconds() // 60)
    sign = "+" if minutes >= 0 else "-"
    hours, minutes = divmod(abs(minutes), 60)
    return f"UTC{sign}{hours:02d}:{minutes:02d}"


def abbreviation(moment: datetime, zone: tzinfo | None = None) -> str:
    """The zone's short name at that moment (CET, CEST, EST, UTC), or its offset where the
    zone has no letters for it (UTC+03 for Europe/Istanbul)."""
    local = moment.astimezone(_zone(zone))
    name = local.tzname() or ""
    if name and name[0] in "+-":
        return f"UTC{name}"
    return name or offset_text(local.utcoffset())


def _text(moment: datetime, precision: str) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S" if precision == "second" else "%Y-%m-%d %H:%M")


def local_text(
    moment: datetime | None, precision: str = "minute", zone: tzinfo | None = None
) -> str:
    """2026-11-28 11:13 in the zone: for a column whose header names the zone."""
    if moment is None:
        return ""
    return _text(timezone.localtime(moment, _zone(zone)), precision)


def zoned_text(
    moment: datetime | None, precision: str = "minute", zone: tzinfo | None = None
) -> str:
    """2026-11-28 11:13 CET: a time that says its zone."""
    if moment is None:
        return ""
    return f"{local_text(moment, precision, zone)} {abbreviation(moment, zone)}"


def full_text(moment: datetime | None, zone: tzinfo | None = None) -> str:
    """2026-11-28 11:13:05 Europe/Berlin (UTC+01:00), or 2026-11-28 10:13:05 UTC: for titles."""
    if moment is None:
        return ""
    zone = _zone(zone)
    name = zone_name(zone)
    text = local_text(moment, "second", zone)
    if name == DEFAULT_ZONE:
        return f"{text} UTC"
    return f"{text} {name} ({offset_text(timezone.localtime(moment, zone).utcoffset())})"


def zone_of(name: str) -> ZoneInfo:
    return ZoneInfo(name if zone_valid(name) else DEFAULT_ZONE)
