"""Alert workflow services: open → acknowledged → closed, and back to open; the
assignee, tags, notes and the investigation-guide checklist.

Every status change writes an immutable AlertStatusChange row, every change of
assignee an AlertAssignment row and every change of tags an AlertTagChange row,
before the alert changes, in the same transaction.
"""

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import transaction

from triage import rule
from triage.assignment import notify_assignee
from triage.models import (
    Alert,
    AlertAssignment,
    AlertNote,
    AlertStatusChange,
    AlertTagChange,
    ChecklistStep,
    Exclusion,
)


class TransitionRefused(ValidationError):
    """The alert's status does not allow the change (acknowledging a closed alert)."""

    def __init__(self, message: str, *args, status: str = "", **kwargs):
        super().__init__(message, *args, **kwargs)
        # The status that refused, as read under the row lock.
        self.status = status


TRANSITIONS = {
    Alert.Status.OPEN: {Alert.Status.ACKNOWLEDGED, Alert.Status.CLOSED},
    Alert.Status.ACKNOWLEDGED: {Alert.Status.OPEN, Alert.Status.CLOSED},
    Alert.Status.CLOSED: {Alert.Status.OPEN},
}


def _change_status(
    *,
    alert: Alert,
    by: AbstractBaseUser | None,
    to: str,
    reason: str = "",
    comment: str = "",
    exclusion: Exclusion | None = None,
) -> Alert:
    with transaction.atomic():
        alert = Alert.objects.select_for_update().get(pk=alert.pk)
        if to not in TRANSITIONS[alert.status]:
            raise TransitionRefused(
                f"An alert that is {alert.status} cannot become {to}.", status=alert.status
            )
        AlertStatusChange.objects.create(
            alert=alert,
            changed_by=by,
            from_status=alert.status,
            to_status=to,
            reason=reason,
            comment=comment,
            closed_by_exclusion=exclusion,
        )
        alert.status = to
        alert.close_reason = reason if to == Alert.Status.CLOSED else ""
        alert.save(update_fields=["status", "close_reason"])
    return alert


def alert_acknowledge(*, alert: Alert, by: AbstractBaseUser | None) -> Alert:
    return _change_status(alert=alert, by=by, to=Alert.Status.ACKNOWLEDGED)


def alert_close(
    *,
    alert: Alert,
    by: AbstractBaseUser | None,
    reason: str,
    comment: str = "",
    exclusion: Exclusion | None = None,
) -> Alert:
    """Close with a reason; `exclusion` stamps the exclusion that explained a false positive."""
    if reason not in Alert.CloseReason.values:
        raise ValidationError(f"{reason!r} is not a close reason.")
    return _change_status(
        alert=alert,
        by=by,
        to=Alert.Status.CLOSED,
        reason=reason,
        comment=comment,
        exclusion=exclusion,
    )


def alert_reopen(*, alert: Alert, by: AbstractBaseUser | None, comment: str = "") -> Alert:
    return _change_status(alert=alert, by=by, to=Alert.Status.OPEN, comment=comment)


def alert_assign(
    *, alert: Alert, assignee: AbstractBaseUser | None, by: AbstractBaseUser | None = None
) -> Alert:
    """Assign (or, with None, unassign) the alert; a change is recorded, a no-op is not.

    Someone assigned by another user is e-mailed through the outbox (triage.assignment).
    """
    with transaction.atomic():
        current = Alert.objects.select_for_update().only("assignee_id").get(pk=alert.pk)
        to_id = assignee.pk if assignee is not None else None
        if current.assignee_id != to_id:
            assignment = AlertAssignment.objects.create(
                alert_id=alert.pk,
                changed_by=by,
                from_assignee_id=current.assignee_id,
                to_assignee=assignee,
            )
            Alert.objects.filter(pk=alert.pk).update(assignee=assignee)
            notify_assignee(assignment=assignment)
    alert.assignee = assignee
    return alert


MAX_TAGS = 20
MAX_TAG_CHARS = 64


def _tags(values: list[str], field: str) -> list[str]:
    """The tags as given, stripped and without repeats; refuses empty, NUL and over-long ones."""
    tags = list(dict.fromkeys(value.strip() for value in values))
    if "" in tags:
        raise ValidationError({field: "A tag cannot be empty."})
    if any("\x00" in tag for tag in tags):
        raise ValidationError({field: "A tag cannot hold a NUL character."})
    if any(len(tag) > MAX_TAG_CHARS for tag in tags):
        raise ValidationError({field: f"A tag is at most {MAX_TAG_CHARS} characters."})
    return tags


