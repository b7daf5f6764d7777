"""Stored events, newest first; the CloudTrail sources and how their polls went.

The Sources page and /sources.json also report the concerns other apps' health
checks find (ingest/health.py), such as a notification destination failing.
"""

import logging
import secrets
from collections.abc import Sequence
from datetime import datetime

from django import forms
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import DatabaseError
from django.db.models import Q
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from config.errors import first_line
from config.queries import BIGINT_MAX, invalid_query
from config.roles import TRIAGE_ROLES, triage_required, user_has_role
from ingest.health import Concern, concerns
from ingest.models import Event
from ingest.sources import SourceOverview, source_overview

logger = logging.getLogger(__name__)

PAGE_SIZE = 50
NO_SOURCE = (
    "no source is configured: set CLOUDTRAIL_S3_BUCKET, CLOUDTRAIL_SQS_QUEUE_URL"
    " or CLOUDTRAIL_INBOX_DIR"
)


class EventPageQuery(forms.Form):
    """?before=<@timestamp>_<id>: the last row of the previous page."""

    before = forms.CharField(required=False, max_length=100)

    def clean_before(self) -> tuple[datetime, int] | None:
        value = self.cleaned_data["before"]
        if not value:
            return None
        moment, _, pk = value.rpartition("_")
        try:
            position = datetime.fromisoformat(moment), int(pk)
        except ValueError:
            position = None
        if position is None or position[0].tzinfo is None or not 0 < position[1] <= BIGINT_MAX:
            raise ValidationError("Not a page of the events list: start again from its first page.")
        return position


@require_GET
@triage_required
def events(request: HttpRequest) -> HttpResponse:
    query = EventPageQuery(request.GET)
    if not query.is_valid():
        return invalid_query(request, query)
    # Keyset pagination: constant cost per page however many millions of events are stored.
    rows = Event.objects.order_by("-timestamp", "-id").only(
        "event_id", "timestamp", "provider", "action", "outcome", "account_id",
        "user_name", "source_address", "source_ip", "as_number", "as_organization",
    )  # fmt: skip
    cursor = query.cleaned_data["before"]
    if cursor:
        moment, pk = cursor
        rows = rows.filter(Q(timestamp__lt=moment) | Q(timestamp=moment, id__lt=pk))
    page = list(rows[: PAGE_SIZE + 1])
    has_more = len(page) > PAGE_SIZE
    page = page[:PAGE_SIZE]
    next_cursor = f"{page[-1].timestamp.isoformat()}_{page[-1].pk}" if has_more else None
    return render(
        request,
        "events.html",
        {"events": page, "next_cursor": next_cursor, "first_page": cursor is None},
    )


@require_GET
@triage_required
def sources(request: HttpRequest) -> HttpResponse:
    now = timezone.now()
    return render(
        request,
        "sources.html",
        {"sources": source_overview(now=now), "concerns": concerns(now=now)},
    )


def _monitoring_token_given(request: HttpRequest) -> bool:
    expected = settings.MONITORING_TOKEN
    given = request.headers.get("Authorization", "")
    return bool(expected) and secrets.compare_digest(given.encode(), f"Bearer {expected}".encode())


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


def _unhealthy(error: str, found: Sequence[Concern] = ()) -> JsonResponse:
    document = {"ok": False, "error": error, "generated_at": timezone.now().isoformat()}
    concerns_found = [_concern_document(concern) for concern in found]
    return JsonResponse({**document, "sources": [], "concerns": concerns_found}, status=503)


@require_GET
def sources_status(request: HttpRequest) -> JsonResponse:
    """For monitoring: 200 when every source is healthy and no check has a concern,
    503 with the reason otherwise.

    A worker with no source, or a database it cannot read, ingests nothing: that
    must not look healthy.
    """
    try:
        # The token first: it needs no session, so a monitor is answered with the database down.
        if not (_monitoring_token_given(request) or user_has_role(request.user, *TRIAGE_ROLES)):
            return JsonResponse(
                {"error": "sign in, or send Authorization: Bearer <MONITORING_TOKEN>"}, status=401
            )
        now = timezone.now()
        overview = source_overview(now=now)
        found = concerns(now=now)
    except DatabaseError as error:
        logger.error("sources.json: the database cannot be read: %s", first_line(error))
        return _unhealthy(f"the database cannot be read: {first_line(error)}")
    if not overview:
        return _unhealthy(NO_SOURCE, found)
    ok = all(source.ok for source in overview) and not found
    return JsonResponse(
        {
            "ok": ok,
            "generated_at": timezone.now().isoformat(),
            "sources": [_source_document(source) for source in overview],
            "concerns": [_concern_document(concern) for concern in found],
        },
        status=200 if ok else 503,
    )
