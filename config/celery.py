"""The Celery app and its schedule: poll CloudTrail and run the rule every 5 minutes.

Workers and the scheduler start with `celery -A config worker` and
`celery -A config beat`; settings prefixed CELERY_ in config/settings.py
configure both.
"""

import os

from celery import Celery
from celery.schedules import crontab

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("asnwatch")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

POLL_EVERY_SECONDS = 300

app.conf.beat_schedule = {
    "poll-and-detect": {
        "task": "triage.tasks.poll_and_detect",
        "schedule": POLL_EVERY_SECONDS,
        # A run that could not start in time is replaced by the next one, so a
        # worker that was down for hours does not face a backlog of polls.
        "options": {"expires": POLL_EVERY_SECONDS - 10},
    },
    "delete-old-events": {
        "task": "ingest.tasks.delete_old_events",
        "schedule": crontab(hour=3, minute=17),
        "options": {"expires": 3600},
    },
}
