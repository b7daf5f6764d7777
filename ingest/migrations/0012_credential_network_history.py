"""Where each access key was used, kept as events are stored, instead of an index on events.

The history is made from the stored events first, then the index that the
alert page's credential step read (event_access_key_network, about a tenth of
an event's bytes) goes.
"""

from django.db import migrations, models
from django.db.models import Count, Max, Min

NO_AS = 0  # CredentialNetwork.NO_AS


def from_events(apps, schema_editor):
    Event = apps.get_model("ingest", "Event")
    CredentialNetwork = apps.get_model("ingest", "CredentialNetwork")
    used = (
        Event.objects.filter(access_key_id__isnull=False)
        .exclude(access_key_id="")
        .values("access_key_id", "as_number")
        .annotate(first=Min("timestamp"), last=Max("timestamp"), count=Count("id"))
        .order_by()
    )
    rows = []
    for row in used.iterator(chunk_size=2000):
        number = row["as_number"]
        network = {"as_number": number} if number is not None else {"as_number__isnull": True}
        last = Event.objects.filter(access_key_id=row["access_key_id"], **network)
        rows.append(
            CredentialNetwork(
                access_key_id=row["access_key_id"],
                as_number=NO_AS if number is None else number,
                as_organization=last.order_by("-timestamp", "-id")
                .values_list("as_organization", flat=True)
                .first(),
                first_seen=row["first"],
                last_seen=row["last"],
                event_count=row["count"],
            )
        )
        if len(rows) >= 2000:
            CredentialNetwork.objects.bulk_create(rows)
            rows.clear()
    CredentialNetwork.objects.bulk_create(rows)


class Migration(migrations.Migration):
    dependencies = [
        ("ingest", "0011_event_partitioned_by_day"),
    ]

    operations = [
        migrations.CreateModel(
            name="CredentialNetwork",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("access_key_id", models.TextField()),
                ("as_number", models.BigIntegerField(help_text="NO_AS when the address had none")),
                ("as_organization", models.TextField(null=True)),
                ("first_seen", models.DateTimeField()),
                ("last_seen", models.DateTimeField()),
                ("event_count", models.BigIntegerField()),
            ],
        ),
        migrations.AddConstraint(
            model_name="credentialnetwork",
            constraint=models.UniqueConstraint(
                fields=("access_key_id", "as_number"), name="credential_network_once"
            ),
        ),
        migrations.RunPython(from_events, migrations.RunPython.noop),
        migrations.RemoveIndex(
            model_name="event",
            name="event_access_key_network",
        ),
    ]
