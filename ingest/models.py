"""Stored CloudTrail events and the log objects they were read from.

Columns are named after the ECS fields they hold (DESIGN.md section 2); the
mapping itself lives in ingest/ecs.py.
"""

import itertools
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator
from functools import cached_property
from typing import Any, TypeVar

from django.db import models

from ingest.records import BLOCK_RECORDS, NO_DETAILS, BadBlock, Block, Details


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


class LogRecords(models.Model):
    """A block of one log file's stored records, compressed (see ingest.records).

    Written with the file's events, in the same transaction, and once: a file
    is stored again only after a read that failed (and stored nothing) or by a
    concurrent read of the same content, whose records are the same.
    """

    pk = models.CompositePrimaryKey("log_object_id", "block")
    log_object = models.ForeignKey(
        LogObject,
        on_delete=models.DO_NOTHING,
        related_name="+",
        db_constraint=False,
        db_index=False,  # the primary key's first column
    )
    block = models.IntegerField(help_text="the records from block * BLOCK_RECORDS on")
    newest = models.DateTimeField(help_text="the latest eventTime among its records")
    frame = models.BinaryField(help_text="ingest.records.pack_block")

    class Meta:
        indexes = [models.Index(fields=["newest"], name="log_records_newest")]


class FromRecord:
    """An ECS field the event row leaves out, made again from its record when read."""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, event: "Event | None", owner: type | None = None) -> Any:
        if event is None:
            return self
        return event.details.value(self.name)


