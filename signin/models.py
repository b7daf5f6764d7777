"""Failure counters of the sign-in throttle, one row per counter (signin.throttle)."""

from django.db import models


class SignInCounter(models.Model):
    """Failed sign-ins counted under one key until `expires_at`.

    The count also holds attempts whose password is being checked right now: an
    attempt is counted before its password is checked and given back when the
    password was right or the attempt was refused unchecked.
    """

    key = models.CharField(primary_key=True, max_length=255)
    failures = models.IntegerField()
    # Rows past this are restarted by the next attempt and deleted by any attempt.
    expires_at = models.DateTimeField(db_index=True)

    class Meta:
        db_table = "signin_counter"

    def __str__(self) -> str:
        return f"{self.key}: {self.failures} until {self.expires_at:%Y-%m-%d %H:%M:%S}"
