"""Who may see what: the two roles, as Django groups, and the view decorator that checks them.

The groups are created by a data migration (triage/migrations/0002_roles.py).
An allowlist admin can do everything an analyst can; a superuser can do
everything. Anyone else who signs in sees a page telling them to ask an admin.
This lives beside the middleware rather than in an app because every app's
views (events, alerts, sources) use it and ingest must not import triage.
"""

from collections.abc import Callable
from functools import wraps
from typing import NoReturn

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse

ANALYST = "analyst"
ALLOWLIST_ADMIN = "allowlist-admin"
ROLES = (ANALYST, ALLOWLIST_ADMIN)
# The roles that may triage: an allowlist admin can do what an analyst can.
TRIAGE_ROLES = (ANALYST, ALLOWLIST_ADMIN)


def user_roles(user) -> frozenset[str]:
    """The user's roles, read once per request (the user object lives as long as the request)."""
    if not user.is_authenticated or not user.is_active:
        return frozenset()
    cached = getattr(user, "_asnwatch_roles", None)
    if cached is None:
        if user.is_superuser:
            cached = frozenset(ROLES)
        else:
            cached = frozenset(user.groups.filter(name__in=ROLES).values_list("name", flat=True))
        user._asnwatch_roles = cached
    return cached


def user_has_role(user, *roles: str) -> bool:
    return bool(user_roles(user) & set(roles))


def refuse(request: HttpRequest, *roles: str) -> NoReturn:
    """403, noting on the request the roles that would allow it, for the page to name them
    (one who holds a role is told the one they lack, not to join the one they hold)."""
    request.roles_needed = roles
    request.roles_held = sorted(user_roles(request.user))
    raise PermissionDenied(f"needs the {' or '.join(roles)} role")


def role_required(*roles: str) -> Callable:
    """Anonymous → the login page; signed in without one of roles → 403."""

    def decorator(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @wraps(view)
        def wrapped(request: HttpRequest, *args, **kwargs) -> HttpResponse:
            if not user_has_role(request.user, *roles):
                refuse(request, *roles)
            return view(request, *args, **kwargs)

        return login_required(wrapped)

    return decorator


triage_required = role_required(*TRIAGE_ROLES)
