"""Stored events, newest first; the CloudTrail sources and how their polls went.

The Sources page and /sources.json also report the concerns other apps' health
checks find (ingest/health.py), such as a notification destination failing.
"""

import json
import logging
import secrets
from datetime import datetime
from urllib.parse import urlencode

from django import forms
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import DatabaseError
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from config.env import parse_instant
from config.errors import first_line
from config.queries import ASN_MAX, invalid_query
from config.roles import TRIAGE_ROLES, triage_required, user_has_role
from ingest.ecs import ecs_document
from ingest.health import concerns
from ingest.models import Event
from ingest.search import (
    SCAN_ROWS,
    EventFilters,
    Position,
    event_search,
    position_parse,
    position_text,
)
from ingest.sources import source_overview
from ingest.status import status_document, unreadable_document

logger = logging.getLogger(__name__)

PAGE_SIZE = 50


class EventSearchForm(forms.Form):
    """The Events page's filters (every one optional) and its page position (?before=)."""

    account = forms.CharField(required=False, max_length=64, label="Account")
    user = forms.CharField(required=False, max_length=256, label="User name")
    asn = forms.IntegerField(required=False, min_value=0, max_value=ASN_MAX, label="AS number")
    org = forms.CharField(required=False, max_length=256, label="AS organisation")
    ip = forms.GenericIPAddressField(required=False, label="Source IP")
    key = forms.CharField(required=False, max_length=128, label="Access key id")
    action = forms.CharField(required=False, max_length=128, label="Action")
    provider = forms.CharField(required=False, max_length=128, label="Provider")
    outcome = forms.ChoiceField(
        required=False,
        choices=[("", "Any outcome"), ("success", "success"), ("failure", "failure")],
    )
    since = forms.CharField(required=False, max_length=40, label="From (UTC)")
    until = forms.CharField(required=False, max_length=40, label="To (UTC)")
    before = forms.CharField(required=False, max_length=100, widget=forms.HiddenInput)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # A date or time without an offset is read in the user's zone, which the labels name.
        zone = timezone.get_current_timezone_name()
        self.fields["since"].label = f"From ({zone})"
        self.fields["until"].label = f"To ({zone})"
        for name in ("since", "until"):
            self.fields[name].widget.attrs["placeholder"] = "YYYY-MM-DD or YYYY-MM-DDTHH:MM"

    def _instant(self, name: str) -> datetime | None:
        value = self.cleaned_data[name].strip()
        if not value:
            return None
        try:
            return parse_instant(value, timezone.get_current_timezone())
        except ValueError:
            zone = timezone.get_current_timezone_name()
            raise ValidationError(
                f"An ISO 8601 date or time, e.g. 2026-11-30 or 2026-11-30T14:00 ({zone}), "
                "or with an offset, e.g. 2026-11-30T14:00Z."
            ) from None

    def clean_since(self) -> datetime | None:
        return self._instant("since")

    def clean_until(self) -> datetime | None:
        return self._instant("until")

    def clean_before(self) -> Position | None:
        value = self.cleaned_data["before"]
        if not value:
            return None
        try:
            return position_parse(value)
        except ValueError:
            raise ValidationError(
                "Not a page of the events list: start again from its first page."
            ) from None

    def filters(self) -> EventFilters:
        data = self.cleaned_data
        return EventFilters(
            account_id=data["account"].strip(),
            user_name=data["user"].strip(),
            as_number=data["asn"],
            as_organization=data["org"].strip(),
            source_ip=data["ip"] or "",
            access_key_id=data["key"].strip(),
            action=data["action"].strip(),
            provider=data["provider"].strip(),
            outcome=data["outcome"],
            since=data["since"],
            until=data["until"],
        )


@require_GET
@triage_required
def events(request: HttpRequest) -> HttpResponse:
    """Stored events, newest first, under the page's filters (ingest/search.py)."""
    form = EventSearchForm(request.GET)
    if not form.is_valid():
        return invalid_query(request, form)
    filters = form.filters()
    before = form.cleaned_data["before"]
    page = event_search(filters=filters, before=before, limit=PAGE_SIZE)
    query = {name: value for name, value in request.GET.items() if value and name != "before"}
    next_query = (
        urlencode({**query, "before": position_text(page.next)}) if page.next is not None else ""
    )
    return render(
        request,
        "events.html",
        {
            "form": form,
            "events": page.events,
            "next_query": next_query,
            "first_page": before is None,
            "filtered": bool(query),
            # A page shorter than asked for, with more to read: only a stretch was searched.
            "partial": page.next is not None and len(page.events) < PAGE_SIZE,
            "scan_rows": SCAN_ROWS,
            "newest_query": urlencode(query),
        },
    )


@require_GET
@triage_required
def event_detail(request: HttpRequest, event_id: int) -> HttpResponse:
    """One event: its ECS fields, and the CloudTrail record as stored."""
    event = Event.objects.filter(pk=event_id).first()
    if event is None:
        raise Http404("No such event.")
    fields = _flatten(ecs_document(event))
    raw = json.dumps(event.raw, indent=2, ensure_ascii=False, sort_keys=True)
    return render(request, "event.html", {"event": event, "fields": fields, "raw": raw})


def _flatten(document: dict, prefix: str = "") -> list[tuple[str, object]]:
    """A nested ECS document as (dotted name, value) rows, in the document's order."""
    rows: list[tuple[str, object]] = []
    for name, value in document.items():
        dotted = f"{prefix}{name}"
        if isinstance(value, dict) and value:
            rows += _flatten(value, f"{dotted}.")
        else:
            rows.append((dotted, value))
    return rows


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
