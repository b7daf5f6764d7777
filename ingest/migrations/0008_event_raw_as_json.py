"""Event.raw in PostgreSQL's json type rather than jsonb (see ingest.models.RecordField).

Rewrites the event table on PostgreSQL, which takes a while on a large one.
SQLite keeps JSON as text either way.
"""

from django.db import migrations

import ingest.models


def _retype(to: str):
    def retype(apps, schema_editor):
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(
                f"ALTER TABLE ingest_event ALTER COLUMN raw TYPE {to} USING raw::{to}"
            )

    return retype


class Migration(migrations.Migration):
    dependencies = [
        ("ingest", "0007_event_log_object_unindexed"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[migrations.RunPython(_retype("json"), _retype("jsonb"))],
            state_operations=[
                migrations.AlterField(
                    model_name="event",
                    name="raw",
                    field=ingest.models.RecordField(verbose_name="the CloudTrail record"),
                ),
            ],
        )
    ]
