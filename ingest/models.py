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
            # Direct Lambda invocations by principal and network: the detector's
            # "was this network used in the prior 10 days" probe is one index
            # lookup per evaluated event, however long the history behind it.
            models.Index(
                fields=["as_organization", "account_id", "user_name", "timestamp"],
                name="event_direct_lambda_invoke",
                condition=models.Q(
                    provider="lambda.amazonaws.com",
                    invoked_by__isnull=True,
                    as_organization__isnull=False,
                ),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.event_id} {self.provider} {self.action}"


class PrincipalNetwork(models.Model):
    """A network a principal used: first and last seen, and how often.

    Kept current as events are stored (ingest.history), so that "which networks
    did this principal use" never scans the events. Only events with an AS
    number count: a host name such as lambda.amazonaws.com is not a network.
    """

    account_id = models.TextField()
    user_name = models.TextField()
    as_number = models.BigIntegerField()
    as_organization = models.TextField(help_text="empty when the AS has no organisation")
    first_seen = models.DateTimeField()
    last_seen = models.DateTimeField()
    event_count = models.BigIntegerField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["account_id", "user_name", "as_number", "as_organization"],
                name="principal_network_once",
            )
        ]


class PrincipalNetworkDay(models.Model):
    """Events per day of one principal from one network (the history timeline)."""

    network = models.ForeignKey(PrincipalNetwork, on_delete=models.CASCADE, related_name="days")
    day = models.DateField()
    event_count = models.IntegerField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["network", "day"], name="principal_network_day_once")
        ]
