"""The periodic task: poll every CloudTrail source, then run the rule.

Safe to run again at any point (acks_late): reading is remembered per object,
storing is one transaction per object, and the detector evaluates each event
once. Two runs never do the same work at once: polls hold their source's
lease, the detector its row lock, both in the database, so they hold across
workers, machines and restarts.
"""

import logging
from datetime import timedelta

from celery import shared_task
from django.db import DatabaseError
from django.utils import timezone

from config.commands import failure_reason
from config.errors import database_unreachable
from ingest.sources import poll_sources
from triage.detector import AlreadyRunning, detect
from triage.review.selectors import parse_week, week_name
from triage.review.services import review_digest_send

logger = logging.getLogger(__name__)

# Polling stops by itself after POLL_BUDGET (a long backfill continues at the
# next run), leaving the detector time before the soft limit.
POLL_BUDGET = timedelta(minutes=15)
SOFT_TIME_LIMIT = 25 * 60
TIME_LIMIT = 30 * 60


@shared_task(acks_late=True, soft_time_limit=SOFT_TIME_LIMIT, time_limit=TIME_LIMIT)
def poll_and_detect() -> str:
    try:
        return _poll_and_detect()
    except DatabaseError as error:
        if not database_unreachable(error):
            raise
        # Every five minutes while the database is down: one line each, not a traceback.
        logger.error(
            "poll_and_detect: cannot reach the database (%s); what was stored before is "
            "kept, the next run tries again",
            failure_reason(error),
        )
        return "the database cannot be reached"


def _poll_and_detect() -> str:
    reports = poll_sources(deadline=timezone.now() + POLL_BUDGET, progress=logger.info)
    try:
        run = detect()
    except AlreadyRunning as error:
        detection = f"detect skipped: {error}"
    else:
        detection = (
            f"detect: {run.events_evaluated} events evaluated, {run.alerts_created} alerts created"
            f"{', deferred past the cap' if run.deferred else ''}"
        )
    polled = "; ".join(f"{report.source}: {report.summary()}" for report in reports)
    summary = f"{polled or 'no source configured'}; {detection}"
    logger.info("poll_and_detect: %s", summary)
    return summary


@shared_task(soft_time_limit=5 * 60, time_limit=6 * 60)
def send_weekly_review() -> str:
    """E-mail the last full week's review. Not acks_late: a retry would send it twice."""
    week_start = parse_week(None)
    sent = review_digest_send(week_start=week_start)
    return f"weekly review {week_name(week_start)}: {sent} message(s) sent"
