"""The pieces of other pages that show exclusion requests: the alert page's card, the
allowlist's Requests tab and the navigation's count of requests waiting for an admin.

They are template tags so that the alert and allowlist views need not know about
requests (triage does not import triage.requests; the dependency goes one way).
"""

from typing import Any

from django import template

from triage.allowlist.services import user_can_change_exclusions
from triage.requests import selectors, services

register = template.Library()


@register.inclusion_tag("exclusion_requests/alert_requests.html", takes_context=True)
def alert_exclusion_requests(context: dict[str, Any], alert: Any) -> dict[str, Any]:
    """The alert's requests and their outcome (for everyone), and for an analyst the
    Propose button, or their waiting request instead of a second one."""
    user = context["user"]
    rows = selectors.alert_requests(alert=alert)
    own_pending = next(
        (row for row in rows if row.is_pending and row.requested_by_id == user.pk), None
    )
    return {
        "alert": alert,
        "requests": rows,
        "can_propose": services.user_can_propose(user),
        "can_decide": user_can_change_exclusions(user),
        "own_pending": own_pending,
        "user": user,
    }


@register.simple_tag
def pending_exclusion_requests(user: Any) -> int:
    """Requests waiting, for an allowlist admin's navigation; 0 for everyone else."""
    # The error pages render the navigation without a request, hence without a user.
    if not getattr(user, "is_authenticated", False) or not user_can_change_exclusions(user):
        return 0
    return selectors.pending_request_count()


@register.inclusion_tag("exclusion_requests/allowlist_tabs.html")
def allowlist_tabs(current: str) -> dict[str, Any]:
    """Allowlist | Requests (n pending), on the allowlist's pages."""
    return {"current": current, "pending": selectors.pending_request_count()}
