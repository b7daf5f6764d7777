"""The event table by day, on PostgreSQL: partitions made ahead, and whole days dropped.

`ingest_event` is partitioned by range of @timestamp, one partition per UTC
day (`ingest_event_20261201`), from the retention cutoff to DAYS_AHEAD days
from now, and a default partition (`ingest_event_default`) for events outside
that window: a backfill of old logs, a clock far ahead. The worker makes the
coming days' partitions (ingest.tasks.make_event_partitions) and a writer makes
a missing one for the days its files hold (ensure_days), so an event always has
a place; a day's partition takes what the default partition held of it.

Retention (ingest.retention) drops a day's partition whole once it is older
than EVENT_RETENTION_DAYS. The events alerts refer to stay: a day that has some
is replaced by a partition holding just them, under the same name, so they
keep their ids, their day and their uniqueness by (eventID, @timestamp).

Making and dropping a partition takes an exclusive lock on the event table
for a moment; each waits at most LOCK_TIMEOUT for it, so storing and reading
never wait longer than that behind one, and a busy moment is tried again later.
SQLite (the embedded default) has one plain table: none of this applies there.
"""

import re
import threading
from datetime import UTC, date, datetime, time, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

TABLE = "ingest_event"
DEFAULT = "ingest_event_default"
DAYS_AHEAD = 3
LOCK_TIMEOUT = "2s"
_NAME = re.compile(r"^ingest_event_(\d{8})$")

_known: set[date] = set()  # days this process has seen a partition for
_known_lock = threading.Lock()


def partitioned() -> bool:
    return connection.vendor == "postgresql"


def name(day: date) -> str:
    return f"{TABLE}_{day:%Y%m%d}"


def start(day: date) -> datetime:
    return datetime.combine(day, time(), tzinfo=UTC)


def end(day: date) -> datetime:
    return start(day + timedelta(days=1))


def _bounds(day: date) -> str:
    # Partition bounds take no parameters: literals made from the date.
    return f"FOR VALUES FROM ('{start(day).isoformat()}') TO ('{end(day).isoformat()}')"


def window(today: date | None = None) -> tuple[date, date]:
    """The days that get partitions of their own: first and last, inclusive."""
    today = today or timezone.now().astimezone(UTC).date()
    retention = max(settings.EVENT_RETENTION_DAYS, settings.HISTORY_WINDOW.days)
    return today - timedelta(days=retention), today + timedelta(days=DAYS_AHEAD)


def days() -> list[date]:
    """The days that have a partition, oldest first (none on SQLite)."""
    if not partitioned():
        return []
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "WHERE i.inhparent = %s::regclass",
            [TABLE],
        )
        found = [_NAME.match(relname) for (relname,) in cursor.fetchall()]
    return sorted(datetime.strptime(match[1], "%Y%m%d").date() for match in found if match)


def ensure_days(wanted: set[date]) -> list[date]:
    """Make the partitions missing for the days (UTC) that fall in the window; events
    of the others go to the default partition. Returns the days made."""
    if not partitioned() or not wanted:
        return []
    first, last = window()
    wanted = {day for day in wanted if first <= day <= last}
    with _known_lock:
        missing = wanted - _known
    if not missing:
        return []
    return make(sorted(missing))


def make_ahead() -> list[date]:
    """Make every partition the window lacks (the worker runs this every hour)."""
    if not partitioned():
        return []
    first, last = window()
    return make([first + timedelta(days=n) for n in range((last - first).days + 1)])


def make(wanted: list[date]) -> list[date]:
    """Make these days' partitions where missing, each taking its day's events from
    the default partition."""
    made = []
    existing = set(days())
    for day in wanted:
        if day not in existing:
            with transaction.atomic():
                if _make_one(day):
                    made.append(day)
        with _known_lock:
            _known.add(day)
    return made


def _make_one(day: date) -> bool:
    """Make one day's partition; False when another writer made it meanwhile."""
    table = name(day)
    with connection.cursor() as cursor:
        cursor.execute(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'")
        # One maker of a day at a time; the one that waited finds the day made.
        cursor.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [table])
        if day in days():
            return False
        # Names are made here from a date; every value is a parameter.
        cursor.execute(f"CREATE TABLE {table} (LIKE {TABLE} INCLUDING DEFAULTS)")
        cursor.execute(
            f"WITH moved AS (DELETE FROM {DEFAULT} WHERE timestamp >= %s AND timestamp < %s "  # noqa: S608
            f"RETURNING *) INSERT INTO {table} SELECT * FROM moved",
            [start(day), end(day)],
        )
        cursor.execute(f"ALTER TABLE {TABLE} ATTACH PARTITION {table} {_bounds(day)}")
    return True


def replace(day: date, *, keep: list[int]) -> None:
    """Drop a day's partition; with events to keep, put one holding just them in its place.

    Runs in the caller's transaction, which the exclusive lock is held to the end of.
    """
    table = name(day)
    with connection.cursor() as cursor:
        cursor.execute(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'")
        if keep:
            cursor.execute(f"CREATE TABLE {table}_kept (LIKE {TABLE} INCLUDING DEFAULTS)")
            cursor.execute(
                f"INSERT INTO {table}_kept SELECT * FROM {table} WHERE id = ANY(%s)",  # noqa: S608
                [keep],
            )
        cursor.execute(f"ALTER TABLE {TABLE} DETACH PARTITION {table}")
        cursor.execute(f"DROP TABLE {table}")
        if keep:
            cursor.execute(f"ALTER TABLE {table}_kept RENAME TO {table}")
            cursor.execute(f"ALTER TABLE {TABLE} ATTACH PARTITION {table} {_bounds(day)}")


def forget() -> None:
    """Forget the partitions seen (after they are dropped, or between tests)."""
    with _known_lock:
        _known.clear()
