"""Users and their roles: create, change roles, deactivate, each change recorded.

Only superusers manage users (Settings → Users, `manage.py users`). A role is a
Django group; the record of each change (UserChange) says who made it, when,
and the roles and sign-in state before and after. Users are deactivated, never
deleted: their alerts, exclusions and changes keep naming them.
"""

import secrets
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction

from config.roles import ALLOWLIST_ADMIN, ANALYST
from triage.notify.services import INTEGRATIONS_ADMIN
from triage.users.models import UserChange

# Every role a user can be given, with what it lets them do (the README says the same).
ROLES = {
    ANALYST: "triage alerts (acknowledge, assign, tag, close with a reason), read events, "
    "sources and the weekly review, propose exclusions from an alert",
    ALLOWLIST_ADMIN: "everything an analyst may do, and add, change and disable exclusions, "
    "approve or decline analysts' exclusion requests",
    INTEGRATIONS_ADMIN: "add, change, test and remove notification destinations",
}

Author = Any  # a superuser, or a string naming who ran a command ("cli:alice")


def _author(by: Author) -> str:
    if isinstance(by, str):
        if not by.strip():
            raise ValidationError("A change to a user needs an author.")
        return by.strip()
    if not user_can_manage_users(by):
        raise PermissionDenied("Only superusers manage users.")
    return by.get_username()


def user_can_manage_users(user: Any) -> bool:
    return user.is_authenticated and user.is_active and user.is_superuser


def user_roles_of(user: Any) -> list[str]:
    """The user's roles, in ROLES order (a superuser's groups, not what being one implies)."""
    names = {group.name for group in user.groups.all()}  # prefetched on the list
    return [role for role in ROLES if role in names]


def _state(user: Any) -> dict[str, Any]:
    return {"roles": user_roles_of(user), "active": user.is_active}


def _checked_roles(roles: list[str]) -> list[str]:
    unknown = sorted(set(roles) - set(ROLES))
    if unknown:
        raise ValidationError(f"No role {', '.join(unknown)}; the roles are {', '.join(ROLES)}.")
    return [role for role in ROLES if role in roles]


def _set_groups(user: Any, roles: list[str]) -> None:
    keep = user.groups.exclude(name__in=ROLES)
    groups = [Group.objects.get_or_create(name=role)[0] for role in roles]
    user.groups.set([*keep, *groups])


@transaction.atomic
def user_create(
    *, by: Author, username: str, roles: list[str], password: str | None = None
) -> tuple[Any, str | None]:
    """A new user with roles; returns it and the generated password (None if one was given)."""
    author = _author(by)
    roles = _checked_roles(roles)
    users = get_user_model()
    username = username.strip()
    if not username:
        raise ValidationError("A user needs a name.")
    if users.objects.filter(username__iexact=username).exists():
        raise ValidationError(f"There is already a user {username}.")
    generated = None
    if password is None:
        password = generated = secrets.token_urlsafe(12)
    else:
        validate_password(password, users(username=username))
    user = users.objects.create_user(username=username, password=password)
    _set_groups(user, roles)
    UserChange.objects.create(user=user, action="created", changed_by=author, after=_state(user))
    return user, generated


@transaction.atomic
def user_set_roles(*, by: Author, user: Any, roles: list[str]) -> bool:
    """Give the user exactly these roles; False (and no record) if they had them already."""
    author = _author(by)
    roles = _checked_roles(roles)
    user = get_user_model().objects.select_for_update().get(pk=user.pk)
    before = _state(user)
    if before["roles"] == roles:
        return False
    _set_groups(user, roles)
    UserChange.objects.create(
        user=user, action="roles", changed_by=author, before=before, after=_state(user)
    )
    return True


@transaction.atomic
def user_set_active(*, by: Author, user: Any, active: bool) -> bool:
    """Let the user sign in or not (their sessions and API tokens stop working at once);
    False if nothing changed. Nobody deactivates themselves: someone must remain."""
    author = _author(by)
    if not active and not isinstance(by, str) and by.pk == user.pk:
        raise ValidationError("You cannot deactivate yourself.")
    user = get_user_model().objects.select_for_update().get(pk=user.pk)
    if user.is_active == active:
        return False
    before = _state(user)
    user.is_active = active
    user.save(update_fields=["is_active"])
    action = "activated" if active else "deactivated"
    UserChange.objects.create(
        user=user, action=action, changed_by=author, before=before, after=_state(user)
    )
    return True
