"""Telling a user by e-mail that someone else assigned them an alert.

The message is decided in the assignment's transaction and sent once it has
committed: an assignment rolled back tells nobody. It goes straight through
the EMAIL_* settings rather than the notifications outbox, whose deliveries
each belong to a configured destination, not to one user's address. A user
turns it off on their notification settings page (NotificationPreference).
"""

import logging
from functools import partial

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.template.loader import render_to_string

from triage.models import Alert, NotificationPreference
from triage.notify import messages, senders

logger = logging.getLogger(__name__)


def wants_assignment_emails(user: AbstractBaseUser) -> bool:
    preference = NotificationPreference.objects.filter(user_id=user.pk).first()
    return preference is None or preference.assignment_emails


def preference_set(*, user: AbstractBaseUser, assignment_emails: bool) -> NotificationPreference:
    preference, _ = NotificationPreference.objects.update_or_create(
        user_id=user.pk, defaults={"assignment_emails": assignment_emails}
    )
    return preference


def assignment_message(*, alert: Alert, by: AbstractBaseUser) -> senders.Message:
    """The alert's facts and who assigned it; each value escaped for its part."""
    assigner = by.get_username()
    facts = [("Assigned by", assigner), *messages.alert_facts(alert)]
    network = messages.one_line(alert.as_organization) or f"AS{alert.as_number}"
    # one_line keeps attacker text from adding header lines to the subject.
    subject = messages.one_line(
        f"asnwatch: {assigner} assigned you the alert for {alert.user_name} from {network}"
    )
    text = render_to_string(
        "triage/assignment_email.txt",
        {"facts": [(label, messages.one_line(value)) for label, value in facts]},
    )
    html = render_to_string(
        "triage/assignment_email.html", {"facts": facts, "url": messages.alert_url(alert)}
    )
    return senders.Message(
        subject=subject, text=text, html=html, chat_title=subject, chat_body=text
    )


def _send(address: str, message: senders.Message, *, alert_id: int, username: str) -> None:
    try:
        senders.send_email(to=[address], message=message)
    except senders.SendError as error:
        # The assignment stands; only the e-mail about it is lost, and the log says so.
        logger.warning(
            "assignment e-mail to %s about alert %s not sent: %s", username, alert_id, error
        )


def notify_assignee(
    *, alert_id: int, assignee: AbstractBaseUser | None, by: AbstractBaseUser | None
) -> None:
    """Within the assignment's transaction: e-mail the assignee after it commits, if
    someone else assigned them, they have an address and have not turned it off."""
    if assignee is None or by is None or assignee.pk == by.pk:
        return
    address = (assignee.email or "").strip()
    if not address or not wants_assignment_emails(assignee):
        return
    alert = Alert.objects.select_related("event").get(pk=alert_id)
    message = assignment_message(alert=alert, by=by)
    transaction.on_commit(
        partial(_send, address, message, alert_id=alert_id, username=assignee.get_username())
    )
