"""Telling a user by e-mail that someone else assigned them an alert.

The e-mail is a row of the notifications outbox, written in the assignment's
transaction: an assignment rolled back tells nobody, and one that commits is
mailed by the worker, tried again while the mail server is away, and shown on
the alert's page like the alert's other notifications. A user turns these
e-mails off on their notification settings page (NotificationPreference).
"""

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from triage.models import AlertAssignment, NotificationPreference
from triage.notify.models import Delivery
from triage.notify.services import stable_webhook_id
from triage.notify.tasks import notify_soon


def wants_assignment_emails(user: AbstractBaseUser) -> bool:
    preference = NotificationPreference.objects.filter(user_id=user.pk).first()
    return preference is None or preference.assignment_emails


def preference_set(*, user: AbstractBaseUser, assignment_emails: bool) -> NotificationPreference:
    preference, _ = NotificationPreference.objects.update_or_create(
        user_id=user.pk, defaults={"assignment_emails": assignment_emails}
    )
    return preference


def notify_assignee(*, assignment: AlertAssignment) -> Delivery | None:
    """Within the assignment's transaction: queue the e-mail to the assignee, if someone
    else assigned them, they have an address and have not turned it off."""
    assignee, by = assignment.to_assignee, assignment.changed_by
    if assignee is None or by is None or assignee.pk == by.pk:
        return None
    if not (assignee.email or "").strip() or not wants_assignment_emails(assignee):
        return None
    now = timezone.now()
    delivery = Delivery.objects.create(
        recipient=assignee,
        assigned_by=by.get_username(),
        event_type=Delivery.EventType.ALERT_ASSIGNED,
        alert_id=assignment.alert_id,
        webhook_id=stable_webhook_id("assignment", assignment.pk),
        next_attempt_at=now,
        created_at=now,
    )
    transaction.on_commit(notify_soon)
    return delivery
