"""The ASN allowlist: matching, and the services that change it (with audit rows).

An exclusion is a conjunction of optional conditions — AS number, AS
organisation pattern (case-insensitive, * matches anything), account id, user
name. Matching here (Python, for one event) and in `history_q` (SQL, for the
detector's history probe) must agree: both compile the pattern to one regex.
"""

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Count, Q
from django.forms.models import model_to_dict
from django.utils import timezone

from config.env import parse_instant
from config.roles import ALLOWLIST_ADMIN, user_has_role
from ingest.models import Event
from triage.alerts import alert_close
from triage.candidates import candidate_events_q
from triage.models import Alert, Exclusion, ExclusionChange
from triage.patterns import pattern_regex

# Who changes the allowlist: a signed-in user (checked for the allowlist-admin
# role, named by their user name), or a string naming an operator at the shell
# (`manage.py exclusions --by`), whom shell access already trusts.
Author = AbstractBaseUser | str

IMPACT_DAYS = 30
IMPACT_EXAMPLES = 5
# An exclusion that matches every candidate of the last 30 days silences the
# rule rather than tuning it. Below this many candidates "every" proves
# little (a quiet week, a new install), so a small dataset is not refused;
# nor is a confirmation asked for a large share of it
# (settings.EXCLUSION_CONFIRM_SHARE_PERCENT).
BROAD_MIN_CANDIDATES = 10
DEFAULT_EXPIRY = timedelta(days=90)

CONDITIONS = ("as_number", "as_organization", "account_id", "user_name")


@dataclass(frozen=True)
class Matcher:
    """An active exclusion, compiled once per detector run."""

    exclusion_id: int
    as_number: int | None
    organization: re.Pattern | None
    account_id: str
    user_name: str

    def matches(self, event: Any) -> bool:
        if self.as_number is not None and event.as_number != self.as_number:
            return False
        if self.organization is not None and not (
            event.as_organization and self.organization.match(event.as_organization)
        ):
            return False
        if self.account_id and event.account_id != self.account_id:
            return False
        return not (self.user_name and event.user_name != self.user_name)

    def q(self) -> Q:
        """The same condition over Event columns."""
        condition = Q()
        if self.as_number is not None:
            condition &= Q(as_number=self.as_number)
        if self.organization is not None:
            condition &= Q(as_organization__iregex=self.organization.pattern)
        if self.account_id:
            condition &= Q(account_id=self.account_id)
        if self.user_name:
            condition &= Q(user_name=self.user_name)
        return condition


def matcher_for(exclusion: Exclusion) -> Matcher:
    """An exclusion's conditions, compiled; it need not be saved (the impact preview)."""
    return Matcher(
        exclusion_id=exclusion.pk or 0,
        as_number=exclusion.as_number,
        organization=(
            re.compile(pattern_regex(exclusion.as_organization), re.IGNORECASE)
            if exclusion.as_organization
            else None
        ),
        account_id=exclusion.account_id,
        user_name=exclusion.user_name,
    )


def active_exclusions(*, at: datetime) -> list[Matcher]:
    """The exclusions in force at `at`: enabled and not expired."""
    rows = Exclusion.objects.filter(enabled=True).filter(
        Q(expires_at__isnull=True) | Q(expires_at__gt=at)
    )
    return [matcher_for(row) for row in rows.order_by("id")]


def user_can_change_exclusions(user: Any) -> bool:
    """Allowlist admins and superusers (who hold every role) change the allowlist."""
    return user_has_role(user, ALLOWLIST_ADMIN)


def _author(by: Author) -> str:
    """The audit name of whoever makes a change; a user without the role is refused."""
    if isinstance(by, str):
        if not by.strip():
            raise ValidationError("A change to the allowlist needs an author.")
        return by.strip()
    if not user_can_change_exclusions(by):
        raise PermissionDenied("Only allowlist admins change exclusions.")
    return by.get_username()


@dataclass
class Impact:
    """What an exclusion would match: candidates of the last 30 days, and alerts."""

    events: int
    candidates: int
    open_alerts: int
    closed_alerts: int
    example_events: list[Event] = field(default_factory=list)
    example_alerts: list[Alert] = field(default_factory=list)

    @property
    def matches_everything(self) -> bool:
        return self.candidates > BROAD_MIN_CANDIDATES and self.events == self.candidates

    @property
    def share(self) -> float:
        """The percentage of the candidates it would hide."""
        return 100 * self.events / self.candidates if self.candidates else 0.0

    @property
    def share_text(self) -> str:
        if 0 < self.share < 1:
            return "under 1 %"
        return f"{self.share:.0f} %"

    @property
    def needs_confirmation(self) -> bool:
        """Broad enough that saving it needs an explicit confirmation."""
        return (
            self.candidates > BROAD_MIN_CANDIDATES
            and self.share > settings.EXCLUSION_CONFIRM_SHARE_PERCENT
        )


