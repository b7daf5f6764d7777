"""Store one log file's records as events: normalise, enrich, insert once.

A file's records and its LogObject row are written in the same transaction
(ingest_files puts several files in one), so a crash never leaves half a file
behind and a file is never marked read without its events. The same eventID
is stored once, whichever file brings it.

Reading a file is done in two steps: prepare_log_file decodes it and makes
its rows (no database work, so it can run ahead in another process), and
store_prepared writes them. Whatever goes wrong with one file, in either
step, fails that file alone, with the error: the files read with it are stored.
"""

import hashlib
import struct
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import (
    DatabaseError,
    DataError,
    IntegrityError,
    ProgrammingError,
    connection,
    transaction,
)
from django.utils import timezone

from ingest import partitions, records, rows, watermark
from ingest.ecs import BadRecord, normalise
from ingest.geoip import network_lookup
from ingest.history import NetworkUses, record_network_use
from ingest.logfiles import (
    MAX_RECORD_DEPTH,
    BadLogFile,
    TooLarge,
    decode_records,
    nests_too_deeply,
    storable,
)
from ingest.models import Event, LogObject, LogRecords

# Rows per statement. A COPY costs one round trip whatever its size, so all
# but the largest files go in with one; an INSERT's parameters are limited.
COPY_BATCH_ROWS = 5000
INSERT_BATCH_ROWS = 500


@dataclass
class FileResult:
    """What reading one log file did; problems name the record they concern."""

    name: str
    status: str = LogObject.Status.DONE
    records: int = 0
    new_events: int = 0
    duplicates: int = 0
    problems: list[str] = field(default_factory=list)
    newest_event: datetime | None = None  # the latest @timestamp among the new events


@dataclass
class PreparedFile:
    """A log file decoded, normalised and enriched: everything reading it takes
    but the database. Its rows are kept by column (a few lists, and the rows'
    bytes end to end), as they pass between processes by the thousand."""

    key: str
    size: int
    result: FileResult
    for_copy: bool  # rows made for PostgreSQL's COPY, else for SQLite's INSERT
    decoded: int = 0  # bytes of JSON the file expanded to
    too_large: bool = False  # failed for expanding to more than it was allowed to
    positions: list[int] = field(default_factory=list)  # each row's place in Records
    event_ids: list[str] = field(default_factory=list)
    uses: NetworkUses = field(default_factory=NetworkUses)
    # Each row's record, compressed a block at a time (ingest.records), with the
    # latest eventTime of each block.
    blocks: list[bytes] = field(default_factory=list)
    blocks_newest: list[datetime] = field(default_factory=list)
    copy_data: bytearray = field(default_factory=bytearray)  # rows.copy_row, end to end
    ends: list[int] = field(default_factory=list)  # where each row ends in copy_data
    values: list[tuple] = field(default_factory=list)  # rows.insert_values of each row

    def store_at(self, ingested: datetime, log_object_id: int, stored_xid: int) -> None:
        """Fill in the storing fields at the end of every row."""
        fields = rows.storing_fields(ingested, log_object_id, stored_xid)
        data = self.copy_data
        for end in self.ends:
            data[end - rows.STORING_SIZE : end] = fields

    def copy_rows(self, indices: list[int]) -> list[bytes | memoryview]:
        """COPY's binary data for these rows, in pieces."""
        data = memoryview(self.copy_data)
        if len(indices) == len(self.ends):
            return [rows.HEADER, data, rows.TRAILER]
        ends = self.ends
        chosen = b"".join(data[ends[index - 1] if index else 0 : ends[index]] for index in indices)
        return [rows.HEADER, chosen, rows.TRAILER]