def alert_tags_change(
    *, alert: Alert, by: AbstractBaseUser | None, add: list[str], remove: list[str]
) -> Alert:
    """Add and remove tags (kibana.alert.workflow_tags); a change is recorded, a no-op is not."""
    add, remove = _tags(add, "add"), _tags(remove, "remove")
    if set(add) & set(remove):
        raise ValidationError({"remove": "A tag cannot be both added and removed."})
    with transaction.atomic():
        current = Alert.objects.select_for_update().only("tags").get(pk=alert.pk)
        added = [tag for tag in add if tag not in current.tags]
        removed = [tag for tag in remove if tag in current.tags]
        tags = [tag for tag in current.tags if tag not in removed] + added
        if len(tags) > MAX_TAGS:
            raise ValidationError({"add": f"An alert has at most {MAX_TAGS} tags."})
        if added or removed:
            AlertTagChange.objects.create(
                alert_id=alert.pk, changed_by=by, added=added, removed=removed
            )
            Alert.objects.filter(pk=alert.pk).update(tags=tags)
    alert.tags = tags
    return alert


def alert_add_note(*, alert: Alert, by: AbstractBaseUser | None, text: str) -> AlertNote:
    if not text.strip():
        raise ValidationError("A note needs text.")
    return AlertNote.objects.create(alert=alert, author=by, text=text.strip())


STEP_KEYS = frozenset(step.key for step in rule.TRIAGE_STEPS)


def alert_checklist_update(
    *, alert: Alert, step: str, done: bool, note: str, by: AbstractBaseUser | None
) -> ChecklistStep:
    """Tick, untick or annotate one investigation-guide step; records who and when."""
    if step not in STEP_KEYS:
        raise ValidationError(f"{step!r} is not a step of the investigation guide.")
    item, _ = ChecklistStep.objects.update_or_create(
        alert=alert,
        step=step,
        defaults={"done": done, "note": note.strip(), "updated_by": by},
    )
    return item


BULK_ACTIONS = ("acknowledge", "assign", "close", "reopen")


@dataclass(frozen=True)
class BulkOutcome:
    """What a bulk action did: how many alerts changed, and the ones it skipped.

    A skipped alert carries the status that refused the change (or, for an
    assignment, the assignee it already had), so the page can say why.
    """

    changed: int
    skipped: list[Alert]


def alerts_bulk_change(
    *,
    alerts: list[Alert],
    by: AbstractBaseUser | None,
    action: str,
    assignee: AbstractBaseUser | None = None,
    reason: str = "",
    comment: str = "",
) -> BulkOutcome:
    """Apply one workflow action to many alerts.

    An alert the action does not apply to (acknowledging a closed alert, assigning
    an alert to the person it is already assigned to) is skipped, not an error:
    the others still change.
    """
    if action not in BULK_ACTIONS:
        raise ValidationError(f"{action!r} is not a bulk action.")
    if action == "close" and reason not in Alert.CloseReason.values:
        raise ValidationError("Closing needs a reason.")
    changed, skipped = 0, []
    for alert in alerts:
        try:
            if action == "acknowledge":
                alert_acknowledge(alert=alert, by=by)
            elif action == "assign":
                if alert.assignee_id == (assignee.pk if assignee else None):
                    skipped.append(alert)
                    continue
                alert_assign(alert=alert, assignee=assignee, by=by)
            elif action == "reopen":
                alert_reopen(alert=alert, by=by, comment=comment)
            else:
                alert_close(alert=alert, by=by, reason=reason, comment=comment)
        except TransitionRefused as refused:
            alert.status = refused.status  # may be newer than the caller's
            skipped.append(alert)
        else:
            changed += 1
    return BulkOutcome(changed=changed, skipped=skipped)


def bulk_confirmation_token(ids: Iterable[int], choice: str) -> str:
    """What a bulk confirmation asked about: how many alerts, which (a digest), and what to
    do (the list's selection and a group's action alike).

    "12:3f2a…:close::false_positive": any change in the alerts, however small, changes
    the token, so a stale confirmation asks again instead of acting.
    """
    chosen = sorted(ids)
    digest = hashlib.sha256(",".join(map(str, chosen)).encode()).hexdigest()[:16]
    return f"{len(chosen)}:{digest}:{choice}"