# The code of the refusal until confirmed; each entry point adds how to confirm there.
UNCONFIRMED_BROAD = "unconfirmed_broad"


class BroadExclusionUnconfirmed(ValidationError):
    """Saving refused until confirmed (code UNCONFIRMED_BROAD)."""

    def __init__(self, impact: Impact) -> None:
        self.impact = impact
        super().__init__(
            f"These conditions would hide {impact.share_text} of the rule's candidate events "
            f"of the last {IMPACT_DAYS} days ({impact.events} of {impact.candidates}), more "
            f"than the {settings.EXCLUSION_CONFIRM_SHARE_PERCENT} % saved without a "
            "confirmation.",
            code=UNCONFIRMED_BROAD,
        )


def confirmation_record(impact: Impact) -> dict[str, Any]:
    """What the audit row keeps of a confirmed broad exclusion (under "confirmed_broad")."""
    return {
        "share_percent": round(impact.share, 1),
        "events": impact.events,
        "candidates": impact.candidates,
        "days": IMPACT_DAYS,
        "threshold_percent": settings.EXCLUSION_CONFIRM_SHARE_PERCENT,
    }


def exclusion_impact(*, exclusion: Exclusion, now: datetime | None = None) -> Impact:
    """What the exclusion's conditions match, as the detector would see it.

    Events: the rule's candidates (candidates.candidate_events_q) of the last 30
    days; alerts: on their own terms and AS number, which are the event's.
    """

    now = now or timezone.now()
    condition = matcher_for(exclusion).q()
    since = now - timedelta(days=IMPACT_DAYS)
    recent = Event.objects.filter(candidate_events_q(), timestamp__gte=since)
    counts = recent.aggregate(candidates=Count("id"), events=Count("id", filter=condition))
    alerts = Alert.objects.filter(condition)
    by_status = alerts.aggregate(
        closed=Count("id", filter=Q(status=Alert.Status.CLOSED)),
        not_closed=Count("id", filter=~Q(status=Alert.Status.CLOSED)),
    )
    return Impact(
        events=counts["events"],
        candidates=counts["candidates"],
        open_alerts=by_status["not_closed"],
        closed_alerts=by_status["closed"],
        example_events=list(recent.filter(condition).order_by("-timestamp")[:IMPACT_EXAMPLES]),
        example_alerts=list(alerts.order_by("-created_at", "-id")[:IMPACT_EXAMPLES]),
    )


def snapshot(exclusion: Exclusion) -> dict[str, Any]:
    """The audited state of an exclusion, JSON-ready."""
    data = model_to_dict(
        exclusion, fields=[*CONDITIONS, "reason", "expires_at", "enabled", "created_by"]
    )
    # In UTC, so that one instant written with another offset is no change.
    expires_at = exclusion.expires_at
    data["expires_at"] = expires_at.astimezone(UTC).isoformat() if expires_at else None
    return data


def exclusion_conditions_check(*, exclusion: Exclusion) -> None:
    """Refuse an exclusion without any condition (saving checks it, and so does a preview)."""
    if exclusion.as_number is None and not any(getattr(exclusion, name) for name in CONDITIONS[1:]):
        raise ValidationError("An exclusion needs at least one condition.")


def _validate(
    exclusion: Exclusion,
    *,
    check_breadth: bool = True,
    check_share: bool = True,
    confirm_broad: bool = False,
) -> dict[str, Any] | None:
    """Refuse what may not be saved; returns the confirmation record of a broad exclusion
    saved because confirm_broad was given (None when none was needed).

    The one place the browser, the CLI, imports and the API have breadth judged.
    """
    exclusion_conditions_check(exclusion=exclusion)
    if not exclusion.reason.strip():
        raise ValidationError("An exclusion needs a reason.")
    exclusion.full_clean(exclude=["created_by"])
    if not (check_breadth and exclusion.enabled):
        return None
    impact = exclusion_impact(exclusion=exclusion)
    refusal = exclusion_refusal(exclusion=exclusion, impact=impact)
    if refusal:
        raise ValidationError(refusal)
    if not (check_share and impact.needs_confirmation):
        return None
    if not confirm_broad:
        raise BroadExclusionUnconfirmed(impact)
    return confirmation_record(impact)