class Event(models.Model):
    # Fixed-width columns first: PostgreSQL pads each to its alignment after a text one.
    timestamp = models.DateTimeField("@timestamp")
    ingested = models.DateTimeField("event.ingested")
    as_number = models.BigIntegerField("source.as.number", null=True)
    # Where the event's record is kept: the log file it came from and its place
    # among that file's stored records (ingest.records). Log objects are never
    # deleted, so without a database constraint the reference stays good and
    # storing an event costs no foreign-key check at commit; nothing looks events
    # up by log object, so no index is kept for it either.
    log_object = models.ForeignKey(
        LogObject,
        null=True,
        on_delete=models.DO_NOTHING,
        related_name="+",
        db_constraint=False,
        db_index=False,
    )
    record = models.IntegerField("the record's place among its file's stored records", null=True)
    # The transaction that stored the event, for the detector's watermark
    # (ingest.watermark): PostgreSQL's 64-bit transaction id, a counter on SQLite.
    stored_xid = models.BigIntegerField(default=0)
    event_id = models.TextField("event.id")
    provider = models.TextField("event.provider")
    action = models.TextField("event.action")
    outcome = models.TextField("event.outcome")
    account_id = models.TextField("cloud.account.id", null=True)
    user_name = models.TextField("user.name", null=True)
    identity_type = models.TextField("aws.cloudtrail.user_identity.type", null=True)
    access_key_id = models.TextField("aws.cloudtrail.user_identity.access_key_id", null=True)
    invoked_by = models.TextField("aws.cloudtrail.user_identity.invoked_by", null=True)
    source_ip = models.GenericIPAddressField("source.ip", null=True)
    as_organization = models.TextField("source.as.organization.name", null=True)
    function_name = models.TextField(
        "aws.cloudtrail.request_parameters.functionName", null=True, help_text="when it is text"
    )

    region = FromRecord()
    user_id = FromRecord()
    identity_arn = FromRecord()
    session_issuer_arn = FromRecord()
    source_address = FromRecord()
    geo = FromRecord()
    user_agent = FromRecord()
    request_parameters = FromRecord()
    error_code = FromRecord()
    error_message = FromRecord()
    event_category = FromRecord()

    class Meta:
        # On PostgreSQL the table is partitioned by day (ingest.partitions), and a
        # unique index must hold the day: the same record, read from two files,
        # has the same eventTime. (A constraint, not unique=True, saves PostgreSQL's
        # second text_pattern_ops index.) Indexes added here are made on every
        # partition; CREATE INDEX CONCURRENTLY does not work on a partitioned table.
        constraints = [
            models.UniqueConstraint(fields=["event_id", "timestamp"], name="event_id_once")
        ]
        indexes = [
            models.Index(fields=["-timestamp", "-id"], name="event_newest_first"),
            models.Index(fields=["account_id", "user_name", "-timestamp"], name="event_principal"),
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

    @property
    def raw(self) -> Any:
        """The CloudTrail record, as stored; None when it is not kept."""
        return self.details.raw

    @cached_property
    def details(self) -> Details:
        load_details([self])
        return self.__dict__["details"]


T = TypeVar("T")

# Blocks read recently, decompressed: a page of events, an export's chunk or an
# alert's episode reads each of its blocks once. A block is never rewritten
# (LogRecords), so what is kept cannot go stale.
_BLOCKS: "OrderedDict[tuple[int, int], Block | None]" = OrderedDict()
_BLOCKS_KEPT = 64
_BLOCKS_LOCK = threading.Lock()
_QUERY_BLOCKS = 500  # blocks asked for in one query


def load_details(events: Iterable[Event]) -> None:
    """Read the records of these events (a query per 500 blocks at most), for their
    FromRecord fields and raw."""
    wanted: dict[tuple[int, int], list[Event]] = {}
    for event in events:
        if "details" in event.__dict__:
            continue
        if event.log_object_id is None or event.record is None:
            event.__dict__["details"] = NO_DETAILS
            continue
        key = (event.log_object_id, event.record // BLOCK_RECORDS)
        wanted.setdefault(key, []).append(event)
    blocks = _blocks(list(wanted))
    for key, waiting in wanted.items():
        block = blocks.get(key)
        for event in waiting:
            details = NO_DETAILS if block is None else block.details(event.record % BLOCK_RECORDS)
            event.__dict__["details"] = details


def with_details(
    rows: Iterable[T], *, event_of: Callable[[T], Event] | None = None, chunk: int = 2000
) -> Iterator[T]:
    """rows (events, or what event_of finds an event in) with their events' records
    read a chunk at a time: for streaming exports."""
    rows = iter(rows)
    while batch := list(itertools.islice(rows, chunk)):
        load_details(batch if event_of is None else map(event_of, batch))
        yield from batch


def _blocks(keys: list[tuple[int, int]]) -> dict[tuple[int, int], Block | None]:
    found: dict[tuple[int, int], Block | None] = {}
    with _BLOCKS_LOCK:
        for key in keys:
            if key in _BLOCKS:
                _BLOCKS.move_to_end(key)
                found[key] = _BLOCKS[key]
    missing = [key for key in keys if key not in found]
    for start in range(0, len(missing), _QUERY_BLOCKS):
        chosen = missing[start : start + _QUERY_BLOCKS]
        match = models.Q()
        for log_object_id, block in chosen:
            match |= models.Q(log_object_id=log_object_id, block=block)
        rows = LogRecords.objects.filter(match).values_list("log_object_id", "block", "frame")
        read = {key: None for key in chosen}  # a block retention removed stays missing
        for log_object_id, block, frame in rows:
            try:
                read[(log_object_id, block)] = Block.unpack(bytes(frame))
            except BadBlock:
                read[(log_object_id, block)] = None
        found.update(read)
        with _BLOCKS_LOCK:
            _BLOCKS.update(read)
            while len(_BLOCKS) > _BLOCKS_KEPT:
                _BLOCKS.popitem(last=False)
    return found


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


class CredentialNetwork(models.Model):
    """A network an access key was used from: first and last use, how often, and the
    AS organisation of its last use. Kept current as events are stored (ingest.history),
    so that "where was this key used" never reads a long-lived key's events."""

    NO_AS = 0  # AS 0 is reserved (RFC 7607): here, an address with no AS number, or none

    access_key_id = models.TextField()
    as_number = models.BigIntegerField(help_text="NO_AS when the address had none")
    as_organization = models.TextField(null=True)
    first_seen = models.DateTimeField()
    last_seen = models.DateTimeField()
    event_count = models.BigIntegerField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["access_key_id", "as_number"], name="credential_network_once"
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
