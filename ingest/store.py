"""Store one log file's records as events: normalise, enrich, insert once.

A file's records and its LogObject row are written in one transaction, so a
crash never leaves half a file behind and a file is never marked read without
its events. The same eventID is stored once, whichever file brings it.
"""

import functools
import hashlib
import ipaddress
import json
import operator
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from django.db import DatabaseError, IntegrityError, connection, transaction
from django.utils import timezone

from ingest.ecs import BadRecord, normalise
from ingest.geoip import network_lookup
from ingest.history import record_network_use
from ingest.logfiles import BadLogFile, decode_records, storable
from ingest.models import Event, LogObject

BATCH_ROWS = 500
EVENT_ID_LOCK = 0x61736E77  # pg_advisory_xact_lock key serialising event inserts


@dataclass
class FileResult:
    """What reading one log file did; problems name the record they concern."""

    name: str
    status: str = LogObject.Status.DONE
    records: int = 0
    new_events: int = 0
    duplicates: int = 0
    problems: list[str] = field(default_factory=list)


def content_version(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


def already_read(*, source: str, key: str, version: str) -> bool:
    return LogObject.objects.filter(
        source=source, key=key, version=version, status=LogObject.Status.DONE
    ).exists()


def store_log_file(*, source: str, key: str, version: str, content: bytes) -> FileResult:
    """Decode and store one log file, recording it as read (or failed)."""
    result = FileResult(name=key)
    try:
        document = decode_records(content)
    except BadLogFile as error:
        result.status = LogObject.Status.FAILED
        result.problems.append(f"{key}: {error}")
        _record_log_object(source, key, version, len(content), result)
        return result

    result.records = len(document.records)
    rows = []
    for position, record in enumerate(document.records):
        if document.unstorable_text:
            cleaned = storable(record)
            if cleaned != record:
                result.problems.append(
                    f"{key}: Records[{position}]: holds NUL or unpaired surrogate characters, "
                    "which cannot be stored; kept with U+FFFD in their place"
                )
                record = cleaned
        try:
            normalised = normalise(record)
        except BadRecord as error:
            result.problems.append(f"{key}: Records[{position}]: {error}")
            continue
        result.problems.extend(
            f"{key}: Records[{position}]: {warning}" for warning in normalised.warnings
        )
        rows.append((position, _enriched(normalised.columns, record)))

    with transaction.atomic():
        _serialise_event_ids()
        log_object = _record_log_object(source, key, version, len(content), result)
        new_rows, refused = insert_events(rows, log_object_id=log_object.pk, name=key)
        record_network_use(new_rows)
        result.new_events = len(new_rows)
        result.problems.extend(refused)
        result.duplicates = len(rows) - len(refused) - result.new_events
        LogObject.objects.filter(pk=log_object.pk).update(
            new_events=result.new_events,
            duplicates=result.duplicates,
            problems=len(result.problems),
            error="\n".join(result.problems)[:10_000],
        )
    return result


def _serialise_event_ids() -> None:
    """Make events become visible in the order of their ids.

    The detector reads events behind an id cursor. If two writers could commit
    out of id order, an event with a lower id could appear after the cursor
    passed it and never be evaluated. Holding this lock from the first insert
    to the commit keeps visible ids a prefix. SQLite has one writer already.
    """
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [EVENT_ID_LOCK])


def _enriched(columns: dict[str, Any], record: dict[str, Any]) -> dict[str, Any]:
    if columns["source_ip"]:
        network = network_lookup().lookup(columns["source_ip"])
        columns["as_number"] = network.as_number
        columns["as_organization"] = network.as_organization
        columns["geo"] = network.geo
    columns["raw"] = record
    return columns


def _record_log_object(
    source: str, key: str, version: str, size: int, result: FileResult
) -> LogObject:
    log_object, _ = LogObject.objects.update_or_create(
        source=source,
        key=key,
        version=version,
        defaults={
            "size": size,
            "status": result.status,
            "records": result.records,
            "problems": len(result.problems),
            "error": "\n".join(result.problems)[:10_000],
        },
    )
    return log_object


# Insertion bypasses the ORM's per-object work. On PostgreSQL a batch's new
# events go in with one binary COPY: no statement with thousands of parameters
# to build on the client and parse on the server. On SQLite a multi-row
# INSERT … ON CONFLICT DO NOTHING RETURNING tells exactly which events were
# new. A refused batch goes in row by row through that INSERT on both.
_FIELDS = [f for f in Event._meta.concrete_fields if not f.primary_key]
_ATTNAMES = [f.attname for f in _FIELDS]
_JSON_ATTNAMES = [f.attname for f in _FIELDS if f.get_internal_type() == "JSONField"]
_columns_of = operator.itemgetter(*_ATTNAMES)

# One COPY per file for all but the largest files: each statement costs a round
# trip, and a file's events are written in one transaction anyway.
COPY_BATCH_ROWS = 5000


def _adapter(field_: Any) -> Callable[[Any], Any] | None:
    internal = field_.get_internal_type()
    ops = connection.ops
    if internal == "DateTimeField":
        return ops.adapt_datetimefield_value
    if internal == "JSONField":
        return lambda value: None if value is None else ops.adapt_json_value(value, None)
    if internal == "GenericIPAddressField":
        return ops.adapt_ipaddressfield_value
    return None


