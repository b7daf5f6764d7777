"""The two roles (config/roles.py) as groups: analyst and allowlist-admin."""

from django.db import migrations

ROLES = ("analyst", "allowlist-admin")


def create_roles(apps, schema_editor):
    group = apps.get_model("auth", "Group")
    for name in ROLES:
        group.objects.get_or_create(name=name)


class Migration(migrations.Migration):
    dependencies = [
        ("auth", "0012_alter_user_first_name_max_length"),
        ("triage", "0001_initial"),
    ]

    # Reversing keeps the groups: deleting them would silently drop every membership.
    operations = [migrations.RunPython(create_roles, migrations.RunPython.noop)]
