# The earliest event of an alert's episode: a late event that joins an alert
# may precede its trigger. Existing alerts start at their original time.

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("triage", "0004_alert_text_search"),
    ]

    operations = [
        migrations.AddField(
            model_name="alert",
            name="episode_start",
            field=models.DateTimeField(null=True),
        ),
        migrations.RunSQL(
            "UPDATE triage_alert SET episode_start = original_time",
            reverse_sql=migrations.RunSQL.noop,
        ),
        migrations.AlterField(
            model_name="alert",
            name="episode_start",
            field=models.DateTimeField(
                help_text=(
                    "the earliest event time in the episode (a late event may precede the trigger)"
                )
            ),
        ),
    ]
