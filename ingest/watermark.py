"""Which stored events the detector may take on: a watermark no writer has to lock for.

Several writers store events at once (ingest_files, polls, SQS workers), and an
event's id says nothing of when its transaction commits: a lower id can become
visible after a higher one. So each event carries a mark of the transaction
that stored it (Event.stored_xid), and the detector takes on exactly the events
whose mark is below `visible_below()`: every transaction that could still add
an event with such a mark has ended, so the set never grows behind its back.

PostgreSQL: the mark is the storing transaction's 64-bit id, and below the
oldest transaction still running (pg_snapshot_xmin) every one has ended. A
transaction that stores events and stays open holds the watermark back until
it ends; storing commits every few files.

SQLite has one writer at a time: the mark is one more than the highest stored,
taken once the transaction holds the write lock (after its first write), and
everything up to the highest mark committed is visible.
"""

from django.db import connection

from ingest.models import Event

_TABLE = Event._meta.db_table


def stamp() -> int:
    """The mark of the events the current transaction stores (after its first write, on SQLite)."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SELECT pg_current_xact_id()::text::bigint")
        else:
            cursor.execute(f"SELECT coalesce(max(stored_xid), 0) + 1 FROM {_TABLE}")  # noqa: S608
        return cursor.fetchone()[0]


def visible_below() -> int:
    """Every event with a lower mark is stored for good, and visible now."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint")
        else:
            cursor.execute(f"SELECT coalesce(max(stored_xid), 0) + 1 FROM {_TABLE}")  # noqa: S608
        return cursor.fetchone()[0]
