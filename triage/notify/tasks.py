"""The periodic task: deliver what is due (the same service as `manage.py notify`).

Safe to run again and side by side: each row is leased by a conditional UPDATE.
"""

import os
import socket

from celery import shared_task
from django.utils import timezone

from triage.notify.services import notify_due

# A run outlasting its minute is cut off; its leased rows are sent again later.
SOFT_TIME_LIMIT = 4 * 60
TIME_LIMIT = 5 * 60


@shared_task(soft_time_limit=SOFT_TIME_LIMIT, time_limit=TIME_LIMIT)
def notify() -> str:
    outcome = notify_due(now=timezone.now(), worker=f"{socket.gethostname()}:{os.getpid()}")
    return f"notify: {outcome.summary()}"
