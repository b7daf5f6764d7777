"""Reading exclusion requests: the admins' queue, an alert's requests, a request's impact."""

from django.db.models import QuerySet

from triage.models import Alert
from triage.requests.models import ExclusionRequest

DECIDED_SHOWN = 100


def _with_people(rows: QuerySet[ExclusionRequest]) -> QuerySet[ExclusionRequest]:
    return rows.select_related("alert", "requested_by", "decided_by", "exclusion")


def pending_requests() -> QuerySet[ExclusionRequest]:
    """Waiting for an allowlist admin, oldest first (index exclusion_request_pending)."""
    rows = ExclusionRequest.objects.filter(state=ExclusionRequest.State.PENDING)
    return _with_people(rows).order_by("created_at", "id")


def pending_request_count() -> int:
    return ExclusionRequest.objects.filter(state=ExclusionRequest.State.PENDING).count()


def decided_requests() -> QuerySet[ExclusionRequest]:
    """The latest decisions (approved, declined, withdrawn), newest first."""
    rows = ExclusionRequest.objects.exclude(state=ExclusionRequest.State.PENDING)
    return _with_people(rows).order_by("-decided_at", "-id")[:DECIDED_SHOWN]


def alert_requests(*, alert: Alert) -> list[ExclusionRequest]:
    """Every request made from the alert, oldest first."""
    return list(_with_people(alert.exclusion_requests.all()).order_by("created_at", "id"))
