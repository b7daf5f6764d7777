"""API tokens as their owners (and admins) may see them: never the token itself."""

from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import QuerySet
from django.utils import timezone

from triage.api.models import ApiToken


def token_state(token: ApiToken) -> str:
    if token.revoked_at is not None:
        return "revoked"
    if token.expires_at is not None and token.expires_at <= timezone.now():
        return "expired"
    return "active"


def token_public(token: ApiToken) -> dict[str, Any]:
    def iso(moment):
        return moment.isoformat() if moment else None

    return {
        "id": token.pk,
        "user": token.user.get_username(),
        "name": token.name,
        "prefix": token.prefix,
        "state": token_state(token),
        "created_at": iso(token.created_at),
        "expires_at": iso(token.expires_at),
        "revoked_at": iso(token.revoked_at),
        "last_used_at": iso(token.last_used_at),
        "last_used_address": token.last_used_address,
    }


def tokens_for(user: AbstractBaseUser) -> QuerySet[ApiToken]:
    """The tokens a user manages on the page: their own; a superuser's, everyone's."""
    tokens = ApiToken.objects.select_related("user").order_by("-created_at", "-id")
    return tokens if user.is_superuser else tokens.filter(user=user)
