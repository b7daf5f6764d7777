"""The Celery app and its schedule: poll CloudTrail and run the rule every 5 minutes,
deliver due notifications every minute, and e-mail the weekly review
(REVIEW_SCHEDULE, Monday 08:00 UTC by default).

Workers and the scheduler start with `celery -A config worker` and
`celery -A config beat`; settings prefixed CELERY_ in config/settings.py
configure both.
"""

import os

from celery import Celery
from celery.schedules import crontab
from django.conf import settings

from config.env import cron_fields

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("asnwatch")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


def cron(fields: str) -> crontab:
    """A crontab from the five fields cron writes (crontab's own argument order differs)."""
    return crontab(**cron_fields(fields))


POLL_EVERY_SECONDS = 300

app.conf.beat_schedule = {
    "poll-and-detect": {
        "task": "triage.tasks.poll_and_detect",
        "schedule": POLL_EVERY_SECONDS,
        # A run that could not start in time is replaced by the next one, so a
        # worker that was down for hours does not face a backlog of polls.
        "options": {"expires": POLL_EVERY_SECONDS - 10},
    },
    "send-weekly-review": {
        "task": "triage.tasks.send_weekly_review",
        "schedule": cron(settings.REVIEW_SCHEDULE),
        # A digest that could not go out within the day is stale: the next week's replaces it.
        "options": {"expires": 24 * 3600},
    },
    "notify": {
        "task": "triage.notify.tasks.notify",
        "schedule": 60,
        # Runs are interchangeable: a late one is replaced by the next.
        "options": {"expires": 50},
    },
    "delete-old-events": {
        "task": "ingest.tasks.delete_old_events",
        "schedule": crontab(hour=3, minute=17),
        "options": {"expires": 3600},
    },
    "make-event-partitions": {
        "task": "ingest.tasks.make_event_partitions",
        "schedule": crontab(minute=7),
        "options": {"expires": 3000},
    },
}
