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
