# The exclusion that closed an alert as a false positive, on the closing status
# change. Nullable, so adding it rewrites no row; PROTECT, because an audit row
# must not lose what it refers to.

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("triage", "0005_alert_episode_start"),
    ]

    operations = [
        migrations.AddField(
            model_name="alertstatuschange",
            name="closed_by_exclusion",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="closed_alerts",
                to="triage.exclusion",
            ),
        ),
    ]
