"""API tokens: each acts as its user, is stored as a hash, and can expire or be revoked."""

from django.conf import settings
from django.db import models


class ApiToken(models.Model):
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens"
    )
    name = models.CharField(max_length=100)
    # SHA-256 of the token: tokens are 256 random bits, so a fast hash is enough,
    # and a stolen table holds nothing that authenticates.
    key_hash = models.CharField(max_length=64, unique=True)
    # The token's first characters, to tell tokens apart on the page ("aw_Xy12…").
    prefix = models.CharField(max_length=12)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_by = models.CharField(max_length=150, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    last_used_address = models.CharField(max_length=45, blank=True)
    # The rate limit's fixed window: requests counted since window_start.
    window_start = models.DateTimeField(null=True, blank=True)
    window_requests = models.IntegerField(default=0)

    class Meta:
        db_table = "api_token"
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"
