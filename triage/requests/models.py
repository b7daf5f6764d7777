"""An analyst's proposal of an exclusion, and what an allowlist admin decided.

A request keeps the conditions, expiry and reason the analyst proposed (never
changed afterwards) and the alert it came from. It is decided once: approved
(the exclusion it became is linked), declined (with the admin's reason) or
withdrawn by the requester. That single transition is the request's own
record: who decided, when, and why are written with the new state and never
rewritten, so no separate change table is kept.
"""

from django.conf import settings
from django.db import models

from triage.models import HAS_A_CONDITION, Alert, Exclusion


class ExclusionRequest(models.Model):
    class State(models.TextChoices):
        PENDING = "pending"
        APPROVED = "approved"
        DECLINED = "declined"
        WITHDRAWN = "withdrawn"

    alert = models.ForeignKey(Alert, on_delete=models.CASCADE, related_name="exclusion_requests")
    # The proposed exclusion: the same conditions as triage.models.Exclusion.
    as_number = models.BigIntegerField("source.as.number", null=True, blank=True)
    as_organization = models.CharField(
        "source.as.organization.name pattern", max_length=256, blank=True
    )
    account_id = models.CharField("cloud.account.id", max_length=32, blank=True)
    user_name = models.CharField("user.name", max_length=256, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    reason = models.TextField()
    # Users are deactivated, never deleted (triage.users): a request keeps naming them.
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    state = models.CharField(max_length=16, choices=State.choices, default=State.PENDING)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    decline_reason = models.TextField(blank=True)
    exclusion = models.OneToOneField(
        Exclusion, null=True, blank=True, on_delete=models.PROTECT, related_name="request"
    )

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=HAS_A_CONDITION, name="exclusion_request_has_a_condition"
            ),
            # Approved exactly when it became an exclusion; declined always says why.
            models.CheckConstraint(
                condition=models.Q(state="approved", exclusion__isnull=False)
                | (~models.Q(state="approved") & models.Q(exclusion__isnull=True)),
                name="exclusion_request_approved_has_exclusion",
            ),
            models.CheckConstraint(
                condition=~models.Q(state="declined") | ~models.Q(decline_reason=""),
                name="exclusion_request_declined_has_reason",
            ),
            # An analyst has at most one request waiting per alert (a double submit
            # makes one); another analyst may still propose other conditions.
            models.UniqueConstraint(
                fields=["alert", "requested_by"],
                condition=models.Q(state="pending"),
                name="exclusion_request_one_pending",
            ),
        ]
        indexes = [
            # The admins' queue and its count (selectors.pending_requests): pending only.
            models.Index(
                fields=["created_at"],
                condition=models.Q(state="pending"),
                name="exclusion_request_pending",
            ),
            models.Index(fields=["-decided_at", "-id"], name="exclusion_request_decided"),
        ]

    def __str__(self) -> str:
        return f"Exclusion request {self.pk}"

    @property
    def is_pending(self) -> bool:
        return self.state == self.State.PENDING

    def as_exclusion(self) -> Exclusion:
        """The exclusion it proposes, unsaved: for the impact preview and the checks."""
        return Exclusion(
            as_number=self.as_number,
            as_organization=self.as_organization,
            account_id=self.account_id,
            user_name=self.user_name,
            expires_at=self.expires_at,
            reason=self.reason,
        )
