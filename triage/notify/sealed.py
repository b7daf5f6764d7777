"""Destination secrets encrypted at rest: a text field stored as a Fernet token.

Webhook signing secrets and the URLs of webhooks and Apprise services (which
carry the service's token) are kept encrypted, so a database dump or backup
alone does not hand them over. The key is derived (HKDF-SHA256) from
SECRET_KEY; after SECRET_KEY changes, the old one in SECRET_KEY_FALLBACKS
still decrypts, and saving a destination encrypts it again with the new one.

A value no key decrypts is not passed off as the secret: it reads as an
Unreadable (empty, so never shown or sent), sending to it fails naming the
cause, and saving the destination keeps the stored token unchanged.
"""

import base64
from functools import cache
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings
from django.db import models

INFO = b"asnwatch destination secrets"


class Unreadable(str):
    """A stored value no key decrypts: empty, and still holding the token as stored."""

    stored: str

    def __new__(cls, stored: str) -> "Unreadable":
        value = super().__new__(cls, "")
        value.stored = stored
        return value


def _fernet(secret_key: str) -> Fernet:
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=INFO).derive(
        secret_key.encode()
    )
    return Fernet(base64.urlsafe_b64encode(key))


@cache
def _keys(secret_key: str, fallbacks: tuple[str, ...]) -> MultiFernet:
    return MultiFernet([_fernet(key) for key in (secret_key, *fallbacks)])


def keys() -> MultiFernet:
    """The current key first (it encrypts), then the fallbacks (they only decrypt)."""
    return _keys(settings.SECRET_KEY, tuple(getattr(settings, "SECRET_KEY_FALLBACKS", ())))


def seal(value: str) -> str:
    return keys().encrypt(value.encode()).decode()


def unseal(token: str) -> str:
    try:
        return keys().decrypt(token.encode()).decode()
    except InvalidToken:
        return Unreadable(token)


class SealedTextField(models.TextField):
    """Text encrypted in the database; "" stays "" so an unset secret reads as unset."""

    def from_db_value(self, value: Any, expression: Any, connection: Any) -> Any:
        return unseal(value) if value else value

    def get_prep_value(self, value: Any) -> Any:
        value = super().get_prep_value(value)
        if isinstance(value, Unreadable):
            return value.stored
        return seal(value) if value else value