def _audited(exclusion: Exclusion, confirmed: dict[str, Any] | None) -> dict[str, Any]:
    after = snapshot(exclusion)
    if confirmed is not None:
        after["confirmed_broad"] = confirmed
    return after


def exclusion_refusal(*, exclusion: Exclusion, impact: Impact | None = None) -> str:
    """Why the exclusion would blind the rule instead of tuning it, or "" when it would not.

    Two rules, applied to the browser, the CLI and imports alike:
    - an organisation pattern made only of wildcards matches every network;
      it is refused whatever else is set (leave the organisation empty instead);
    - an exclusion whose conditions match every one of the rule's candidates
      of the last 30 days, when there are more than BROAD_MIN_CANDIDATES of
      them, matches every network and principal in practice.
    """
    pattern = exclusion.as_organization.strip()
    if pattern and not pattern.replace("*", "").strip():
        return (
            f"The organisation pattern “{pattern}” matches every network. Name the "
            "organisation (a * may stand for part of it), or leave it empty."
        )
    impact = impact or exclusion_impact(exclusion=exclusion)
    if impact.matches_everything:
        return (
            f"These conditions match all {impact.candidates} events the rule saw in the last "
            f"{IMPACT_DAYS} days: the exclusion would switch the rule off. Narrow it to a "
            "network (AS number or organisation) or a principal."
        )
    return ""


def impact_preview(candidate: Exclusion | None) -> dict[str, Any]:
    """What the impact preview (templates/triage/exclusion_impact.html) shows of a candidate:
    what it would match, why saving it would be refused ("" if it would not), and the
    window and share threshold its text cites. No candidate, nothing to preview yet."""
    impact = refusal = None
    if candidate is not None:
        impact = exclusion_impact(exclusion=candidate)
        refusal = exclusion_refusal(exclusion=candidate, impact=impact)
    return {
        "impact": impact,
        "refusal": refusal,
        "impact_days": IMPACT_DAYS,
        "confirm_share": settings.EXCLUSION_CONFIRM_SHARE_PERCENT,
    }


def exclusion_create(
    *,
    by: Author,
    reason: str,
    as_number: int | None = None,
    as_organization: str = "",
    account_id: str = "",
    user_name: str = "",
    expires_at: datetime | None = None,
    confirm_broad: bool = False,
    requested: dict[str, Any] | None = None,
) -> Exclusion:
    """Add an exclusion; one hiding a large share of the candidates needs confirm_broad.

    requested: who proposed it, when an admin approves an analyst's request
    ({"by": user name, "request": id}); the audit row keeps it beside the approver.
    """
    by = _author(by)
    exclusion = Exclusion(
        as_number=as_number,
        as_organization=as_organization.strip(),
        account_id=account_id.strip(),
        user_name=user_name.strip(),
        reason=reason.strip(),
        expires_at=expires_at,
        created_by=by,
    )
    confirmed = _validate(exclusion, confirm_broad=confirm_broad)
    after = _audited(exclusion, confirmed)
    if requested is not None:
        after["requested"] = requested
    with transaction.atomic():
        exclusion.save()
        ExclusionChange.objects.create(
            exclusion=exclusion, action="created", changed_by=by, after=after
        )
    return exclusion


def exclusion_update(
    *, exclusion: Exclusion, by: Author, confirm_broad: bool = False, **changes: Any
) -> Exclusion:
    """Change conditions, reason, expiry or the enabled flag, with an audit row.

    New conditions hiding a large share of the candidates need confirm_broad;
    enabling again is judged only for matching everything (its conditions were
    judged when they were saved).
    """
    by = _author(by)
    unknown = set(changes) - {*CONDITIONS, "reason", "expires_at", "enabled"}
    if unknown:
        raise TypeError(f"not an exclusion field: {', '.join(sorted(unknown))}")
    with transaction.atomic():
        exclusion = Exclusion.objects.select_for_update().get(pk=exclusion.pk)
        before = snapshot(exclusion)
        for name, value in changes.items():
            setattr(exclusion, name, value.strip() if isinstance(value, str) else value)
        # Breadth is judged when what the exclusion matches could grow: new
        # conditions, or switching it back on. Disabling is always allowed.
        new_conditions = any(before[name] != getattr(exclusion, name) for name in CONDITIONS)
        widens = new_conditions or (exclusion.enabled and not before["enabled"])
        confirmed = _validate(
            exclusion,
            check_breadth=widens,
            check_share=new_conditions,
            confirm_broad=confirm_broad,
        )
        after = _audited(exclusion, confirmed)
        if after == before:
            return exclusion
        if set(changes) == {"enabled"}:
            action = "enabled" if exclusion.enabled else "disabled"
        else:
            action = "changed"
        ExclusionChange.objects.create(
            exclusion=exclusion, action=action, changed_by=by, before=before, after=after
        )
        exclusion.save()
    return exclusion


