"""Where alerts are sent (destinations), their audit rows, and the outbox of deliveries.

A Delivery row says "this message must reach this destination" (or, for an
assignment e-mail, "this user"); it is written in
the transaction that creates what it announces, and emptied later by
`services.notify_due`. Every try leaves a DeliveryAttempt.
"""

from django.conf import settings
from django.db import models

from triage.models import Alert, ChangeRecord, DetectionRun
from triage.notify.sealed import SealedTextField


class Destination(models.Model):
    class Kind(models.TextChoices):
        EMAIL = "email"
        WEBHOOK = "webhook"
        APPRISE = "apprise"

    class Mode(models.TextChoices):
        EACH = "each", "each new alert"
        SUMMARY = "summary", "summary per detector run"

    name = models.CharField(max_length=100, unique=True)
    kind = models.CharField(max_length=8, choices=Kind.choices)
    # E-mail: addresses, comma-separated. Webhook: the URL. Apprise: its URL.
    # URLs often hold the receiver's or service's token, so they are masked like
    # a secret; both are encrypted at rest (triage/notify/sealed.py).
    target = SealedTextField()
    secret = SealedTextField(blank=True, help_text="webhook signing secret, whsec_ and base64")
    mode = models.CharField(max_length=8, choices=Mode.choices, default=Mode.EACH)
    throttle_minutes = models.PositiveIntegerField(default=0)
    # Filters: an empty list lets every alert through; values within one list are
    # alternatives, lists are combined with "and".
    accounts = models.JSONField(default=list, blank=True)
    user_names = models.JSONField(default=list, blank=True)
    as_organizations = models.JSONField(
        default=list, blank=True, help_text="patterns: case-insensitive, * matches anything"
    )
    as_numbers = models.JSONField(default=list, blank=True)
    report_joined = models.BooleanField(
        default=False, help_text="report an alert again when an episode event joins it"
    )
    enabled = models.BooleanField(default=True)
    # Removed from the settings page: kept (disabled) so its deliveries and audit stay.
    removed_at = models.DateTimeField(null=True, blank=True)
    created_by = models.CharField(max_length=150)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class DestinationChange(ChangeRecord):
    """A change of a destination. Secrets appear only as "set" or "changed"."""

    destination = models.ForeignKey(Destination, on_delete=models.PROTECT, related_name="changes")

    class Meta(ChangeRecord.Meta):
        pass


class Delivery(models.Model):
    class EventType(models.TextChoices):
        ALERT_CREATED = "alert.created"
        # An episode event joined an alert announced before (destinations that report_joined).
        ALERT_UPDATED = "alert.updated"
        ALERTS_SUMMARY = "alerts.summary"
        TEST = "test"
        # An e-mail to the user someone else assigned an alert (no destination).
        ALERT_ASSIGNED = "alert.assigned"

    class Status(models.TextChoices):
        PENDING = "pending"
        SENDING = "sending"
        DELIVERED = "delivered"
        FAILED = "failed"
        # Held back by the destination's throttle, then sent within one summary.
        SUMMARISED = "summarised"

    # A configured destination, or (assignment e-mails) one user, mailed at their address.
    destination = models.ForeignKey(
        Destination, null=True, on_delete=models.CASCADE, related_name="deliveries"
    )
    recipient = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.CASCADE, related_name="+"
    )
    # Who assigned the alert, as the e-mail names them.
    assigned_by = models.CharField(max_length=150, blank=True)
    event_type = models.CharField(max_length=16, choices=EventType.choices)
    alert = models.ForeignKey(Alert, null=True, on_delete=models.CASCADE, related_name="+")
    # A summary lists the alerts of one detector run.
    run = models.ForeignKey(DetectionRun, null=True, on_delete=models.SET_NULL, related_name="+")
    summary_alerts = models.ManyToManyField(Alert, related_name="+")
    # Alerts listed in a summary because episode events joined them (report_joined).
    summary_updated = models.ManyToManyField(Alert, related_name="+")
    summarised_in = models.ForeignKey(
        "self", null=True, on_delete=models.SET_NULL, related_name="summarised"
    )
    # Standard Webhooks' webhook-id: the same on every redelivery of this row, and
    # one per (alert, destination, event type) — per detector run for alert.updated,
    # which a run may say again of the same alert — so a receiver can drop a repeat.
    webhook_id = models.CharField(max_length=64, unique=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.IntegerField(default=0)
    # Pending: when the next try is due. Sending: when the claim lapses (claimed_until),
    # so that a killed worker's row is due again then.
    next_attempt_at = models.DateTimeField()
    claimed_by = models.CharField(max_length=200, blank=True)
    claimed_until = models.DateTimeField(null=True)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField()
    delivered_at = models.DateTimeField(null=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=models.Q(destination__isnull=False, recipient__isnull=True)
                | models.Q(destination__isnull=True, recipient__isnull=False),
                name="delivery_to_a_destination_or_a_user",
            ),
            models.UniqueConstraint(
                fields=["destination", "alert", "event_type"],
                condition=models.Q(alert__isnull=False, event_type="alert.created"),
                name="delivery_once_per_alert",
            ),
        ]
        indexes = [
            # The claim in services.notify_due reads only rows still to send.
            models.Index(
                fields=["next_attempt_at"],
                condition=models.Q(status__in=["pending", "sending"]),
                name="delivery_due",
            )
        ]


class DeliveryAttempt(models.Model):
    delivery = models.ForeignKey(Delivery, on_delete=models.CASCADE, related_name="tries")
    at = models.DateTimeField()
    duration_ms = models.IntegerField()
    status_code = models.IntegerField(null=True, help_text="the HTTP or SMTP reply code")
    error = models.TextField(blank=True)
    outcome = models.CharField(max_length=10)  # delivered, retry, failed

    class Meta:
        ordering = ["at", "id"]
