"""A change of a user's roles or of whether they may sign in, kept as a record."""

from django.conf import settings
from django.db import models

from triage.models import ChangeRecord


class UserChange(ChangeRecord):
    """action: created, roles, deactivated, activated; before/after: {"roles", "active"}."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="role_changes"
    )

    class Meta(ChangeRecord.Meta):
        pass


class TimeZonePreference(models.Model):
    """The IANA zone a user reads times in (triage/users/zones.py); without a row, UTC."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        primary_key=True,
        on_delete=models.CASCADE,
        related_name="time_zone_preference",
    )
    time_zone = models.CharField(max_length=64, default="UTC")
