"""Alerts, exclusions (the ASN allowlist) and the detector's state and runs.

Status changes of alerts and every change of an exclusion are immutable rows,
written before the state they describe changes.
"""

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models

from ingest.models import Event

# An exclusion (or a request for one) names at least one of the four conditions.
HAS_A_CONDITION = (
    models.Q(as_number__isnull=False)
    | ~models.Q(as_organization="")
    | ~models.Q(account_id="")
    | ~models.Q(user_name="")
)


class Exclusion(models.Model):
    """A conjunction of optional conditions; at least one is set (DESIGN.md section 3)."""

    as_number = models.BigIntegerField("source.as.number", null=True, blank=True)
    as_organization = models.CharField(
        "source.as.organization.name pattern",
        max_length=256,
        blank=True,
        help_text="case-insensitive; * matches any characters",
    )
    account_id = models.CharField("cloud.account.id", max_length=32, blank=True)
    user_name = models.CharField("user.name", max_length=256, blank=True)
    reason = models.TextField()
    created_by = models.CharField(max_length=150)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    enabled = models.BooleanField(default=True)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=HAS_A_CONDITION, name="exclusion_has_a_condition")
        ]

    def __str__(self) -> str:
        return f"Exclusion {self.pk}"


class ChangeRecord(models.Model):
    """Who changed something, when, and its state before and after: a record,
    never rewritten or deleted (triage.audit reads it back as differences)."""

    action = models.CharField(max_length=16)  # created, changed, disabled, enabled, …
    changed_by = models.CharField(max_length=150)
    changed_at = models.DateTimeField(auto_now_add=True)
    before = models.JSONField(null=True)
    after = models.JSONField()

    class Meta:
        abstract = True
        ordering = ["-changed_at", "-id"]

    def save(self, *args, **kwargs) -> None:
        if self.pk is not None:
            raise ValidationError("A change is a record: it is never rewritten.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise ValidationError("A change is a record: it is never deleted.")


class ExclusionChange(ChangeRecord):
    """A change of an exclusion (action: created, changed, disabled, enabled, imported)."""

    exclusion = models.ForeignKey(Exclusion, on_delete=models.PROTECT, related_name="changes")

    class Meta(ChangeRecord.Meta):
        pass


class Alert(models.Model):
    class Status(models.TextChoices):
        OPEN = "open"
        ACKNOWLEDGED = "acknowledged"
        CLOSED = "closed"

    class CloseReason(models.TextChoices):
        TRUE_POSITIVE = "true_positive", "True positive"
        FALSE_POSITIVE = "false_positive", "False positive"
        BENIGN_POSITIVE = "benign_positive", "Benign positive"
        DUPLICATE = "duplicate", "Duplicate"
        OTHER = "other", "Other"

    # No database constraints on events: their table is partitioned by day on
    # PostgreSQL, where a key must hold the day too. Retention keeps the events
    # alerts refer to (ingest.partitions, ingest.retention).
    event = models.OneToOneField(
        Event, on_delete=models.PROTECT, related_name="alert", db_constraint=False
    )
    # kibana.alert.new_terms, in the rule's order.
    as_organization = models.TextField()
    account_id = models.TextField()
    user_name = models.TextField()
    as_number = models.BigIntegerField(null=True)
    original_time = models.DateTimeField("kibana.alert.original_time")
    episode_start = models.DateTimeField(
        help_text="the earliest event time in the episode (a late event may precede the trigger)"
    )
    episode_end = models.DateTimeField(help_text="the latest event time in the episode")
    event_count = models.IntegerField(default=1)
    severity = models.CharField(max_length=16)
    risk_score = models.IntegerField()
    reason = models.TextField("kibana.alert.reason")
    created_at = models.DateTimeField(auto_now_add=True)
    run = models.ForeignKey("DetectionRun", null=True, on_delete=models.SET_NULL, related_name="+")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.OPEN)
    close_reason = models.CharField(max_length=16, choices=CloseReason.choices, blank=True)
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    tags = models.JSONField(default=list)

    class Meta:
        indexes = [
            models.Index(
                fields=["as_organization", "account_id", "user_name", "original_time"],
                name="alert_terms",
            ),
            models.Index(fields=["status", "-created_at"], name="alert_status_newest"),
            # The alert list's sort orders (triage.selectors.alert_list): each page is
            # the next 50 entries of one of these, whatever the filters.
            models.Index(fields=["-created_at", "-id"], name="alert_newest"),
            models.Index(fields=["-original_time", "-id"], name="alert_event_time"),
            models.Index(fields=["-event_count", "-id"], name="alert_most_events"),
            # The list's principal filters, and the principal page.
            models.Index(fields=["account_id", "user_name"], name="alert_principal"),
            models.Index(fields=["user_name"], name="alert_user"),
        ]

    def __str__(self) -> str:
        return f"Alert {self.pk}"

    @property
    def new_terms(self) -> list[str]:
        return [self.as_organization, self.account_id, self.user_name]


class AlertEvent(models.Model):
    """An event of an alert's episode: the trigger, and later events with the same terms."""

    alert = models.ForeignKey(Alert, on_delete=models.CASCADE, related_name="episode")
    event = models.OneToOneField(
        Event, on_delete=models.CASCADE, related_name="+", db_constraint=False
    )


