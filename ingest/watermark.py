"""Which stored events the detector may take on: a watermark no writer has to lock for.

Several writers store events at once (ingest_files, polls, SQS workers), and an
event's id says nothing of when its transaction commits: a lower id can become
visible after a higher one. So each event carries a mark of the transaction
that stored it (Event.stored_xid), and the detector takes on exactly the events
whose mark is below `visible_below()`: every transaction that could still add
an event with such a mark has ended, so the set never grows behind its back.

PostgreSQL: the mark is the storing transaction's 64-bit id. Every
transaction that stores events says so first (storing(): a shared advisory
lock, which no writer waits for), and below the oldest of them still running
(the smallest in-progress id of the snapshot that such a transaction holds, or
the snapshot's xmax) every one has ended. A storing transaction that stays
open holds the watermark back until it ends (storing commits every few
files); no other transaction does.

One transaction that stores, runs the detector and stores again (as a test
does, all in one transaction) sees its own events: two settings local to the
transaction carry its marks, so that what it stores after a run is marked at
or above where the run stopped, and the next run in it reaches that far. A
transaction that only stores, or only detects, has neither: its marks are the
plain transaction ids above.

SQLite has one writer at a time: the mark is one more than the highest stored,
taken once the transaction holds the write lock (after its first write), and
everything up to the highest mark committed (or stored by this transaction) is
visible.
"""

from django.db import connection

from ingest.models import Event

_TABLE = Event._meta.db_table


_STORED_BELOW = "asnwatch.stored_below"  # one more than this transaction's highest mark
_EVALUATED_BELOW = "asnwatch.evaluated_below"  # where a run in this transaction stopped


def _local(name: str) -> str:
    return f"coalesce(nullif(current_setting('{name}', true), '')::bigint, 0)"


# Every transaction that stores events holds this advisory lock, shared, from
# before its first write to its end. Shared, it keeps no writer from another:
# it only names the transactions the watermark waits for.
STORING_LOCK = 0x61736E77

# The oldest transaction still running that stores events here (or the next to
# start), or past this transaction's own marks. Other transactions (a web
# request, a notification worker, another database on the server) store no
# events: they hold nothing back.
_VISIBLE_BELOW = (
    "SELECT greatest(coalesce((SELECT min(running::text::bigint) "  # noqa: S608
    "FROM pg_snapshot_xip(snapshot) AS running WHERE xid(running) IN ("
    "SELECT held.transactionid FROM pg_locks AS marker JOIN pg_locks AS held "
    "ON held.pid = marker.pid AND held.locktype = 'transactionid' AND held.mode = 'ExclusiveLock' "
    "WHERE marker.locktype = 'advisory' AND marker.granted AND marker.classid = 0 "
    "AND marker.objid = %s AND marker.objsubid = 1 "
    "AND marker.database = (SELECT oid FROM pg_database WHERE datname = current_database()))), "
    "pg_snapshot_xmax(snapshot)::text::bigint), "
    f"{_local(_STORED_BELOW)}) FROM pg_current_snapshot() AS snapshot"
)


def storing() -> None:
    """Say that the current transaction stores events: before its first write."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock_shared(%s)", [STORING_LOCK])


def stamp() -> int:
    """The mark of the events the current transaction stores (after its first write, on SQLite)."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                f"SELECT set_config('{_STORED_BELOW}', (greatest("
                f"pg_current_xact_id()::text::bigint, {_local(_EVALUATED_BELOW)}) + 1)::text, true)"
            )
            return int(cursor.fetchone()[0]) - 1
        cursor.execute(f"SELECT coalesce(max(stored_xid), 0) + 1 FROM {_TABLE}")  # noqa: S608
        return cursor.fetchone()[0]


def visible_below() -> int:
    """Every event with a lower mark is stored for good, or by this transaction: visible now."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(_VISIBLE_BELOW, [STORING_LOCK])
        else:
            cursor.execute(f"SELECT coalesce(max(stored_xid), 0) + 1 FROM {_TABLE}")  # noqa: S608
        return cursor.fetchone()[0]


def evaluated_below(mark: int) -> None:
    """A detector run in this transaction has evaluated every event below mark."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT set_config('{_EVALUATED_BELOW}', %s, true)", [str(mark)])