def insert_events(
    rows: Iterable[tuple[int, dict[str, Any]]], *, log_object_id: int | None, name: str
) -> tuple[list[dict[str, Any]], list[str]]:
    """Insert events not stored yet. Returns the rows that were new, and problems.

    rows are (position in the file, columns). A batch the database refuses is
    retried row by row, so one record it cannot store is reported by position
    and the others are kept.
    """
    ingested = timezone.now()
    seen: set[str] = set()
    entries: list[tuple[int, dict[str, Any]]] = []
    for position, row in rows:
        if row["event_id"] in seen:
            continue
        seen.add(row["event_id"])
        row["ingested"] = ingested
        row["log_object_id"] = log_object_id
        entries.append((position, row))

    adapters = [(f.attname, _adapter(f)) for f in _FIELDS]
    copy = connection.vendor == "postgresql"
    batch_rows = COPY_BATCH_ROWS if copy else BATCH_ROWS
    new_rows: list[dict[str, Any]] = []
    problems: list[str] = []
    for start in range(0, len(entries), batch_rows):
        batch = entries[start : start + batch_rows]
        try:
            with transaction.atomic():
                if copy:
                    new_rows.extend(_copy_new([row for _, row in batch]))
                else:
                    new_rows.extend(_insert_new([row for _, row in batch], adapters))
        except (DatabaseError, ValueError):
            for position, row in batch:
                try:
                    with transaction.atomic():
                        new_rows.extend(_insert_new([row], adapters))
                except (DatabaseError, ValueError) as error:
                    problems.append(
                        f"{name}: Records[{position}]: the database refused it: {error}"
                    )
    return new_rows, problems


def _insert_new(
    rows: list[dict[str, Any]], adapters: list[tuple[str, Callable[[Any], Any] | None]]
) -> list[dict[str, Any]]:
    values = [
        adapt(row[attname]) if adapt is not None and row[attname] is not None else row[attname]
        for row in rows
        for attname, adapt in adapters
    ]
    table = connection.ops.quote_name(Event._meta.db_table)
    columns = ", ".join(connection.ops.quote_name(f.column) for f in _FIELDS)
    placeholder = "(" + ", ".join(["%s"] * len(_FIELDS)) + ")"
    # Names come from the model; every value is a parameter.
    placeholders = ", ".join([placeholder] * len(rows))
    sql = f"INSERT INTO {table} ({columns}) VALUES {placeholders} ON CONFLICT (event_id) DO NOTHING RETURNING event_id"  # noqa: S608, E501
    with connection.cursor() as cursor:
        cursor.execute(sql, values)
        inserted = {event_id for (event_id,) in cursor.fetchall()}
    return [row for row in rows if row["event_id"] in inserted]


# COPY has no ON CONFLICT, but a batch rarely holds an event stored before
# (a file read again, or an event two files share), and the unique index
# checks every row anyway: the COPY is tried as is first. Only when it fails
# are the batch's stored events looked up and left out. The advisory lock held
# since the transaction began (see _serialise_event_ids) keeps any other
# writer from storing one in between; a COPY that fails anyway leaves the
# batch to the row-by-row INSERT.
def _copy_new(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    try:
        with transaction.atomic():
            _copy(rows)
        return rows
    except IntegrityError:
        pass
    table = connection.ops.quote_name(Event._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT event_id FROM {table} WHERE event_id = ANY(%s)",  # noqa: S608
            [[row["event_id"] for row in rows]],
        )
        stored = {event_id for (event_id,) in cursor.fetchall()}
    new_rows = [row for row in rows if row["event_id"] not in stored]
    _copy(new_rows)
    return new_rows


def _copy(rows: list[dict[str, Any]]) -> None:
    if not rows:
        return
    table = connection.ops.quote_name(Event._meta.db_table)
    columns = ", ".join(connection.ops.quote_name(f.column) for f in _FIELDS)
    with (
        connection.cursor() as cursor,
        connection.wrap_database_errors,
        cursor.cursor.copy(f"COPY {table} ({columns}) FROM STDIN (FORMAT BINARY)") as copy,
    ):
        copy.set_types(_copy_types())
        for row in rows:
            copy.write_row(_copy_values(row))


# Binary COPY sends each value in its column type's binary form. jsonb's is a
# version byte and the JSON text, so JSON goes as ready-made bytes: COPY
# carries no types, and bytea's binary form is the bytes as they are.
@functools.cache
def _copy_types() -> list[str]:
    return ["bytea" if f.db_type(connection) == "jsonb" else f.db_type(connection) for f in _FIELDS]


_JSON_POSITIONS = [_ATTNAMES.index(attname) for attname in _JSON_ATTNAMES]
_IP_POSITION = _ATTNAMES.index("source_ip")


def _copy_values(row: dict[str, Any]) -> list[Any]:
    values = list(_columns_of(row))
    for position in _JSON_POSITIONS:
        value = values[position]
        if value is not None:
            # json.dumps, as Django's JSONField writes: integers of any size
            # stay exact, and NaN or Infinity fail as they do there.
            values[position] = b"\x01" + json.dumps(value).encode()
    if values[_IP_POSITION] is not None:
        values[_IP_POSITION] = _ip_address(values[_IP_POSITION])
    return values


@functools.lru_cache(maxsize=65536)
def _ip_address(ip: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    return ipaddress.ip_address(ip)
