"""API operations: stored CloudTrail events, searched (ingest.search) and one by one,
each as the ECS document `manage.py export_events` writes (ingest.ecs.ecs_document)."""

from typing import Annotated, Any

from django.core.exceptions import ValidationError
from django.http import HttpRequest
from django.shortcuts import get_object_or_404
from ninja import Field, Path, Query, Router, Schema
from pydantic import IPvAnyAddress

from config.queries import BIGINT_MAX
from ingest.ecs import MAX_FIELD_CHARS, ecs_document
from ingest.models import Event
from ingest.search import SCAN_ROWS, EventFilters, event_search, position_parse, position_text
from triage.api.auth import require_role
from triage.api.fields import Instant, Text
from triage.api.problems import Problem
from triage.queries import ASN_MAX

router = Router(tags=["events"])
EventId = Annotated[int, Path(ge=1, le=BIGINT_MAX)]
# No stored column holds a longer value (ingest.ecs), so a longer filter could match nothing.
Filter = Annotated[Text, Field(max_length=MAX_FIELD_CHARS)]


class EventQuery(Schema):
    account_id: Filter = Field("", description="cloud.account.id")
    user_name: Filter = Field("", description="user.name")
    as_number: int | None = Field(None, ge=0, le=ASN_MAX, description="source.as.number")
    as_organization: Filter = Field(
        "", description="source.as.organization.name, the whole name, case-insensitive"
    )
    source_ip: IPvAnyAddress | None = Field(None, description="source.ip")
    access_key_id: Filter = Field("", description="aws.cloudtrail.user_identity.access_key_id")
    action: Filter = Field("", description="event.action")
    provider: Filter = Field("", description="event.provider")
    outcome: Filter = Field("", description="event.outcome")
    since: Instant | None = Field(None, description="@timestamp from (inclusive)")
    until: Instant | None = Field(None, description="@timestamp before (exclusive)")
    before: Text = Field("", max_length=100, description="the next cursor of the previous page")
    limit: int = Field(50, ge=1, le=200)


class EventItem(Schema):
    id: int = Field(description="GET /events/{id} answers with the same document")
    document: dict[str, Any] = Field(description="the event as ECS, as export_events writes it")


class EventPage(Schema):
    events: list[EventItem]
    next: str | None = Field(None, description="cursor of the next page (older events)")


@router.get(
    "",
    response={200: EventPage},
    summary="Search stored events, newest first",
    description=(
        "Every filter given must match. A principal (account_id with user_name), an "
        "access_key_id and since/until are served by indexes; the other filters are "
        f"checked on at most {SCAN_ROWS} events per page, so a page may hold fewer "
        "events than `limit` and still have a `next` cursor: follow it to search on."
    ),
)
def event_list(request: HttpRequest, filters: Query[EventQuery]) -> EventPage:
    """A page of the events matching every filter given, each as its ECS document."""
    require_role(request)
    before = None
    if filters.before:
        try:
            before = position_parse(filters.before)
        except ValueError as error:
            raise ValidationError({"before": str(error)}) from None
    values = filters.dict(exclude={"before", "limit"})
    values["source_ip"] = str(filters.source_ip) if filters.source_ip is not None else ""
    page = event_search(filters=EventFilters(**values), before=before, limit=filters.limit)
    return EventPage(
        events=[EventItem(id=event.pk, document=ecs_document(event)) for event in page.events],
        next=position_text(page.next) if page.next is not None else None,
    )


@router.get(
    "/{event_id}",
    response={200: dict[str, Any], 404: Problem},
    summary="One event as ECS",
)
def event_detail(request: HttpRequest, event_id: EventId) -> dict[str, Any]:
    """The stored event as the ECS document export_events writes for it."""
    require_role(request)
    return ecs_document(get_object_or_404(Event, pk=event_id))
