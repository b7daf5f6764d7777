"""The integrations-admin role as a group: who adds, changes and tests destinations."""

from django.db import migrations

ROLE = "integrations-admin"


def create_role(apps, schema_editor):
    apps.get_model("auth", "Group").objects.get_or_create(name=ROLE)


class Migration(migrations.Migration):
    dependencies = [
        ("auth", "0012_alter_user_first_name_max_length"),
        ("notify", "0001_initial"),
    ]

    # Reversing keeps the group: deleting it would silently drop every membership.
    operations = [migrations.RunPython(create_role, migrations.RunPython.noop)]