class AlertStatusChange(models.Model):
    """One workflow transition. Never updated."""

    alert = models.ForeignKey(Alert, on_delete=models.CASCADE, related_name="status_changes")
    changed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    changed_at = models.DateTimeField(auto_now_add=True)
    from_status = models.CharField(max_length=16)
    to_status = models.CharField(max_length=16)
    reason = models.CharField(max_length=16, blank=True)
    comment = models.TextField(blank=True)
    # Set when the alert was closed as a false positive while adding this exclusion.
    closed_by_exclusion = models.ForeignKey(
        Exclusion, null=True, blank=True, on_delete=models.PROTECT, related_name="closed_alerts"
    )

    class Meta:
        ordering = ["changed_at", "id"]


class AlertAssignment(models.Model):
    """One change of an alert's assignee. Never updated."""

    alert = models.ForeignKey(Alert, on_delete=models.CASCADE, related_name="assignments")
    changed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    changed_at = models.DateTimeField(auto_now_add=True)
    from_assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    to_assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["changed_at", "id"]


class AlertTagChange(models.Model):
    """One change of an alert's tags (kibana.alert.workflow_tags). Never updated."""

    alert = models.ForeignKey(Alert, on_delete=models.CASCADE, related_name="tag_changes")
    changed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    changed_at = models.DateTimeField(auto_now_add=True)
    added = models.JSONField(default=list)
    removed = models.JSONField(default=list)

    class Meta:
        ordering = ["changed_at", "id"]


class AlertNote(models.Model):
    alert = models.ForeignKey(Alert, on_delete=models.CASCADE, related_name="notes")
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    text = models.TextField()

    class Meta:
        ordering = ["created_at", "id"]


class ChecklistStep(models.Model):
    """An investigation-guide step ticked (or annotated) on an alert."""

    alert = models.ForeignKey(Alert, on_delete=models.CASCADE, related_name="checklist")
    step = models.CharField(max_length=32)  # triage.rule.TriageStep.key
    done = models.BooleanField(default=False)
    note = models.TextField(blank=True)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["alert", "step"], name="checklist_step_once")
        ]


class DetectorState(models.Model):
    """The single row behind the exactly-once cursor; its row lock keeps runs apart.

    The cursor is a storing-transaction mark (ingest.watermark): every event with
    a stored_xid below it has been evaluated, except, after a run stopped at the
    cap, those with one at or above `pending_from` that come at or after
    (`resume_time`, `resume_event`) in the (eventTime, id) order runs evaluate in.
    """

    cursor = models.BigIntegerField(
        default=0, help_text="every event stored below this mark (Event.stored_xid) is evaluated"
    )
    pending_from = models.BigIntegerField(
        null=True, help_text="after a deferred run: the cursor that run started from"
    )
    resume_time = models.DateTimeField(
        null=True, help_text="after a deferred run: the eventTime of the first event it left"
    )
    resume_event = models.BigIntegerField(
        null=True, help_text="after a deferred run: the id of the first event it left"
    )
    updated_at = models.DateTimeField(auto_now=True)


class SkippedCandidate(models.Model):
    """A candidate evaluated while suppressed by an exclusion or in the learning period.

    It joins no episode, not even one whose alert opens after it was evaluated:
    the verdict of the run that evaluated it stands.
    """

    KEEPS_EVENT = False  # retention deletes the event, and this row with it (ingest.retention)

    event = models.OneToOneField(
        Event, primary_key=True, on_delete=models.CASCADE, related_name="+", db_constraint=False
    )


class DetectionRun(models.Model):
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True)
    cursor_from = models.BigIntegerField(default=0)
    cursor_to = models.BigIntegerField(default=0)
    events_evaluated = models.IntegerField(default=0)
    candidates = models.IntegerField(default=0)
    alerts_created = models.IntegerField(default=0)
    events_joined = models.IntegerField(default=0)
    suppressed = models.IntegerField(default=0)
    learning = models.IntegerField(default=0, help_text="candidates in the learning period")
    learning_until = models.DateTimeField(null=True)
    deferred = models.BooleanField(
        default=False, help_text="stopped at the per-run alert cap; the next run continues"
    )
    deferred_at = models.DateTimeField(
        null=True, help_text="the eventTime of the first event a deferred run left for the next"
    )
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["-started_at", "-id"]


class RunSuppression(models.Model):
    """How many events an exclusion suppressed in one run."""

    run = models.ForeignKey(DetectionRun, on_delete=models.CASCADE, related_name="suppressions")
    exclusion = models.ForeignKey(Exclusion, on_delete=models.PROTECT, related_name="+")
    events = models.IntegerField()


class NotificationPreference(models.Model):
    """What a user wants to be told by e-mail; a user without a row gets the defaults."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        primary_key=True,
        on_delete=models.CASCADE,
        related_name="notification_preference",
    )
    assignment_emails = models.BooleanField(
        default=True, help_text="an e-mail when someone else assigns me an alert"
    )


class SavedView(models.Model):
    """A user's named filters of the alert list; at most one is their default list."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="saved_views"
    )
    name = models.CharField(max_length=100)
    # The list's query string (filters and sort), without a page position.
    query = models.TextField()
    is_default = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name", "id"]
        constraints = [
            models.UniqueConstraint(fields=["user", "name"], name="saved_view_name_per_user"),
            models.UniqueConstraint(
                fields=["user"],
                condition=models.Q(is_default=True),
                name="saved_view_one_default_per_user",
            ),
        ]

    def __str__(self) -> str:
        return self.name
