"""Each event's record kept once, compressed with its log file's others, not in its row.

The event row keeps the columns the pages filter, sort and list on and the
function name; the other ECS fields are made again from the record
(ingest.records). Every stored event's record and source.geo go into blocks
of its log file, in id order; events stored without a log object (by an
earlier version's tests or scripts) get one log object of their own.

On PostgreSQL, dropping the columns frees no space by itself: the table's
old rows keep it until VACUUM FULL ingest_event (or the partitioning that
follows) rewrites them. Reversible only while no event is stored: the
columns would have to be made again from the records.
"""

import django.db.models.deletion
from django.db import migrations, models

from ingest.records import BLOCK_RECORDS, encode_exactly, encode_quickly, pack_block

CHUNK_EVENTS = 5000


def _encoded(value) -> bytes:
    try:
        return encode_quickly(value)
    except ValueError:  # NaN in jsonb was refused; a record that has one anyway stays as it is
        return encode_exactly(value)


def _function_name(parameters):
    name = parameters.get("functionName") if isinstance(parameters, dict) else None
    return name if isinstance(name, str) else None


def records_into_blocks(apps, schema_editor):
    Event = apps.get_model("ingest", "Event")
    LogObject = apps.get_model("ingest", "LogObject")
    LogRecords = apps.get_model("ingest", "LogRecords")
    orphans = Event.objects.filter(log_object__isnull=True)
    if orphans.exists():
        owner = LogObject.objects.create(
            source="migration",
            key="events stored without a log object",
            version="ingest.0010",
            status="done",
            records=orphans.count(),
        )
        orphans.update(log_object=owner)

    group: list = []

    def flush() -> None:
        if not group:
            return
        blocks = []
        for index in range(0, len(group), BLOCK_RECORDS):
            chosen = group[index : index + BLOCK_RECORDS]
            frame = pack_block(
                [_encoded(event.raw) for event in chosen],
                [b"" if event.geo is None else _encoded(event.geo) for event in chosen],
            )
            newest = max(event.timestamp for event in chosen)
            blocks.append(
                LogRecords(
                    log_object_id=group[0].log_object_id,
                    block=index // BLOCK_RECORDS,
                    newest=newest,
                    frame=frame,
                )
            )
        LogRecords.objects.bulk_create(blocks)
        for index, event in enumerate(group):
            event.record = index
            event.function_name = _function_name(event.request_parameters)
        Event.objects.bulk_update(group, ["record", "function_name"], batch_size=1000)
        group.clear()

    rows = Event.objects.order_by("log_object_id", "id").only(
        "id", "log_object_id", "timestamp", "raw", "geo", "request_parameters"
    )
    for event in rows.iterator(chunk_size=CHUNK_EVENTS):
        if group and event.log_object_id != group[0].log_object_id:
            flush()
        group.append(event)
    flush()


def frames_out_of_line(apps, schema_editor):
    """Blocks are compressed already: PostgreSQL need not try to compress them again."""
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(
            "ALTER TABLE ingest_logrecords ALTER COLUMN frame SET STORAGE EXTERNAL"
        )


class Migration(migrations.Migration):
    dependencies = [
        ("ingest", "0009_event_source_ip"),
    ]

    operations = [
        migrations.CreateModel(
            name="LogRecords",
            fields=[
                (
                    "pk",
                    models.CompositePrimaryKey(
                        "log_object_id",
                        "block",
                        blank=True,
                        editable=False,
                        primary_key=True,
                        serialize=False,
                    ),
                ),
                (
                    "block",
                    models.IntegerField(help_text="the records from block * BLOCK_RECORDS on"),
                ),
                (
                    "newest",
                    models.DateTimeField(help_text="the latest eventTime among its records"),
                ),
                ("frame", models.BinaryField(help_text="ingest.records.pack_block")),
                (
                    "log_object",
                    models.ForeignKey(
                        db_constraint=False,
                        db_index=False,
                        on_delete=django.db.models.deletion.DO_NOTHING,
                        related_name="+",
                        to="ingest.logobject",
                    ),
                ),
            ],
            options={
                "indexes": [models.Index(fields=["newest"], name="log_records_newest")],
            },
        ),
        migrations.RunPython(frames_out_of_line, migrations.RunPython.noop),
        migrations.AddField(
            model_name="event",
            name="function_name",
            field=models.TextField(
                help_text="when it is text",
                null=True,
                verbose_name="aws.cloudtrail.request_parameters.functionName",
            ),
        ),
        migrations.AddField(
            model_name="event",
            name="record",
            field=models.IntegerField(
                null=True, verbose_name="the record's place among its file's stored records"
            ),
        ),
        # Back to 0009 on an empty event table only: its raw column cannot be
        # added back to rows that have none.
        migrations.RunPython(records_into_blocks, migrations.RunPython.noop),
        *(
            migrations.RemoveField(model_name="event", name=name)
            for name in (
                "error_code",
                "error_message",
                "event_category",
                "geo",
                "identity_arn",
                "raw",
                "region",
                "request_parameters",
                "session_issuer_arn",
                "source_address",
                "user_agent",
                "user_id",
            )
        ),
    ]
