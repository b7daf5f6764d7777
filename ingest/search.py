"""Searching stored events: filters, newest first, one page at a time, each page bounded.

What serves a search (ingest/models.py's indexes):
- a principal, account id and user name together: event_principal, newest first;
- an access key id: event_access_key_network (that key's events, however many
  a long-lived key has, sorted by time; with an AS number too, in index order);
- a source IP: event_source_ip, newest first;
- otherwise the timeline, event_newest_first, which since and until bound.
The other filters — network (AS number, organisation), action, provider,
outcome, an account id or a user name alone — have no index of
their own: they are applied to at most SCAN_ROWS events of that order per
page, so a value that never occurs costs no more than a common one. Such a
page can hold fewer events than asked for and still have a next position.
"""

from dataclasses import dataclass
from datetime import datetime

from django.db.models import Q, QuerySet

from config.queries import BIGINT_MAX
from ingest.models import Event, load_details

SCAN_ROWS = 5000

# A place in the newest-first order: an event's @timestamp and id.
Position = tuple[datetime, int]


@dataclass(frozen=True)
class EventFilters:
    """Every filter set must hold; empty ones ("" or None) are left out."""

    account_id: str = ""
    user_name: str = ""
    as_number: int | None = None
    as_organization: str = ""  # the whole name, case-insensitive
    source_ip: str = ""
    access_key_id: str = ""
    action: str = ""
    provider: str = ""
    outcome: str = ""
    since: datetime | None = None  # inclusive
    until: datetime | None = None  # exclusive

    def indexed(self) -> Q:
        """The conditions an index serves in the newest-first order."""
        condition = Q()
        if self.account_id and self.user_name:
            condition &= Q(account_id=self.account_id, user_name=self.user_name)
        if self.access_key_id:
            condition &= Q(access_key_id=self.access_key_id)
        if self.source_ip:
            condition &= Q(source_ip=self.source_ip)
        if self.since is not None:
            condition &= Q(timestamp__gte=self.since)
        if self.until is not None:
            condition &= Q(timestamp__lt=self.until)
        return condition

    def scanned(self) -> Q:
        """The conditions checked on each event of a bounded stretch of that order."""
        condition = Q()
        if self.account_id and not self.user_name:
            condition &= Q(account_id=self.account_id)
        if self.user_name and not self.account_id:
            condition &= Q(user_name=self.user_name)
        if self.as_number is not None:
            condition &= Q(as_number=self.as_number)
        if self.as_organization:
            condition &= Q(as_organization__iexact=self.as_organization)
        for name in ("action", "provider", "outcome"):
            if getattr(self, name):
                condition &= Q(**{name: getattr(self, name)})
        return condition


@dataclass(frozen=True)
class EventPage:
    events: list[Event]
    next: Position | None  # where the next page starts (older events); None at the end


def position_text(position: Position) -> str:
    """A position as the events page and the API write it: <@timestamp>_<id>."""
    moment, pk = position
    return f"{moment.isoformat()}_{pk}"


def position_parse(text: str) -> Position:
    """The position position_text wrote; ValueError if the text is not one."""
    moment, _, pk = text.rpartition("_")
    try:
        position = datetime.fromisoformat(moment), int(pk)
    except ValueError:
        position = None
    if position is None or position[0].tzinfo is None or not 0 < position[1] <= BIGINT_MAX:
        raise ValueError("not a position in the events list: start again from the first page")
    return position


def _older_than(position: Position) -> Q:
    moment, pk = position
    # timestamp__lte is implied; stated, it bounds the index range scanned.
    return Q(timestamp__lte=moment) & (Q(timestamp__lt=moment) | Q(timestamp=moment, id__lt=pk))


def _not_older_than(position: Position) -> Q:
    moment, pk = position
    return Q(timestamp__gte=moment) & (Q(timestamp__gt=moment) | Q(timestamp=moment, id__gte=pk))


def event_search(
    *, filters: EventFilters, before: Position | None = None, limit: int = 50
) -> EventPage:
    """A page of the events matching filters, newest first, older than `before`.

    The events come with their records read (ingest.models.load_details).
    """
    ordered: QuerySet[Event] = Event.objects.filter(filters.indexed()).order_by("-timestamp", "-id")
    if before is not None:
        ordered = ordered.filter(_older_than(before))
    rows, edge = ordered, None
    scanned = filters.scanned()
    if scanned:
        # The last event of the stretch this page examines: found on the index alone.
        last = list(ordered.values_list("timestamp", "id")[SCAN_ROWS - 1 : SCAN_ROWS])
        edge = last[0] if last else None
        rows = ordered.filter(scanned)
        if edge is not None:
            rows = rows.filter(_not_older_than(edge))
    page = list(rows[: limit + 1])
    load_details(page)
    if len(page) > limit:
        page = page[:limit]
        return EventPage(events=page, next=(page[-1].timestamp, page[-1].pk))
    # The page ends where the examined stretch does: the next one goes on past it.
    return EventPage(events=page, next=edge)
