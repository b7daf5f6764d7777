"""Template filters for the notification settings: who sees the Settings link."""

from typing import Any

from django import template

from triage.notify.services import user_can_change_destinations

register = template.Library()


@register.filter
def may_change_destinations(user: Any) -> bool:
    # The error pages render the navigation without a request, hence without a user.
    if not getattr(user, "is_authenticated", False):
        return False
    return user_can_change_destinations(user)
