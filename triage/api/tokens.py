"""API tokens: created (shown once), revoked, and checked on every request.

A token is "aw_" and 43 characters of a 256-bit random value; only its SHA-256
is stored. Checking a token is one UPDATE … RETURNING that also records when and
from where it was last used and counts the request against the per-token rate
limit (API_RATE_LIMIT_PER_MINUTE, a fixed one-minute window), so a request
costs one round trip to the database and every process counts alike.
"""

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection
from django.utils import timezone

from triage.api.models import ApiToken

PREFIX = "aw_"
WINDOW = timedelta(minutes=1)
MAX_EXPIRY_DAYS = 3650

_CHECK = """
UPDATE api_token SET
    window_requests = CASE WHEN window_start > %(window_from)s
                           THEN window_requests + 1 ELSE 1 END,
    window_start = CASE WHEN window_start > %(window_from)s
                        THEN window_start ELSE %(now)s END,
    last_used_at = %(now)s,
    last_used_address = %(address)s
WHERE key_hash = %(key_hash)s
  AND revoked_at IS NULL
  AND (expires_at IS NULL OR expires_at > %(now)s)
RETURNING id, user_id, window_start, window_requests
"""


def key_hash(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


@dataclass(frozen=True)
class Created:
    token: ApiToken
    # The token itself: shown to its owner once, stored nowhere.
    secret: str


def token_create(*, user: AbstractBaseUser, name: str, expires_days: int | None = None) -> Created:
    name = name.strip()
    if not name:
        raise ValidationError("A token needs a name.")
    if len(name) > 100:
        raise ValidationError("A token's name is at most 100 characters.")
    if expires_days is not None and not 1 <= expires_days <= MAX_EXPIRY_DAYS:
        raise ValidationError(f"A token expires in 1 to {MAX_EXPIRY_DAYS} days, or never.")
    if not user.is_active:
        raise ValidationError(f"{user.get_username()} is not an active user.")
    secret = PREFIX + secrets.token_urlsafe(32)
    token = ApiToken.objects.create(
        user=user,
        name=name,
        key_hash=key_hash(secret),
        prefix=secret[:8],
        expires_at=timezone.now() + timedelta(days=expires_days) if expires_days else None,
    )
    return Created(token=token, secret=secret)


def user_can_revoke(user: AbstractBaseUser, token: ApiToken) -> bool:
    return user.is_active and (user.is_superuser or token.user_id == user.pk)


def token_revoke(*, token: ApiToken, by: AbstractBaseUser | str) -> ApiToken:
    """Revoke a token now; by is its owner, a superuser, or (a string) a shell operator."""
    if not isinstance(by, str) and not user_can_revoke(by, token):
        raise PermissionDenied("Only a token's owner or a superuser revokes it.")
    if token.revoked_at is not None:
        raise ValidationError(f"Token {token.name!r} is revoked already.")
    token.revoked_at = timezone.now()
    token.revoked_by = by if isinstance(by, str) else by.get_username()
    token.save(update_fields=["revoked_at", "revoked_by"])
    return token


@dataclass(frozen=True)
class Check:
    """A token's verdict: its user, or why not (refusal), and any wait the rate limit asks."""

    user: AbstractBaseUser | None = None
    token_id: int | None = None
    refusal: str = ""
    retry_after: float | None = None


def token_check(raw: str, *, address: str, now: datetime | None = None) -> Check:
    now = now or timezone.now()
    if not raw.startswith(PREFIX):
        return Check(refusal="not an asnwatch API token")
    hashed = key_hash(raw)
    with connection.cursor() as cursor:
        cursor.execute(
            _CHECK,
            {"window_from": now - WINDOW, "now": now, "address": address, "key_hash": hashed},
        )
        row = cursor.fetchone()
    if row is None:
        known = ApiToken.objects.filter(key_hash=hashed).only("revoked_at", "expires_at").first()
        if known is None:
            return Check(refusal="unknown token")
        if known.revoked_at is not None:
            return Check(refusal="the token was revoked")
        return Check(refusal="the token has expired")
    token_id, user_id, window_start, requests = row
    user = get_user_model().objects.filter(pk=user_id, is_active=True).first()
    if user is None:
        return Check(refusal="the token's user is not active")
    limit = settings.API_RATE_LIMIT_PER_MINUTE
    if limit and requests > limit:
        if isinstance(window_start, str):  # SQLite returns the text it stores
            window_start = datetime.fromisoformat(window_start)
        wait = (window_start + WINDOW - now).total_seconds()
        return Check(user=user, token_id=token_id, retry_after=max(wait, 1.0))
    return Check(user=user, token_id=token_id)
