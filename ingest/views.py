"""Stored events, newest first; the CloudTrail sources and how their polls went.

The Sources page and /sources.json also report the concerns other apps' health
checks find (ingest/health.py), such as a notification destination failing.
"""

import logging
import secrets
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
from ingest.health import concerns
from ingest.models import Event
from ingest.sources import source_overview
from ingest.status import status_document, unreadable_document

logger = logging.getLogger(__name__)

PAGE_SIZE = 50


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


@require_GET
def sources_status(request: HttpRequest) -> JsonResponse:
    """For monitoring: 200 when every source is healthy and no check has a concern,
    503 with the reason otherwise (ingest/status.py)."""
    # The token first: it needs no session, so a monitor is answered with the database down.
    try:
        allowed = _monitoring_token_given(request) or user_has_role(request.user, *TRIAGE_ROLES)
    except DatabaseError as error:
        logger.error("sources.json: the database cannot be read: %s", first_line(error))
        return JsonResponse(unreadable_document(error), status=503)
    if not allowed:
        return JsonResponse(
            {"error": "sign in, or send Authorization: Bearer <MONITORING_TOKEN>"}, status=401
        )
    document = status_document(now=timezone.now())
    return JsonResponse(document, status=200 if document["ok"] else 503)