def content_version(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


def already_read(*, source: str, key: str, version: str) -> bool:
    return LogObject.objects.filter(
        source=source, key=key, version=version, status=LogObject.Status.DONE
    ).exists()


def store_log_file(*, source: str, key: str, version: str, content: bytes) -> FileResult:
    """Decode and store one log file, recording it as read (or failed)."""
    prepared = prepare_log_file(
        key=key,
        content=content,
        for_copy=copy_wanted(),
        max_bytes=settings.INGEST_MAX_FILE_BYTES,
    )
    [result] = store_prepared([(prepared, version)], source=source)
    return result


def store_refused_file(*, source: str, key: str, version: str, size: int, error: str) -> FileResult:
    """Record a file refused without reading it (too large, not a file) as failed."""
    [result] = store_prepared([(failed_file(key, size, f"{key}: {error}"), version)], source=source)
    return result


def too_large(size: int) -> str:
    """Why a file of size bytes is not read."""
    limit = settings.INGEST_MAX_FILE_BYTES
    return f"{size:,} bytes, more than INGEST_MAX_FILE_BYTES={limit:,}: not read"


def failed_file(key: str, size: int, problem: str) -> PreparedFile:
    result = FileResult(name=key, status=LogObject.Status.FAILED, problems=[problem])
    return PreparedFile(key=key, size=size, result=result, for_copy=False)  # no rows to make


def copy_wanted() -> bool:
    """Whether the database takes events by COPY (prepare_log_file's for_copy)."""
    return connection.vendor == "postgresql"


def prepare_log_file(*, key: str, content: bytes, for_copy: bool, max_bytes: int) -> PreparedFile:
    """Decode one log file of at most max_bytes (decompressed) and make its
    records into rows. No database work.

    A record the same file repeats is kept once and counted as a duplicate.
    A file that cannot be read is returned failed, with the reason. Here is
    the boundary of one file: anything reading it raises, even running out of
    memory or parser recursion on a hostile file, fails that file only.
    """
    try:
        return _prepared(key, content, for_copy, max_bytes)
    except TooLarge as error:
        failed = failed_file(
            key, len(content), f"{key}: {error}, the most INGEST_MAX_FILE_BYTES allows"
        )
        failed.too_large = True
        return failed
    except BadLogFile as error:
        return failed_file(key, len(content), f"{key}: {error}")
    except Exception as error:  # the file boundary, see above
        problem = f"{key}: could not be read: {_told(error)}"
        return failed_file(key, len(content), problem)


def _told(error: Exception) -> str:
    """An error in one line (PostgreSQL's add a CONTEXT line)."""
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0]}" if text else type(error).__name__


TOO_DEEP = f"refused: nested deeper than the limit of {MAX_RECORD_DEPTH} levels"


def _prepared(key: str, content: bytes, for_copy: bool, max_bytes: int) -> PreparedFile:
    document = decode_records(content, max_bytes=max_bytes)
    result = FileResult(name=key)
    prepared = PreparedFile(
        key=key, size=len(content), result=result, for_copy=for_copy, decoded=document.size
    )
    result.records = len(document.records)
    encode = records.encode_exactly if document.infinite_numbers else records.encode_quickly
    seen: set[str] = set()
    block = _BlockMaker(prepared)
    for position, record in enumerate(document.records):
        if document.unstorable_text:
            # storable() recurses: a record it cannot walk is refused first.
            if nests_too_deeply(record):
                result.problems.append(f"{key}: Records[{position}]: {TOO_DEEP}")
                continue
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
        if normalised.warnings:
            result.problems.extend(
                f"{key}: Records[{position}]: {warning}" for warning in normalised.warnings
            )
        columns, failed_lookups = _enriched(normalised.columns)
        if failed_lookups:
            result.problems.extend(f"{key}: Records[{position}]: {e}" for e in failed_lookups)
        event_id = columns["event_id"]
        if event_id in seen:
            result.duplicates += 1
            continue
        columns["record"] = len(prepared.event_ids)
        try:
            stored = encode(record)
            geo = b"" if columns["geo"] is None else encode(columns["geo"])
            if for_copy:
                prepared.copy_data += rows.copy_row(columns)
                prepared.ends.append(len(prepared.copy_data))
            else:
                prepared.values.append(rows.insert_values(columns))
        except records.TooDeep:
            result.problems.append(f"{key}: Records[{position}]: {TOO_DEEP}")
            continue
        except records.NotJson as error:
            result.problems.append(f"{key}: Records[{position}]: refused: {error}")
            continue
        except (UnicodeEncodeError, OverflowError, struct.error) as error:
            result.problems.append(f"{key}: Records[{position}]: cannot be stored: {error}")
            continue
        block.add(stored, geo, columns["timestamp"])
        seen.add(event_id)
        prepared.positions.append(position)
        prepared.event_ids.append(event_id)
        prepared.uses.add(
            columns["account_id"],
            columns["user_name"],
            columns["as_number"],
            columns["as_organization"],
            columns["timestamp"],
            columns["access_key_id"],
        )
    block.close()
    return prepared


class _BlockMaker:
    """Gathers a file's stored records into compressed blocks as its rows are made."""

    def __init__(self, prepared: PreparedFile) -> None:
        self.prepared = prepared
        self.records: list[bytes] = []
        self.geos: list[bytes] = []
        self.newest: datetime | None = None

    def add(self, record: bytes, geo: bytes, moment: datetime) -> None:
        self.records.append(record)
        self.geos.append(geo)
        self.newest = moment if self.newest is None else max(self.newest, moment)
        if len(self.records) == records.BLOCK_RECORDS:
            self.close()

    def close(self) -> None:
        if self.records:
            self.prepared.blocks.append(records.pack_block(self.records, self.geos))
            self.prepared.blocks_newest.append(self.newest)
        self.records, self.geos, self.newest = [], [], None


