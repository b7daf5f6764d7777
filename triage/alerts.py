"""Alert workflow services: open → acknowledged → closed, and back to open.

Every status change writes an immutable AlertStatusChange row before the alert
changes, in the same transaction.
"""

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import transaction

from triage.models import Alert, AlertNote, AlertStatusChange

TRANSITIONS = {
    Alert.Status.OPEN: {Alert.Status.ACKNOWLEDGED, Alert.Status.CLOSED},
    Alert.Status.ACKNOWLEDGED: {Alert.Status.OPEN, Alert.Status.CLOSED},
    Alert.Status.CLOSED: {Alert.Status.OPEN},
}


def _change_status(
    *, alert: Alert, by: AbstractBaseUser | None, to: str, reason: str = "", comment: str = ""
) -> Alert:
    with transaction.atomic():
        alert = Alert.objects.select_for_update().get(pk=alert.pk)
        if to not in TRANSITIONS[alert.status]:
            raise ValidationError(f"An alert that is {alert.status} cannot become {to}.")
        AlertStatusChange.objects.create(
            alert=alert,
            changed_by=by,
            from_status=alert.status,
            to_status=to,
            reason=reason,
            comment=comment,
        )
        alert.status = to
        alert.close_reason = reason if to == Alert.Status.CLOSED else ""
        alert.save(update_fields=["status", "close_reason"])
    return alert


def alert_acknowledge(*, alert: Alert, by: AbstractBaseUser | None) -> Alert:
    return _change_status(alert=alert, by=by, to=Alert.Status.ACKNOWLEDGED)


def alert_close(
    *, alert: Alert, by: AbstractBaseUser | None, reason: str, comment: str = ""
) -> Alert:
    if reason not in Alert.CloseReason.values:
        raise ValidationError(f"{reason!r} is not a close reason.")
    return _change_status(
        alert=alert, by=by, to=Alert.Status.CLOSED, reason=reason, comment=comment
    )


def alert_reopen(*, alert: Alert, by: AbstractBaseUser | None, comment: str = "") -> Alert:
    return _change_status(alert=alert, by=by, to=Alert.Status.OPEN, comment=comment)


def alert_assign(*, alert: Alert, assignee: AbstractBaseUser | None) -> Alert:
    Alert.objects.filter(pk=alert.pk).update(assignee=assignee)
    alert.assignee = assignee
    return alert


def alert_add_note(*, alert: Alert, by: AbstractBaseUser | None, text: str) -> AlertNote:
    if not text.strip():
        raise ValidationError("A note needs text.")
    return AlertNote.objects.create(alert=alert, author=by, text=text.strip())
