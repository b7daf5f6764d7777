"""Periodic ingest work run by Celery workers (the schedule is in config/celery.py)."""

import logging

from celery import shared_task

from ingest import partitions
from ingest.retention import delete_old_events as delete_old_events_service

logger = logging.getLogger(__name__)


# Each batch commits on its own: a run cut short by its time limit keeps what
# it deleted, and the next run (or a redelivery) carries on.
@shared_task(acks_late=True, soft_time_limit=50 * 60, time_limit=55 * 60)
def delete_old_events() -> str:
    report = delete_old_events_service()
    summary = (
        f"deleted {report.deleted} events older than {report.cutoff:%Y-%m-%d %H:%M}Z; "
        f"kept {report.kept} older ones that alerts refer to"
    )
    if report.days_dropped:
        summary += f"; dropped {len(report.days_dropped)} days' partitions"
    logger.info("retention: %s", summary)
    return summary


@shared_task(acks_late=True, soft_time_limit=10 * 60, time_limit=11 * 60)
def make_event_partitions() -> str:
    """Make the coming days' event partitions before their events arrive (PostgreSQL)."""
    made = partitions.make_ahead()
    return f"made partitions for {', '.join(f'{day:%Y-%m-%d}' for day in made) or 'no day'}"