# What the database answers to one file's own data (a value it cannot take, a
# trigger refusing it), as opposed to its own failures (OperationalError).
_REFUSED = (DataError, IntegrityError, ProgrammingError, ValueError)


def store_prepared(batch: list[tuple[PreparedFile, str]], *, source: str) -> list[FileResult]:
    """Store prepared log files (each with its version) and record them as read
    (or failed), in one transaction: their events, the principal-network
    history and their LogObject rows.

    A file the database refuses (its LogObject, say) is rolled back alone and
    recorded as failed, with the database's error. A failure of the database
    itself (a lost connection, a full disk, a deadlock: OperationalError) or
    of the batch as a whole stores none of them, to be read again.
    """
    results = []
    stored = []
    partitions.ensure_days(set().union(*(prepared.uses.days() for prepared, _ in batch)))
    with transaction.atomic():
        watermark.storing()
        for prepared, version in batch:
            results.append(prepared.result)
            if prepared.result.status == LogObject.Status.FAILED:
                _record_failed(source, prepared, version)
                continue
            try:
                with transaction.atomic():
                    new, refused = _store_file(source, prepared, version)
            except _REFUSED as error:
                prepared.result.status = LogObject.Status.FAILED
                prepared.result.problems.append(
                    f"{prepared.key}: could not be stored: {_told(error)}"
                )
                _record_failed(source, prepared, version)
                continue
            stored.append((prepared.uses, new))
            result = prepared.result
            result.new_events = len(new)
            result.newest_event = prepared.uses.newest(new)
            result.problems.extend(refused)
            result.duplicates += len(prepared.event_ids) - len(refused) - result.new_events
        record_network_use(stored)
    return results


def _store_file(source: str, prepared: PreparedFile, version: str) -> tuple[list[int], list[str]]:
    """Insert one file's new events and record it read. Returns the indices of
    the rows that were new, and problems."""
    result = prepared.result
    log_object = _record_log_object(source, prepared.key, version, prepared.size, result)
    new, refused = insert_events(prepared, log_object_id=log_object.pk)
    _store_blocks(prepared, new, log_object_id=log_object.pk)
    problems = [*result.problems, *refused]
    LogObject.objects.filter(pk=log_object.pk).update(
        new_events=len(new),
        duplicates=result.duplicates + len(prepared.event_ids) - len(refused) - len(new),
        problems=len(problems),
        error="\n".join(problems)[:10_000],
    )
    return new, refused


