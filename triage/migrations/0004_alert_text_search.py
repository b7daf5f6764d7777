"""Trigram indexes for the alert list's free-text search (PostgreSQL only).

The search is a case-insensitive substring match (ILIKE '%…%') on the reason,
which names the action, the function, the user and the organisation, and on
the account id. Without these indexes each search reads every alert. pg_trgm
is a trusted extension: the database owner can create it without superuser.
SQLite, the embedded default, searches without an index.
"""

from django.db import migrations

INDEXES = {
    "alert_reason_trigram": "reason",
    "alert_account_trigram": "account_id",
}


def create(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    for name, column in INDEXES.items():
        schema_editor.execute(
            f"CREATE INDEX IF NOT EXISTS {name} ON triage_alert USING gin ({column} gin_trgm_ops)"
        )


def drop(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name in INDEXES:
        schema_editor.execute(f"DROP INDEX IF EXISTS {name}")


class Migration(migrations.Migration):
    dependencies = [("triage", "0003_alert_list_indexes_assignments_login_failures")]

    operations = [migrations.RunPython(create, drop)]
