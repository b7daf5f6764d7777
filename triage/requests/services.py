"""Exclusion requests: an analyst proposes, an allowlist admin approves or declines,
the requester may withdraw while it waits.

Approving goes through triage.allowlist.services like every other exclusion: the same
checks (a condition, a reason, not matching everything, a confirmation above
EXCLUSION_CONFIRM_SHARE_PERCENT), the same audit row — which names the
requester beside the approver — and the same closing of the source alert (and,
if asked, of every open alert it matches) as "closed by exclusion". A request
is decided once: the row is locked while it is decided, so a double click or two
admins at once make one exclusion, and the second is told what happened.
"""

from datetime import datetime
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from config.roles import TRIAGE_ROLES, user_has_role
from triage.allowlist import services as exclusions
from triage.models import Alert, Exclusion
from triage.requests.models import ExclusionRequest

NOT_PENDING = "not_pending"


class RequestNotPending(ValidationError):
    """The request was decided (or withdrawn) already; code NOT_PENDING."""

    def __init__(self, exclusion_request: ExclusionRequest) -> None:
        self.exclusion_request = exclusion_request
        super().__init__(_outcome_text(exclusion_request), code=NOT_PENDING)


def _name(user: AbstractBaseUser | None) -> str:
    return user.get_username() if user is not None else "someone"


def _outcome_text(exclusion_request: ExclusionRequest) -> str:
    by = _name(exclusion_request.decided_by)
    state = exclusion_request.state
    if state == ExclusionRequest.State.APPROVED:
        return (
            f"Request {exclusion_request.pk} was approved already by {by}: it is exclusion "
            f"{exclusion_request.exclusion_id}. Nothing was changed."
        )
    if state == ExclusionRequest.State.DECLINED:
        return f"Request {exclusion_request.pk} was declined already by {by}. Nothing was changed."
    return f"Request {exclusion_request.pk} was withdrawn by {by}. Nothing was changed."


def user_can_propose(user: Any) -> bool:
    """Analysts propose; allowlist admins (and superusers) add the exclusion themselves."""
    return user_has_role(user, *TRIAGE_ROLES) and not exclusions.user_can_change_exclusions(user)


def exclusion_request_check(*, exclusion_request: ExclusionRequest) -> None:
    """Refuse what could never be approved: no condition, a field too long, conditions
    that match every network or every candidate. The reason is checked on sending."""
    candidate = exclusion_request.as_exclusion()
    exclusions.exclusion_conditions_check(exclusion=candidate)
    candidate.full_clean(exclude=["created_by", "reason"])
    refusal = exclusions.exclusion_refusal(exclusion=candidate)
    if refusal:
        raise ValidationError(refusal)


def exclusion_request_create(
    *,
    by: AbstractBaseUser,
    alert: Alert,
    reason: str,
    as_number: int | None = None,
    as_organization: str = "",
    account_id: str = "",
    user_name: str = "",
    expires_at: datetime | None = None,
) -> ExclusionRequest:
    """Propose an exclusion from an alert; one request waiting per analyst and alert."""
    if not user_has_role(by, *TRIAGE_ROLES):
        raise PermissionDenied("Only analysts propose exclusions.")
    if exclusions.user_can_change_exclusions(by):
        raise ValidationError("You may change the allowlist: add the exclusion yourself.")
    exclusion_request = ExclusionRequest(
        alert=alert,
        as_number=as_number,
        as_organization=as_organization.strip(),
        account_id=account_id.strip(),
        user_name=user_name.strip(),
        expires_at=expires_at,
        reason=reason.strip(),
        requested_by=by,
    )
    if not exclusion_request.reason:
        raise ValidationError("A request needs a reason: why these events are expected.")
    exclusion_request_check(exclusion_request=exclusion_request)
    try:
        with transaction.atomic():
            exclusion_request.save()
    except IntegrityError:
        # exclusion_request_one_pending: a second submit while the first waits.
        raise ValidationError(
            f"You have a request waiting for alert {alert.pk} already: withdraw it to propose "
            "other conditions.",
            code="pending_already",
        ) from None
    return exclusion_request


def _locked_pending(exclusion_request: ExclusionRequest) -> ExclusionRequest:
    """The request, locked until the transaction ends, if it still waits for a decision."""
    locked = (
        ExclusionRequest.objects.select_for_update()
        .select_related("alert", "requested_by")
        .get(pk=exclusion_request.pk)
    )
    if not locked.is_pending:
        raise RequestNotPending(locked)
    return locked


def _require_decider(by: AbstractBaseUser, exclusion_request: ExclusionRequest) -> None:
    if not exclusions.user_can_change_exclusions(by):
        raise PermissionDenied("Only allowlist admins decide exclusion requests.")
    if exclusion_request.requested_by_id == by.pk:
        raise ValidationError(
            "You made this request: another allowlist admin decides it (or withdraw it).",
            code="own_request",
        )


def exclusion_request_approve(
    *,
    exclusion_request: ExclusionRequest,
    by: AbstractBaseUser,
    confirm_broad: bool = False,
    close_matching: bool = False,
) -> tuple[ExclusionRequest, Exclusion, list[Alert]]:
    """Turn the request into an exclusion, attributed to both, closing its alert as a
    false positive (and every open alert it matches, if asked); all or nothing.

    Returns the request, the exclusion and the alerts it closed.
    """
    with transaction.atomic():
        locked = _locked_pending(exclusion_request)
        _require_decider(by, locked)
        now = timezone.now()
        if locked.expires_at is not None and locked.expires_at <= now:
            raise ValidationError(
                "The expiry this request asked for has passed: decline it and ask for a new one."
            )
        exclusion, closed = exclusions.exclusion_create_from_alert(
            by=by,
            alert=locked.alert,
            close_alert=True,
            close_matching=close_matching,
            confirm_broad=confirm_broad,
            reason=locked.reason,
            as_number=locked.as_number,
            as_organization=locked.as_organization,
            account_id=locked.account_id,
            user_name=locked.user_name,
            expires_at=locked.expires_at,
            requested={"by": locked.requested_by.get_username(), "request": locked.pk},
        )
        locked.state = ExclusionRequest.State.APPROVED
        locked.decided_by, locked.decided_at, locked.exclusion = by, now, exclusion
        locked.save(update_fields=["state", "decided_by", "decided_at", "exclusion"])
    return locked, exclusion, closed


def exclusion_request_decline(
    *, exclusion_request: ExclusionRequest, by: AbstractBaseUser, reason: str
) -> ExclusionRequest:
    """Decline, saying why; the requester reads the reason on the alert."""
    if not reason.strip():
        raise ValidationError("Declining needs a reason the requester will read.")
    with transaction.atomic():
        locked = _locked_pending(exclusion_request)
        _require_decider(by, locked)
        locked.state = ExclusionRequest.State.DECLINED
        locked.decided_by, locked.decided_at = by, timezone.now()
        locked.decline_reason = reason.strip()
        locked.save(update_fields=["state", "decided_by", "decided_at", "decline_reason"])
    return locked


def exclusion_request_withdraw(
    *, exclusion_request: ExclusionRequest, by: AbstractBaseUser
) -> ExclusionRequest:
    """The requester takes a waiting request back (to propose other conditions, say)."""
    if exclusion_request.requested_by_id != by.pk:
        raise PermissionDenied("Only the requester withdraws a request.")
    with transaction.atomic():
        locked = _locked_pending(exclusion_request)
        locked.state = ExclusionRequest.State.WITHDRAWN
        locked.decided_by, locked.decided_at = by, timezone.now()
        locked.save(update_fields=["state", "decided_by", "decided_at"])
    return locked
