"""The periodic task: deliver what is due (the same service as `manage.py notify`).

Safe to run again and side by side: each row is leased by a conditional UPDATE.
The detector also asks for a run as soon as its new alerts are committed
(`notify_soon`), so they go out at once rather than at the next minute.
"""

import logging
import os
import socket

from celery import shared_task
from django.utils import timezone
from kombu.exceptions import KombuError

from triage.notify.services import notify_due

logger = logging.getLogger(__name__)

# A run outlasting its minute is cut off; its leased rows are sent again later.
SOFT_TIME_LIMIT = 4 * 60
TIME_LIMIT = 5 * 60
# A request for an immediate run that waited this long is replaced by the schedule's.
SOON_EXPIRES_SECONDS = 50


@shared_task(soft_time_limit=SOFT_TIME_LIMIT, time_limit=TIME_LIMIT)
def notify() -> str:
    outcome = notify_due(now=timezone.now(), worker=f"{socket.gethostname()}:{os.getpid()}")
    return f"notify: {outcome.summary()}"


def notify_soon() -> None:
    """Ask a worker to deliver now; a broker that cannot take the request fails nothing.

    The rows are committed already, and the schedule's run a minute later sends them.
    """
    try:
        # No retries: the caller (the detector) must not wait for a broker that is down.
        notify.apply_async(retry=False, expires=SOON_EXPIRES_SECONDS)
    except (KombuError, OSError) as error:
        logger.warning(
            "notify: could not ask a worker to deliver now (%s: %s); the next scheduled run will",
            type(error).__name__,
            error,
        )
