"""Stored CloudTrail events and the log objects they were read from.

Columns are named after the ECS fields they hold (DESIGN.md section 2); the
mapping itself lives in ingest/ecs.py.
"""

from django.db import models


class LogObject(models.Model):
    """One CloudTrail log file or S3 object, read once per content version."""

    class Status(models.TextChoices):
        DONE = "done"
        FAILED = "failed"
        SKIPPED = "skipped"

    source = models.CharField(max_length=200, help_text="file, s3://bucket or an SQS queue")
    key = models.TextField(help_text="path or S3 key")
    version = models.CharField(max_length=128, help_text="content sha256 or S3 ETag")
    size = models.BigIntegerField(default=0)
    status = models.CharField(max_length=10, choices=Status.choices)
    records = models.IntegerField(default=0)
    new_events = models.IntegerField(default=0)
    duplicates = models.IntegerField(default=0)
    problems = models.IntegerField(default=0)
    error = models.TextField(blank=True)
    read_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["source", "key", "version"], name="log_object_once_per_version"
            )
        ]

    def __str__(self) -> str:
        return f"{self.source}:{self.key}"


class Event(models.Model):
    event_id = models.TextField("event.id", unique=True)
    timestamp = models.DateTimeField("@timestamp")
    ingested = models.DateTimeField("event.ingested")
    provider = models.TextField("event.provider")
    action = models.TextField("event.action")
    outcome = models.TextField("event.outcome")
    account_id = models.TextField("cloud.account.id", null=True)
    region = models.TextField("cloud.region", null=True)
    user_name = models.TextField("user.name", null=True)
    user_id = models.TextField("user.id", null=True)
    identity_type = models.TextField("aws.cloudtrail.user_identity.type", null=True)
    identity_arn = models.TextField("aws.cloudtrail.user_identity.arn", null=True)
    access_key_id = models.TextField("aws.cloudtrail.user_identity.access_key_id", null=True)
    invoked_by = models.TextField("aws.cloudtrail.user_identity.invoked_by", null=True)
    session_issuer_arn = models.TextField(
        "aws.cloudtrail.user_identity.session_context.session_issuer.arn", null=True
    )
    source_address = models.TextField("source.address", null=True)
    source_ip = models.GenericIPAddressField("source.ip", null=True)
    as_number = models.BigIntegerField("source.as.number", null=True)
    as_organization = models.TextField("source.as.organization.name", null=True)
    geo = models.JSONField("source.geo", null=True)
    user_agent = models.TextField("user_agent.original", null=True)
    request_parameters = models.JSONField("aws.cloudtrail.request_parameters", null=True)
    error_code = models.TextField("aws.cloudtrail.error_code", null=True)
    error_message = models.TextField("aws.cloudtrail.error_message", null=True)
    event_category = models.TextField("aws.cloudtrail.event_category", null=True)
    raw = models.JSONField("the CloudTrail record")
    log_object = models.ForeignKey(
        LogObject, null=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        indexes = [
            models.Index(fields=["-timestamp", "-id"], name="event_newest_first"),
            models.Index(fields=["account_id", "user_name", "-timestamp"], name="event_principal"),
            models.Index(fields=["access_key_id"], name="event_access_key"),
        ]

    def __str__(self) -> str:
        return f"{self.event_id} {self.provider} {self.action}"