def _store_blocks(prepared: PreparedFile, new: list[int], *, log_object_id: int) -> None:
    """Keep the blocks holding the records of the file's new events."""
    wanted = sorted({index // records.BLOCK_RECORDS for index in new})
    LogRecords.objects.bulk_create(
        [
            LogRecords(
                log_object_id=log_object_id,
                block=block,
                newest=prepared.blocks_newest[block],
                frame=prepared.blocks[block],
            )
            for block in wanted
        ],
        ignore_conflicts=True,  # see LogRecords: the same records, stored before
    )


def _record_failed(source: str, prepared: PreparedFile, version: str) -> None:
    try:
        with transaction.atomic():
            _record_log_object(source, prepared.key, version, prepared.size, prepared.result)
    except _REFUSED as error:
        # A key the database cannot hold: reported, and read again next time.
        prepared.result.problems.append(f"{prepared.key}: could not be recorded: {_told(error)}")


def _enriched(columns: dict[str, Any]) -> tuple[dict[str, Any], tuple[str, ...]]:
    """columns with source.as.* and source.geo, and the lookups that failed."""
    failed: tuple[str, ...] = ()
    if columns["source_ip"]:
        network = network_lookup().lookup(columns["source_ip"])
        columns["as_number"] = network.as_number
        columns["as_organization"] = network.as_organization
        columns["geo"] = network.geo
        failed = network.errors
    return columns, failed


def _record_log_object(
    source: str, key: str, version: str, size: int, result: FileResult
) -> LogObject:
    """Insert or update the file's LogObject row, in one statement."""
    [log_object] = LogObject.objects.bulk_create(
        [
            LogObject(
                source=source,
                key=key,
                version=version,
                size=size,
                status=result.status,
                records=result.records,
                problems=len(result.problems),
                error="\n".join(result.problems)[:10_000],
            )
        ],
        update_conflicts=True,
        unique_fields=["source", "key", "version"],
        update_fields=["size", "status", "records", "problems", "error", "read_at"],
    )
    return log_object


# Insertion bypasses the ORM's per-object work. On PostgreSQL a batch's new
# events go in with one binary COPY: no statement with thousands of parameters
# to build on the client and parse on the server. On SQLite a multi-row
# INSERT … ON CONFLICT DO NOTHING RETURNING tells exactly which events were
# new. A batch the database refuses goes in again row by row, the same way.
def insert_events(prepared: PreparedFile, *, log_object_id: int) -> tuple[list[int], list[str]]:
    """Insert the events not stored yet. Returns the indices of the rows that
    were new, and problems.

    A batch the database refuses is retried row by row, so one record it
    cannot store is reported by its position and the others are kept.
    """
    ingested = timezone.now()
    stored_xid = watermark.stamp()  # after the log object's row: a write, on SQLite the lock
    if prepared.for_copy:
        prepared.store_at(ingested, log_object_id, stored_xid)
        batch_rows = COPY_BATCH_ROWS

        def insert(indices: list[int]) -> list[int]:
            return _copy_new(prepared, indices)
    else:
        storing = (ingested, log_object_id, stored_xid)
        batch_rows = INSERT_BATCH_ROWS

        def insert(indices: list[int]) -> list[int]:
            return _insert_new(prepared, indices, storing)

    new: list[int] = []
    problems: list[str] = []
    every = range(len(prepared.event_ids))
    for start in range(0, len(every), batch_rows):
        batch = list(every[start : start + batch_rows])
        try:
            with transaction.atomic():
                new.extend(insert(batch))
        except (DatabaseError, ValueError):
            for index in batch:
                try:
                    with transaction.atomic():
                        new.extend(insert([index]))
                except (DatabaseError, ValueError) as error:
                    position = prepared.positions[index]
                    problems.append(
                        f"{prepared.key}: Records[{position}]: the database refused it: {error}"
                    )
    return new, problems


_TABLE = Event._meta.db_table


def _column_list() -> str:
    return ", ".join(connection.ops.quote_name(f.column) for f in rows.FIELDS)


def _insert_new(prepared: PreparedFile, indices: list[int], storing: tuple) -> list[int]:
    ops = connection.ops
    values = [
        value
        for index in indices
        for value in rows.insert_parameters(prepared.values[index], storing, ops)
    ]
    placeholder = "(" + ", ".join(["%s"] * len(rows.FIELDS)) + ")"
    # Names come from the model; every value is a parameter.
    placeholders = ", ".join([placeholder] * len(indices))
    sql = (
        f"INSERT INTO {ops.quote_name(_TABLE)} ({_column_list()}) VALUES {placeholders} "  # noqa: S608
        "ON CONFLICT (event_id, timestamp) DO NOTHING RETURNING event_id"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, values)
        inserted = {event_id for (event_id,) in cursor.fetchall()}
    return [index for index in indices if prepared.event_ids[index] in inserted]


# COPY has no ON CONFLICT, but a batch rarely holds an event stored before
# (a file read again, or an event two files share), and the unique index
# checks every row anyway: the COPY is tried as is first. Only when it fails
# are the batch's stored events looked up and left out. A writer storing the
# same event at the same moment makes this COPY wait for its commit, and fail
# if it commits, so the look-up sees its events; two that wait on each other
# are a deadlock, which PostgreSQL ends by failing one batch, to be read again.
def _copy_new(prepared: PreparedFile, indices: list[int]) -> list[int]:
    try:
        with transaction.atomic():
            _copy(prepared.copy_rows(indices))
        return indices
    except IntegrityError:
        pass
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT event_id FROM {connection.ops.quote_name(_TABLE)} WHERE event_id = ANY(%s)",  # noqa: S608
            [[prepared.event_ids[index] for index in indices]],
        )
        stored = {event_id for (event_id,) in cursor.fetchall()}
    new = [index for index in indices if prepared.event_ids[index] not in stored]
    if new:
        _copy(prepared.copy_rows(new))
    return new


def _copy(pieces: list[bytes | memoryview]) -> None:
    table = connection.ops.quote_name(_TABLE)
    sql = f"COPY {table} ({_column_list()}) FROM STDIN (FORMAT BINARY)"
    with (
        connection.cursor() as cursor,
        connection.wrap_database_errors,
        cursor.cursor.copy(sql) as copy,
    ):
        for piece in pieces:
            copy.write(piece)
