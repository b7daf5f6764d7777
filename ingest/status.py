"""The health document of /sources.json (and the API's sources operation).

ok is true when every source is healthy and no health check (ingest/health.py)
has a concern. A worker with no source, or a database it cannot read, ingests
nothing: that is not ok either.
"""

import logging
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from django.db import DatabaseError
from django.utils import timezone

from config.errors import first_line
from ingest.health import Concern, concerns
from ingest.sources import SourceOverview, source_overview

logger = logging.getLogger(__name__)

NO_SOURCE = (
    "no source is configured: set CLOUDTRAIL_S3_BUCKET, CLOUDTRAIL_SQS_QUEUE_URL"
    " or CLOUDTRAIL_INBOX_DIR"
)


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def _source_document(source: SourceOverview) -> dict:
    state = source.state
    return {
        "name": source.name,
        "kind": source.kind,
        "ok": source.ok,
        "status": source.status,
        "last_poll_started_at": _iso(state and state.last_poll_started_at),
        "last_poll_finished_at": _iso(state and state.last_poll_finished_at),
        "last_success_at": _iso(state and state.last_success_at),
        "last_summary": state.last_summary if state else "",
        "objects_read": state.objects_read if state else 0,
        "events_read": state.events_read if state else 0,
        "objects_failed": state.objects_failed if state else 0,
        "newest_event_at": _iso(state and state.newest_event_at),
        "lag_seconds": int(source.lag.total_seconds()) if source.lag is not None else None,
        "backfill": source.backfill,
        "polling_until": _iso(source.leased_until),
        "problems": [
            {
                "kind": problem.kind,
                "subject": problem.subject,
                "error": problem.error,
                "first_seen": _iso(problem.first_seen),
                "last_seen": _iso(problem.last_seen),
                "count": problem.count,
            }
            for problem in source.problems
        ],
    }


def _concern_document(concern: Concern) -> dict:
    return {
        "kind": concern.kind,
        "subject": concern.subject,
        "error": concern.error,
        "since": _iso(concern.since),
    }


def _unhealthy(error: str, found: Sequence[Concern] = ()) -> dict[str, Any]:
    document = {"ok": False, "error": error, "generated_at": timezone.now().isoformat()}
    return {**document, "sources": [], "concerns": [_concern_document(c) for c in found]}


def unreadable_document(error: Exception) -> dict[str, Any]:
    return _unhealthy(f"the database cannot be read: {first_line(error)}")


def status_document(*, now: datetime) -> dict[str, Any]:
    try:
        overview = source_overview(now=now)
        found = concerns(now=now)
    except DatabaseError as error:
        logger.error("sources.json: the database cannot be read: %s", first_line(error))
        return unreadable_document(error)
    if not overview:
        return _unhealthy(NO_SOURCE, found)
    return {
        "ok": all(source.ok for source in overview) and not found,
        "generated_at": timezone.now().isoformat(),
        "sources": [_source_document(source) for source in overview],
        "concerns": [_concern_document(concern) for concern in found],
    }