def exclusion_disable(*, exclusion: Exclusion, by: Author) -> Exclusion:
    return exclusion_update(exclusion=exclusion, by=by, enabled=False)


def exclusion_enable(*, exclusion: Exclusion, by: Author) -> Exclusion:
    return exclusion_update(exclusion=exclusion, by=by, enabled=True)


def exclusion_create_from_alert(
    *,
    by: AbstractBaseUser,
    alert: Alert,
    close_alert: bool = False,
    close_matching: bool = False,
    comment: str = "",
    **fields: Any,
) -> tuple[Exclusion, list[Alert]]:
    """Add an exclusion and close, as false positives it explains, this alert or every
    open alert it matches; all or nothing, in one transaction.

    Returns the exclusion and the alerts it closed. Only alerts not closed yet
    are closed: a closed alert keeps the reason an analyst gave it.
    """
    with transaction.atomic():
        exclusion = exclusion_create(by=by, **fields)
        targets = Alert.objects.exclude(status=Alert.Status.CLOSED)
        if close_matching:
            targets = targets.filter(matcher_for(exclusion).q())
            if close_alert:
                targets = targets | Alert.objects.filter(pk=alert.pk).exclude(
                    status=Alert.Status.CLOSED
                )
        elif close_alert:
            targets = targets.filter(pk=alert.pk)
        else:
            targets = targets.none()
        closed = []
        for target in targets.order_by("id"):
            closed.append(
                alert_close(
                    alert=target,
                    by=by,
                    reason=Alert.CloseReason.FALSE_POSITIVE,
                    comment=comment or f"Closed by exclusion {exclusion.pk}: {exclusion.reason}",
                    exclusion=exclusion,
                )
            )
    return exclusion, closed


def exclusion_export() -> list[dict[str, Any]]:
    return [
        {
            "id": row.pk,
            **{name: getattr(row, name) for name in CONDITIONS},
            "reason": row.reason,
            "expires_at": row.expires_at.isoformat() if row.expires_at else None,
            "enabled": row.enabled,
            "created_by": row.created_by,
            "created_at": row.created_at.isoformat(),
        }
        for row in Exclusion.objects.order_by("id")
    ]


def exclusion_import(
    *, items: list[dict[str, Any]], by: Author, confirm_broad: bool = False
) -> tuple[int, int, int]:
    """Create or update exclusions from an export. Idempotent: returns (created, changed, same).

    An item with an id that exists updates that exclusion; any other item is
    matched on its conditions, so importing the same file twice changes nothing.
    confirm_broad confirms every broad exclusion of the file.
    """
    created = changed = same = 0
    with transaction.atomic():
        for position, item in enumerate(items):
            if not isinstance(item, dict):
                raise ValidationError(f"item {position}: not an object")
            fields = {name: item.get(name) for name in CONDITIONS}
            for name in CONDITIONS[1:]:
                fields[name] = (fields[name] or "").strip()
            values = {
                **fields,
                "reason": item.get("reason") or "",
                "expires_at": _instant(item.get("expires_at"), position),
                "enabled": bool(item.get("enabled", True)),
            }
            existing = None
            if item.get("id") is not None:
                existing = Exclusion.objects.filter(pk=item["id"]).first()
            if existing is None:
                existing = Exclusion.objects.filter(**fields).order_by("id").first()
            try:
                if existing is None:
                    enabled = values.pop("enabled")
                    exclusion = exclusion_create(by=by, confirm_broad=confirm_broad, **values)
                    if not enabled:
                        exclusion_disable(exclusion=exclusion, by=by)
                    created += 1
                    continue
                before = snapshot(existing)
                exclusion_update(exclusion=existing, by=by, confirm_broad=confirm_broad, **values)
                existing.refresh_from_db()
                if snapshot(existing) == before:
                    same += 1
                else:
                    changed += 1
            except ValidationError as error:
                raise ValidationError(
                    f"item {position}: {'; '.join(error.messages)}",
                    code=getattr(error, "code", None),
                ) from None
    return created, changed, same


def _instant(value: Any, position: int) -> datetime | None:
    if value in (None, ""):
        return None
    try:
        return parse_instant(str(value))
    except ValueError as error:
        raise ValidationError(f"item {position}: expires_at {error}") from None
