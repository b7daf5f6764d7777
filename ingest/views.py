"""Stored events, newest first."""

from datetime import datetime

from django.contrib.auth.decorators import login_required
from django.db.models import Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from ingest.models import Event

PAGE_SIZE = 50


def _cursor(value: str | None) -> tuple[datetime, int] | None:
    """?before=<@timestamp>_<id>: the last row of the previous page."""
    if not value or "_" not in value:
        return None
    moment, _, pk = value.rpartition("_")
    try:
        return datetime.fromisoformat(moment), int(pk)
    except ValueError:
        return None


@require_GET
@login_required
def events(request: HttpRequest) -> HttpResponse:
    # Keyset pagination: constant cost per page however many millions of events are stored.
    rows = Event.objects.order_by("-timestamp", "-id").only(
        "event_id", "timestamp", "provider", "action", "outcome", "account_id",
        "user_name", "source_address", "source_ip", "as_number", "as_organization",
    )  # fmt: skip
    cursor = _cursor(request.GET.get("before"))
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
