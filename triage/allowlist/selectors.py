"""Reads behind the allowlist pages: every exclusion with its state and the events it
suppressed, and an exclusion's change history as the pages word it."""

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db.models import Q, Sum
from django.db.models.functions import Coalesce
from django.utils import timezone

from triage.audit import ChangeEntry, change_history, readable
from triage.models import (
    Exclusion,
    ExclusionChange,
    RunSuppression,
)
from triage.users.zones import zoned_text


@dataclass
class ExclusionRow:
    exclusion: Exclusion
    state: str  # active, expired, disabled
    suppressed_7d: int
    suppressed_30d: int


def exclusion_state(exclusion: Exclusion, *, now: datetime) -> str:
    if not exclusion.enabled:
        return "disabled"
    if exclusion.expires_at is not None and exclusion.expires_at <= now:
        return "expired"
    return "active"


def exclusion_rows(*, now: datetime | None = None) -> list[ExclusionRow]:
    """Every exclusion, active first, with the events it suppressed in the last 7 and 30 days.

    The suppression counts come from the detector's runs (RunSuppression), by
    the runs' start: one aggregate query for the whole list.
    """
    now = now or timezone.now()
    week, month = now - timedelta(days=7), now - timedelta(days=30)
    totals = {
        row["exclusion_id"]: row
        for row in RunSuppression.objects.filter(run__started_at__gte=month)
        .values("exclusion_id")
        .annotate(
            month=Sum("events"),
            week=Coalesce(Sum("events", filter=Q(run__started_at__gte=week)), 0),
        )
    }
    order = {"active": 0, "expired": 1, "disabled": 2}
    rows = [
        ExclusionRow(
            exclusion=exclusion,
            state=exclusion_state(exclusion, now=now),
            suppressed_7d=totals.get(exclusion.pk, {}).get("week", 0),
            suppressed_30d=totals.get(exclusion.pk, {}).get("month", 0),
        )
        for exclusion in Exclusion.objects.order_by("-created_at", "-id")
    ]
    rows.sort(key=lambda row: order[row.state])
    return rows


AUDITED_FIELDS = (
    "as_number", "as_organization", "account_id", "user_name", "reason", "expires_at", "enabled",
)  # fmt: skip


AUDITED_LABELS = {
    "as_number": "AS number",
    "as_organization": "AS organisation",
    "account_id": "Account",
    "user_name": "User name",
    "reason": "Reason",
    "expires_at": "Expires",
    "enabled": "Enabled",
}


def _exclusion_value(name: str, value: Any) -> Any:
    """Recorded values as the pages show them: times in the user's zone, AS numbers as ASNs."""
    if name == "expires_at" and value:
        return zoned_text(datetime.fromisoformat(value))
    if name == "as_number" and value is not None:
        return f"AS{value}"
    return readable(name, value)


def _exclusion_note(change: ExclusionChange) -> str:
    after = change.after or {}
    requested = after.get("requested")
    note = (
        f"Requested by {requested['by']} (request #{requested['request']}), approved by "
        f"{change.changed_by}. "
        if requested
        else ""
    )
    confirmed = after.get("confirmed_broad")
    if not confirmed:
        return note.strip()
    return note + (
        f"Saved as a broad exclusion, confirmed: it hid {confirmed['share_percent']:g} % of the "
        f"rule's candidate events of the last {confirmed['days']} days ({confirmed['events']} "
        f"of {confirmed['candidates']}); more than {confirmed['threshold_percent']} % needs "
        "a confirmation."
    )


def exclusion_history(*, exclusion: Exclusion) -> list[ChangeEntry]:
    """Every change of the exclusion, newest first, with what differs before → after."""
    return change_history(
        exclusion.changes.all(),
        names=AUDITED_FIELDS,
        labels=AUDITED_LABELS,
        shown=_exclusion_value,
        note=_exclusion_note,
    )
