"""Event.raw in PostgreSQL's json type rather than jsonb (see RecordField).

Rewrites the event table on PostgreSQL, which takes a while on a large one.
SQLite keeps JSON as text either way. Migration 0010 moved the records out of
the event table, so RecordField lives on here only.
"""

from django.db import migrations, models


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
                    field=RecordField(verbose_name="the CloudTrail record"),
                ),
            ],
        )
    ]
