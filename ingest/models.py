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


class RecordField(models.JSONField):
    """A JSON document kept as it was written. On PostgreSQL that is the json
    type, which only checks the text: jsonb's conversion into its own form
    costs a fifth of storing an event, and nothing queries inside a record."""

    def db_type(self, connection):
        if connection.vendor == "postgresql":
            return "json"
        return super().db_type(connection)

    def from_db_value(self, value, expression, connection):
        if not isinstance(value, str):  # None, or json that psycopg has parsed already
            return value
        return super().from_db_value(value, expression, connection)


class Event(models.Model):
    event_id = models.TextField("event.id")
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
    raw = RecordField("the CloudTrail record")
    # Provenance only. Without a database constraint, storing an event costs
    # no foreign-key check at commit (a third of PostgreSQL's work per event);
    # log objects are never deleted, so the reference stays good. Nothing looks
    # events up by log object, so no index is kept up to date for it either.
    log_object = models.ForeignKey(
        LogObject,
        null=True,
        on_delete=models.DO_NOTHING,
        related_name="+",
        db_constraint=False,
        db_index=False,
    )

    class Meta:
        # A constraint rather than unique=True: the same index, without the
        # second (text_pattern_ops) index PostgreSQL would get for a unique TextField.
        constraints = [models.UniqueConstraint(fields=["event_id"], name="event_id_once")]
        indexes = [
            models.Index(fields=["-timestamp", "-id"], name="event_newest_first"),
            models.Index(fields=["account_id", "user_name", "-timestamp"], name="event_principal"),
            # Where a credential was used, per AS number, newest and oldest first, read
            # from the index alone (triage.selectors.credential_networks): a long-lived
            # key can have tens of thousands of events.
            models.Index(
                fields=["access_key_id", "as_number", "timestamp", "as_organization"],
                name="event_access_key_network",
            ),
            # Who else used a source IP, newest first, read from the index alone
            # (the alert preview's prevalence; the Events page's source IP filter).
            models.Index(
                fields=["source_ip", "-timestamp"],
                name="event_source_ip",
                include=["account_id", "user_name"],
            ),
            # Direct Lambda invocations by principal and network: the detector's
            # "was this network used in the prior 10 days" probe is one index
            # lookup per evaluated event, however long the history behind it.
            # The rule's fixed clauses are the index's condition and the AS
            # number (the one exclusion condition terms do not fix) is carried
            # in it, so the probe never needs to visit the table.
            models.Index(
                fields=["as_organization", "account_id", "user_name", "timestamp"],
                name="event_direct_lambda_invoke",
                include=["as_number"],
                condition=models.Q(
                    provider="lambda.amazonaws.com",
                    action__startswith="Invoke",
                    outcome="success",
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


class SourceState(models.Model):
    """What polling one configured CloudTrail source has done (the Sources page).

    The row is also the source's lease: a poll claims it with a conditional
    UPDATE and renews it as it goes, so two workers never poll the same bucket
    or folder at once; a worker that dies lets go when the lease expires (at
    once, to a poll on the same machine).
    """

    class Kind(models.TextChoices):
        S3 = "s3", "S3 bucket"
        SQS = "sqs", "SQS queue"
        INBOX = "inbox", "Inbox folder"

    name = models.CharField(max_length=500, unique=True, help_text="s3://bucket/prefix, queue URL")
    kind = models.CharField(max_length=8, choices=Kind.choices)
    last_poll_started_at = models.DateTimeField(null=True)
    last_poll_finished_at = models.DateTimeField(null=True)
    last_success_at = models.DateTimeField(
        null=True, help_text="the end of the last poll that could read the source"
    )
    last_summary = models.TextField(blank=True)
    objects_read = models.BigIntegerField(default=0)
    events_read = models.BigIntegerField(default=0, help_text="new events stored")
    objects_failed = models.BigIntegerField(default=0, help_text="corrupt objects, not retried")
    newest_event_at = models.DateTimeField(null=True)
    # S3 only: the first poll reads day folders from backfill_from on; the
    # next poll starts again at the first day folder not yet read completely.
    backfill_from = models.DateField(null=True)
    backfill_next_day = models.DateField(null=True)
    lease_holder = models.CharField(max_length=200, blank=True)
    lease_expires_at = models.DateTimeField(null=True)

    def __str__(self) -> str:
        return self.name


class SourceProblem(models.Model):
    """Something a poll could not do, and the object or message it concerns.

    A problem is removed when it is resolved: the object is read, the message
    deleted, the source readable again. Corrupt objects stay on record.
    """

    class Kind(models.TextChoices):
        SOURCE = "source", "source unreadable"
        OBJECT = "object", "object left for the next poll"
        CORRUPT = "corrupt", "corrupt object, not retried"
        MESSAGE = "message", "message not processed"

    source = models.ForeignKey(SourceState, on_delete=models.CASCADE, related_name="problems")
    kind = models.CharField(max_length=8, choices=Kind.choices)
    subject = models.TextField(help_text="the object key, message or listing it concerns")
    error = models.TextField()
    first_seen = models.DateTimeField()
    last_seen = models.DateTimeField()
    count = models.IntegerField(default=1)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["source", "subject"], name="source_problem_once")
        ]
        indexes = [models.Index(fields=["source", "-last_seen"], name="source_problem_newest")]
