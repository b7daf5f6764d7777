"""Encrypt destinations' targets and secrets at rest (triage/notify/sealed.py).

Rows saved before this migration hold them in clear: they are read and
written back through SQL, sealed with the key SECRET_KEY gives now.
"""

from django.db import migrations

import triage.notify.sealed
from triage.notify.sealed import Unreadable, seal, unseal


def _rewrite(apps, schema_editor, change):
    table = apps.get_model("notify", "Destination")._meta.db_table
    quoted = schema_editor.quote_name(table)
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(f"SELECT id, target, secret FROM {quoted}")  # noqa: S608
        for pk, target, secret in cursor.fetchall():
            cursor.execute(
                f"UPDATE {quoted} SET target = %s, secret = %s WHERE id = %s",  # noqa: S608
                [change(target) if target else target, change(secret) if secret else secret, pk],
            )


def seal_stored(apps, schema_editor):
    _rewrite(apps, schema_editor, seal)


def unseal_stored(apps, schema_editor):
    def clear(token):
        value = unseal(token)
        if isinstance(value, Unreadable):
            raise RuntimeError("a destination's secret cannot be decrypted with SECRET_KEY")
        return value

    _rewrite(apps, schema_editor, clear)


class Migration(migrations.Migration):
    dependencies = [
        ("notify", "0006_assignment_emails"),
    ]

    operations = [
        migrations.AlterField(
            model_name="destination",
            name="secret",
            field=triage.notify.sealed.SealedTextField(
                blank=True, help_text="webhook signing secret, whsec_ and base64"
            ),
        ),
        migrations.AlterField(
            model_name="destination",
            name="target",
            field=triage.notify.sealed.SealedTextField(),
        ),
        migrations.RunPython(seal_stored, unseal_stored, elidable=False),
    ]
