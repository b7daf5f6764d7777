"""Events partitioned by day on PostgreSQL, and each event's storing transaction kept.

PostgreSQL: the event table is rebuilt as a table partitioned by range of
@timestamp (ingest.partitions), with a partition per day of the retention
window and a default one, fixed-width columns first, and the same indexes; the
primary key becomes a plain index on id (a key must hold the day), and eventID
is unique per day (the same record has the same eventTime). The detector's
cursor moves from event ids to storing transactions (ingest.watermark): the
events it had evaluated are marked 0 and the others 1 (2 after its cursor when
a run was deferred) and its state row is set to match, so no event is
evaluated twice or skipped. The rebuild copies every event: on a large table
it takes a while, and twice the table's space until the old one is dropped.

SQLite keeps its one table, with the same marks and a plain index on them.
"""

from datetime import timedelta

from django.conf import settings
from django.db import migrations, models
from django.utils import timezone

# Columns of a fixed width first: PostgreSQL pads each to its alignment after a text one.
_FIXED_FIRST = ["timestamp", "ingested", "as_number", "log_object_id", "stored_xid", "record"]


def _marks(cursor) -> tuple[str, dict | None]:
    """The stored_xid each existing event gets (an SQL expression), and the detector's state."""
    cursor.execute(
        "SELECT cursor, pending_from, resume_time, resume_event FROM triage_detectorstate "
        "WHERE id = 1"
    )
    row = cursor.fetchone()
    if row is None:
        return "1", None  # nothing was ever evaluated
    done, pending_from, resume_time, resume_event = row
    if resume_time is None:
        return f"CASE WHEN id <= {int(done)} THEN 0 ELSE 1 END", {"cursor": 1, "pending_from": None}
    return (
        f"CASE WHEN id <= {int(pending_from)} THEN 0 WHEN id <= {int(done)} THEN 1 ELSE 2 END",
        {"cursor": 2, "pending_from": 1},
    )


def _set_state(cursor, state: dict | None) -> None:
    if state is not None:
        cursor.execute(
            "UPDATE triage_detectorstate SET cursor = %s, pending_from = %s WHERE id = 1",
            [state["cursor"], state["pending_from"]],
        )


def _partitioned(apps, schema_editor) -> None:
    Event = apps.get_model("ingest", "Event")
    quote = schema_editor.quote_name
    fields = {field.column: field for field in Event._meta.concrete_fields}
    columns = ["id", *_FIXED_FIRST, *(c for c in fields if c not in _FIXED_FIRST and c != "id")]
    definitions = ["id bigint NOT NULL DEFAULT nextval('ingest_event_ids')"]
    for column in columns[1:]:
        sql, _ = schema_editor.column_sql(Event, fields[column], include_default=False)
        definitions.append(f"{quote(column)} {sql}")
    listed = ", ".join(quote(column) for column in columns)
    today = timezone.now().date()
    retention = max(settings.EVENT_RETENTION_DAYS, settings.HISTORY_WINDOW.days)
    first, last = today - timedelta(days=retention), today + timedelta(days=3)
    with schema_editor.connection.cursor() as cursor:
        marks, state = _marks(cursor)
        cursor.execute("ALTER TABLE ingest_event RENAME TO ingest_event_unpartitioned")
        cursor.execute("CREATE SEQUENCE ingest_event_ids AS bigint")
        cursor.execute(
            f"CREATE TABLE ingest_event ({', '.join(definitions)}) PARTITION BY RANGE (timestamp)"
        )
        cursor.execute("CREATE TABLE ingest_event_default PARTITION OF ingest_event DEFAULT")
        day = first
        while day <= last:
            cursor.execute(
                f"CREATE TABLE ingest_event_{day:%Y%m%d} PARTITION OF ingest_event "
                f"FOR VALUES FROM ('{day.isoformat()} 00:00+00') "
                f"TO ('{(day + timedelta(days=1)).isoformat()} 00:00+00')"
            )
            day += timedelta(days=1)
        selected = listed.replace(quote("stored_xid"), f"{marks} AS stored_xid")
        cursor.execute(
            f"INSERT INTO ingest_event ({listed}) SELECT {selected} FROM ingest_event_unpartitioned"  # noqa: S608
        )
        cursor.execute(
            "SELECT setval('ingest_event_ids', "
            "coalesce((SELECT max(id) FROM ingest_event_unpartitioned), 0) + 1, false)"
        )
        cursor.execute("DROP TABLE ingest_event_unpartitioned")
        cursor.execute("ALTER SEQUENCE ingest_event_ids OWNED BY ingest_event.id")
        cursor.execute("CREATE INDEX event_by_id ON ingest_event (id)")
        cursor.execute("CREATE INDEX event_stored_xid ON ingest_event USING brin (stored_xid)")
        _set_state(cursor, state)
    for index in Event._meta.indexes:
        schema_editor.execute(index.create_sql(Event, schema_editor), params=None)
    for constraint in Event._meta.constraints:
        schema_editor.execute(constraint.create_sql(Event, schema_editor), params=None)


def _marked(apps, schema_editor) -> None:
    with schema_editor.connection.cursor() as cursor:
        marks, state = _marks(cursor)
        cursor.execute(f"UPDATE ingest_event SET stored_xid = {marks}")  # noqa: S608
        cursor.execute("CREATE INDEX event_stored_xid ON ingest_event (stored_xid)")
        _set_state(cursor, state)


def rebuild(apps, schema_editor) -> None:
    if schema_editor.connection.vendor == "postgresql":
        _partitioned(apps, schema_editor)
    else:
        _marked(apps, schema_editor)


def back(apps, schema_editor) -> None:
    """Back to one plain table, while no event is stored (the marks cannot become ids)."""
    with schema_editor.connection.cursor() as cursor:
        cursor.execute("SELECT EXISTS (SELECT 1 FROM ingest_event)")
        if cursor.fetchone()[0]:
            raise RuntimeError("events are stored: ingest 0011 cannot be undone")
        if schema_editor.connection.vendor != "postgresql":
            cursor.execute("DROP INDEX event_stored_xid")
            return
        cursor.execute("DROP TABLE ingest_event")
    schema_editor.create_model(apps.get_model("ingest", "Event"))


class Migration(migrations.Migration):
    dependencies = [
        ("ingest", "0010_event_records_in_blocks"),
        # The references to events lose their database constraints first.
        ("triage", "0012_event_references_without_constraints"),
    ]

    operations = [
        migrations.AddField(
            model_name="event",
            name="stored_xid",
            field=models.BigIntegerField(default=0),
        ),
        migrations.RemoveConstraint(model_name="event", name="event_id_once"),
        migrations.AddConstraint(
            model_name="event",
            constraint=models.UniqueConstraint(
                fields=("event_id", "timestamp"), name="event_id_once"
            ),
        ),
        migrations.RunPython(rebuild, back),
    ]
