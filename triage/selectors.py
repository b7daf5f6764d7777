"""Reads behind the triage pages: the alert list, the evidence of each investigation step,
principals, networks and the status banners.

Every read here is bounded, so a page costs the same with 5 million stored
events as with 5 thousand: lists are keyset-paginated, and scans of a busy
principal's or credential's events stop after a fixed number of rows (the
page then says the figures cover only those).
"""

import json
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from django.contrib.auth import get_user_model
from django.db import connection
from django.db.models import BooleanField, F, Func, Max, Prefetch, Q, QuerySet, Value
from django.utils import timezone

from config.roles import ROLES
from ingest.ecs import ECS_COLUMNS
from ingest.models import (
    CredentialNetwork,
    Event,
    PrincipalNetwork,
    PrincipalNetworkDay,
    load_details,
)
from triage import detector, rule
from triage.models import (
    Alert,
    AlertAssignment,
    AlertEvent,
    AlertNote,
    AlertStatusChange,
    AlertTagChange,
    ChecklistStep,
    DetectionRun,
)
from triage.users.zones import zoned_text

PAGE_SIZE = 50
NETWORK_HISTORY_DAYS = 30
INGESTION_LAG = timedelta(minutes=15)
# Bounds on scans of one principal's or one credential's events (see module docstring).
INVOCATION_SCAN_ROWS = 500
RECENT_EVENTS = 50
AWS_ORGANIZATION_PREFIXES = ("Amazon", "AMAZON")

# Sort keys offered on the list: (column, descending).
SORTS: dict[str, tuple[str, bool]] = {
    "-created": ("created_at", True),
    "created": ("created_at", False),
    "-time": ("original_time", True),
    "time": ("original_time", False),
    "-events": ("event_count", True),
}
DEFAULT_SORT = "-created"


# ---------------------------------------------------------------- the alert list


@dataclass(frozen=True)
class AlertFilters:
    status: str = Alert.Status.OPEN  # "" for any status
    severity: str = ""
    since: datetime | None = None  # on the event time (kibana.alert.original_time)
    until: datetime | None = None
    account_id: str = ""
    user_name: str = ""
    organization: str = ""
    as_number: int | None = None
    assignee_id: int | None = None
    unassigned: bool = False
    text: str = ""
    sort: str = DEFAULT_SORT

    def without_status(self) -> "AlertFilters":
        return AlertFilters(**{**self.__dict__, "status": ""})

    @property
    def narrowed(self) -> bool:
        """Whether anything but the status narrows the list."""
        return self.without_status() != AlertFilters(status="", sort=self.sort)


@dataclass
class AlertPage:
    alerts: list[Alert]
    next_cursor: str | None


class ContainsText(Func):
    """column ILIKE '%text%': a case-insensitive substring match.

    Written as ILIKE rather than Django's icontains (which compares
    UPPER(column)) so that the trigram indexes of
    triage/migrations/0004_alert_text_search.py serve it.
    """

    output_field = BooleanField()

    def __init__(self, column: str, text: str) -> None:
        escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        super().__init__(F(column), Value(f"%{escaped}%"))

    def as_sql(self, compiler, connection, **extra):
        column, column_params = compiler.compile(self.source_expressions[0])
        pattern, pattern_params = compiler.compile(self.source_expressions[1])
        # PostgreSQL escapes LIKE patterns with a backslash by default; SQLite's LIKE
        # is already case-insensitive (for ASCII) but needs to be told the escape.
        if connection.vendor == "postgresql":
            sql = f"{column} ILIKE {pattern}"
        else:
            sql = f"{column} LIKE {pattern} ESCAPE '\\'"
        return sql, [*column_params, *pattern_params]


def _filtered(filters: AlertFilters) -> QuerySet[Alert]:
    alerts = Alert.objects.all()
    if filters.status:
        alerts = alerts.filter(status=filters.status)
    if filters.severity:
        alerts = alerts.filter(severity=filters.severity)
    if filters.since:
        alerts = alerts.filter(original_time__gte=filters.since)
    if filters.until:
        alerts = alerts.filter(original_time__lt=filters.until)
    if filters.account_id:
        alerts = alerts.filter(account_id=filters.account_id)
    if filters.user_name:
        alerts = alerts.filter(user_name=filters.user_name)
    if filters.organization:
        alerts = alerts.filter(as_organization=filters.organization)
    if filters.as_number is not None:
        alerts = alerts.filter(as_number=filters.as_number)
    if filters.unassigned:
        alerts = alerts.filter(assignee__isnull=True)
    elif filters.assignee_id is not None:
        alerts = alerts.filter(assignee_id=filters.assignee_id)
    if filters.text:
        # The reason names the action, the function, the user and the organisation.
        alerts = alerts.filter(
            ContainsText("reason", filters.text) | ContainsText("account_id", filters.text)
        )
    return alerts


def alerts_filtered(filters: AlertFilters) -> QuerySet[Alert]:
    """Every alert the list's filters match, unordered: the alert list grouped
    (triage.grouping) reads the same alerts as the list."""
    return _filtered(filters)


def _encode_cursor(value: Any, pk: int) -> str:
    text = value.isoformat() if isinstance(value, datetime) else str(value)
    return f"{text}_{pk}"


def _decode_cursor(cursor: str | None, column: str) -> tuple[Any, int] | None:
    """The last row of the previous page; None (the first page) for anything unreadable."""
    if not cursor or "_" not in cursor:
        return None
    value, _, pk = cursor.rpartition("_")
    try:
        if column == "event_count":
            return int(value), int(pk)
        moment = datetime.fromisoformat(value)
        if moment.tzinfo is None:
            return None
        return moment, int(pk)
    except ValueError:
        return None


_ALERT_LIST_FIELDS = (
    "id", "as_organization", "account_id", "user_name", "as_number", "original_time",
    "created_at", "event_count", "severity", "risk_score", "status", "close_reason",
    "reason", "assignee__username",
)  # fmt: skip


def alert_list(*, filters: AlertFilters, after: str | None = None) -> AlertPage:
    """One page of alerts, keyset-paginated: constant cost however deep the page.

    The page's ids come from the alert table alone, along one of the sort
    indexes; only those ids are then joined to their events (for the function
    name), so the join never runs over every alert that matches.
    """
    column, descending = SORTS.get(filters.sort, SORTS[DEFAULT_SORT])
    alerts = _filtered(filters)
    position = _decode_cursor(after, column)
    if position is not None:
        value, pk = position
        if descending:
            alerts = alerts.filter(Q(**{f"{column}__lt": value}) | Q(**{column: value}, id__lt=pk))
        else:
            alerts = alerts.filter(Q(**{f"{column}__gt": value}) | Q(**{column: value}, id__gt=pk))
    sign = "-" if descending else ""
    keys = list(
        alerts.order_by(f"{sign}{column}", f"{sign}id").values_list("id", column)[: PAGE_SIZE + 1]
    )
    page = keys[:PAGE_SIZE]
    rows = {
        alert.pk: alert
        for alert in Alert.objects.filter(pk__in=[pk for pk, _ in page])
        .select_related("assignee")
        .annotate(function_name=F("event__function_name"))
        .only(*_ALERT_LIST_FIELDS)
    }
    ordered = [rows[pk] for pk, _ in page if pk in rows]
    for alert in ordered:
        alert.function_name = function_display_name(alert.function_name)
    last_pk, last_value = page[-1] if page else (None, None)
    more = len(keys) > PAGE_SIZE
    return AlertPage(
        alerts=ordered, next_cursor=_encode_cursor(last_value, last_pk) if more else None
    )


def alerts_matching(*, filters: AlertFilters, limit: int) -> list[Alert]:
    """The first `limit` alerts the filters match, oldest first (a bulk change's alerts)."""
    return list(_filtered(filters).order_by("id")[:limit])


# Beyond this, a status says "10,000+": counting every closed alert of a year
# would cost more than the page it is shown on.
COUNT_CAP = 10_000
# Filtered, all statuses are counted in one pass that stops here; past it, each
# count is a lower bound ("2,100+").
FILTERED_COUNT_CAP = 5_000


@dataclass(frozen=True)
class StatusCount:
    count: int
    capped: bool = False

    def __str__(self) -> str:
        return f"{self.count:,}+" if self.capped else f"{self.count:,}"


def alert_status_counts(*, filters: AlertFilters) -> dict[str, StatusCount]:
    """Alerts per status under every filter but the status, each counted up to COUNT_CAP.

    Unfiltered, each status is counted along the status index, stopping at the
    cap. Filtered, one pass over at most FILTERED_COUNT_CAP matching alerts
    counts them all: the filters' indexes find them once instead of three times.
    """
    alerts = _filtered(filters.without_status()).order_by()
    statuses = Alert.Status.values
    if not filters.narrowed:
        found = {
            status: alerts.filter(status=status).values("id")[: COUNT_CAP + 1].count()
            for status in statuses
        }
        return {
            status: StatusCount(min(n, COUNT_CAP), capped=n > COUNT_CAP)
            for status, n in found.items()
        }
    limit = FILTERED_COUNT_CAP
    inner, parameters = alerts.values("status")[: limit + 1].query.sql_with_params()
    with connection.cursor() as cursor:
        # The inner query is Django's own, with its parameters kept apart.
        sql = f"SELECT status, COUNT(*) FROM ({inner}) AS m GROUP BY status"  # noqa: S608
        cursor.execute(sql, parameters)
        grouped = dict(cursor.fetchall())
    capped = sum(grouped.values()) > limit
    return {status: StatusCount(grouped.get(status, 0), capped=capped) for status in statuses}


# "99+ new alerts": the notice needs no exact count beyond this.
NEWER_CAP = 99


def newest_alert_id() -> int:
    """The highest alert id: alerts opened later have higher ones."""
    return Alert.objects.aggregate(newest=Max("id"))["newest"] or 0


def alerts_newer_than(*, filters: AlertFilters, alert_id: int) -> StatusCount:
    """Alerts opened after alert_id that the list's filters would show, up to NEWER_CAP."""
    newer = _filtered(filters).filter(id__gt=alert_id).order_by().values("id")
    found = newer[: NEWER_CAP + 1].count()
    return StatusCount(min(found, NEWER_CAP), capped=found > NEWER_CAP)


def open_alert_count() -> StatusCount:
    """Every open alert, for the browser tab's title (counted up to COUNT_CAP)."""
    found = Alert.objects.filter(status=Alert.Status.OPEN).values("id")[: COUNT_CAP + 1].count()
    return StatusCount(min(found, COUNT_CAP), capped=found > COUNT_CAP)


def status_total(counts: dict[str, StatusCount]) -> StatusCount:
    return StatusCount(
        sum(c.count for c in counts.values()), capped=any(c.capped for c in counts.values())
    )


def assignable_users() -> list:
    """Everyone who can triage: members of either role, and superusers."""
    return list(
        get_user_model()
        .objects.filter(Q(groups__name__in=ROLES) | Q(is_superuser=True), is_active=True)
        .distinct()
        .order_by("username")
        .only("id", "username", "first_name", "last_name")
    )


@dataclass
class Banner:
    level: str  # info, warning, error
    text: str


def status_banners(*, now: datetime | None = None) -> list[Banner]:
    """What an analyst must know before trusting the list: learning, deferral, lag."""
    now = now or timezone.now()
    banners = []
    learning_until = detector.learning_until()
    if learning_until is not None and learning_until > now:
        banners.append(
            Banner(
                "info",
                f"The detector is learning until {zoned_text(learning_until)}: "
                "events before then build each principal's history and raise no alert.",
            )
        )
    last_run = DetectionRun.objects.only(
        "started_at", "deferred", "alerts_created", "error"
    ).first()
    if last_run is not None and last_run.error:
        banners.append(
            Banner("error", f"The last detection run failed: {last_run.error.splitlines()[0]}")
        )
    elif last_run is not None and last_run.deferred:
        banners.append(
            Banner(
                "warning",
                f"The last detection run reached the cap of {last_run.alerts_created} alerts; "
                "the next run continues where it stopped, so more alerts are on the way.",
            )
        )
    # Ids are handed out in the order events are stored, so the highest id is the
    # newest stored event, found through the primary key instead of a scan.
    newest = Event.objects.order_by("-id").values_list("ingested", flat=True).first()
    if newest is None:
        banners.append(Banner("warning", "No CloudTrail events have been stored yet."))
    elif now - newest > INGESTION_LAG:
        minutes = int((now - newest).total_seconds() // 60)
        banners.append(
            Banner(
                "warning",
                f"Ingestion is lagging: the newest event was stored {_duration(minutes)} ago "
                f"({zoned_text(newest)}). Alerts may be missing.",
            )
        )
    return banners


def _duration(minutes: int) -> str:
    if minutes < 120:
        return f"{minutes} minutes"
    if minutes < 48 * 60:
        return f"{minutes // 60} hours"
    return f"{minutes // (24 * 60)} days"


# ---------------------------------------------------------------- one alert


def alert_for_page(*, alert_id: int) -> Alert:
    return Alert.objects.select_related("event", "assignee").get(pk=alert_id)


def function_display_name(value: Any) -> str | None:
    """The function's name from requestParameters.functionName: an ARN, a partial ARN or a name."""
    if not isinstance(value, str) or not value:
        return None
    if ":function:" in value:
        return value.split(":function:", 1)[1].split(":", 1)[0] or value
    return value.split(":", 1)[0] or value


def event_function_name(event: Event) -> str | None:
    """requestParameters.functionName as given (ARN or name), when it is text."""
    return event.function_name or None


def _ecs_value(event: Event, name: str) -> Any:
    if name == "source.geo.country_name":
        return (event.geo or {}).get("country_name")
    column = dict(ECS_COLUMNS)[name]
    return getattr(event, column)


def highlighted_fields(*, event: Event) -> list[tuple[str, Any]]:
    """The rule's investigation fields, in its order, with the triggering event's values."""
    fields = []
    for name in rule.INVESTIGATION_FIELDS:
        value = _ecs_value(event, name)
        if isinstance(value, (dict, list)):
            value = json.dumps(value, sort_keys=True, ensure_ascii=False)
        fields.append((name, value))
    return fields


def raw_record(*, event: Event) -> str:
    return json.dumps(event.raw, indent=2, sort_keys=True, ensure_ascii=False)


EPISODE_EVENTS = 100


def alert_episode(*, alert: Alert, limit: int = EPISODE_EVENTS) -> list[Event]:
    """The episode's first events in event time (the trigger, and those that joined it)."""
    episode = list(
        Event.objects.filter(
            pk__in=AlertEvent.objects.filter(alert=alert).values("event_id")
        ).order_by("timestamp", "id")[:limit]
    )
    load_details(episode)
    return episode


def alert_checklist(*, alert: Alert) -> dict[str, ChecklistStep]:
    return {
        item.step: item
        for item in ChecklistStep.objects.filter(alert=alert).select_related("updated_by")
    }


@dataclass
class HistoryEntry:
    at: datetime
    by: Any
    kind: str  # status, assignment, tags, note
    from_value: str = ""
    to_value: str = ""
    reason: str = ""
    text: str = ""
    tags_added: list[str] = field(default_factory=list)
    tags_removed: list[str] = field(default_factory=list)


def alert_history(*, alert: Alert) -> list[HistoryEntry]:
    """Every change of the alert's status, assignee and tags, and every note, oldest first."""
    entries = [
        HistoryEntry(
            at=change.changed_at,
            by=change.changed_by,
            kind="status",
            from_value=change.from_status,
            to_value=change.to_status,
            reason=Alert.CloseReason(change.reason).label if change.reason else "",
            text=change.comment,
        )
        for change in AlertStatusChange.objects.filter(alert=alert).select_related("changed_by")
    ]
    entries += [
        HistoryEntry(
            at=change.changed_at,
            by=change.changed_by,
            kind="assignment",
            from_value=change.from_assignee.username if change.from_assignee else "",
            to_value=change.to_assignee.username if change.to_assignee else "",
        )
        for change in AlertAssignment.objects.filter(alert=alert).select_related(
            "changed_by", "from_assignee", "to_assignee"
        )
    ]
    entries += [
        HistoryEntry(
            at=change.changed_at,
            by=change.changed_by,
            kind="tags",
            tags_added=change.added,
            tags_removed=change.removed,
        )
        for change in AlertTagChange.objects.filter(alert=alert).select_related("changed_by")
    ]
    entries += [
        HistoryEntry(at=note.created_at, by=note.author, kind="note", text=note.text)
        for note in AlertNote.objects.filter(alert=alert).select_related("author")
    ]
    entries.sort(key=lambda entry: entry.at)
    return entries


# ---------------------------------------------------------------- step 1: networks


@dataclass
class NetworkUse:
    """One network a principal used: all-time totals, and events per day in the window."""

    as_number: int
    as_organization: str
    first_seen: datetime
    last_seen: datetime
    event_count: int
    days: dict[date, int] = field(default_factory=dict)
    is_alert_network: bool = False

    @property
    def is_aws(self) -> bool:
        return self.as_organization.startswith(AWS_ORGANIZATION_PREFIXES)

    @property
    def events_in_window(self) -> int:
        return sum(self.days.values())


def principal_network_history(
    *,
    account_id: str,
    user_name: str,
    since: datetime | None = None,
    until: datetime | None = None,
    alert_organization: str | None = None,
) -> list[NetworkUse]:
    """The networks a principal used (in [since, until] when given), most recently used first."""
    networks = PrincipalNetwork.objects.filter(account_id=account_id, user_name=user_name)
    days = PrincipalNetworkDay.objects.order_by("day")
    if since is not None:
        networks = networks.filter(last_seen__gte=since)
        days = days.filter(day__gte=since.date())
    if until is not None:
        networks = networks.filter(first_seen__lte=until)
        days = days.filter(day__lte=until.date())
    rows = networks.order_by("-last_seen", "id").prefetch_related(
        Prefetch("days", queryset=days, to_attr="window_days")
    )[:100]
    return [
        NetworkUse(
            as_number=row.as_number,
            as_organization=row.as_organization,
            first_seen=row.first_seen,
            last_seen=row.last_seen,
            event_count=row.event_count,
            days={day.day: day.event_count for day in row.window_days},
            is_alert_network=alert_organization is not None
            and row.as_organization == alert_organization,
        )
        for row in rows
    ]


# ---------------------------------------------------------------- step 2: the request


@dataclass
class NetworkCount:
    as_number: int | None
    as_organization: str | None
    events: int
    first: datetime
    last: datetime
    is_alert_network: bool = False
    capped: bool = False

    @property
    def kind(self) -> str:
        """aws, outside (a known network outside AWS) or unknown (no AS: a service host name)."""
        if self.as_number is None and not self.as_organization:
            return "unknown"
        if (self.as_organization or "").startswith(AWS_ORGANIZATION_PREFIXES):
            return "aws"
        return "outside"


@dataclass
class Invocations:
    function_name: str | None
    networks: list[NetworkCount]
    scanned: int
    capped: bool  # the principal has more invocations than were read

    @property
    def total(self) -> int:
        return sum(network.events for network in self.networks)


def _tally(rows, alert_organization: str | None) -> list[NetworkCount]:
    tallies: dict[tuple, NetworkCount] = {}
    for as_number, organization, moment in rows:
        key = (as_number, organization)
        tally = tallies.get(key)
        if tally is None:
            tallies[key] = NetworkCount(
                as_number,
                organization,
                1,
                moment,
                moment,
                is_alert_network=organization is not None and organization == alert_organization,
            )
        else:
            tally.events += 1
            tally.first = min(tally.first, moment)
            tally.last = max(tally.last, moment)
    return sorted(tallies.values(), key=lambda t: (-t.events, t.as_organization or ""))


def function_invocations(
    *,
    account_id: str,
    user_name: str,
    function_name: str | None,
    before: datetime,
    since: datetime,
    alert_organization: str | None = None,
) -> Invocations:
    """How often the principal invoked this function in [since, before), from which networks.

    Reads the principal's newest INVOCATION_SCAN_ROWS invocations in the window
    through the principal index; a function is the same whether it was named
    by ARN or by name.
    """
    name = function_display_name(function_name)
    rows = list(
        Event.objects.filter(
            account_id=account_id,
            user_name=user_name,
            provider=rule.PROVIDER,
            action__startswith=rule.ACTION_PREFIX,
            timestamp__gte=since,
            timestamp__lt=before,
        )
        .order_by("-timestamp")
        .values_list("as_number", "as_organization", "timestamp", "function_name")[
            :INVOCATION_SCAN_ROWS
        ]
    )
    matching = [
        (as_number, organization, moment)
        for as_number, organization, moment, function in rows
        if name is not None and function_display_name(function) == name
    ]
    return Invocations(
        function_name=name,
        networks=_tally(matching, alert_organization),
        scanned=len(rows),
        capped=len(rows) >= INVOCATION_SCAN_ROWS,
    )


# ---------------------------------------------------------------- step 3: the credential


@dataclass
class CredentialUse:
    access_key_id: str | None
    networks: list[NetworkCount]

    @property
    def outside_aws(self) -> list[NetworkCount]:
        return [network for network in self.networks if network.kind == "outside"]

    @property
    def capped(self) -> bool:
        return any(network.capped for network in self.networks)


def credential_networks(
    *,
    access_key_id: str | None,
    alert_organization: str | None = None,
) -> CredentialUse:
    """Every network an access key was used from, with first and last use and a count.

    Read from the credential-network history (ingest.history): one row per AS
    number, however many events a long-lived key has.
    """
    if not access_key_id:
        return CredentialUse(access_key_id=None, networks=[])
    networks = [
        NetworkCount(
            None if row.as_number == CredentialNetwork.NO_AS else row.as_number,
            row.as_organization,
            row.event_count,
            row.first_seen,
            row.last_seen,
            is_alert_network=row.as_organization is not None
            and row.as_organization == alert_organization,
        )
        for row in CredentialNetwork.objects.filter(access_key_id=access_key_id)
    ]
    networks.sort(key=lambda n: (-n.events, n.as_organization or ""))
    return CredentialUse(access_key_id=access_key_id, networks=networks)


# ---------------------------------------------------------------- step 4: other activity

_EVENT_LIST_FIELDS = (
    "id", "event_id", "timestamp", "provider", "action", "outcome", "account_id", "user_name",
    "source_ip", "as_number", "as_organization", "log_object", "record",
)  # fmt: skip


def _listed(events: QuerySet[Event]) -> list[Event]:
    """The events with their records read (a list shows their user agents), a block once."""
    listed = list(events.only(*_EVENT_LIST_FIELDS))
    load_details(listed)
    return listed


def correlated_activity(
    *, account_id: str, user_name: str, organization: str, limit: int = RECENT_EVENTS
) -> list[Event]:
    """The principal's events from this network, newest first.

    The principal-network history bounds the time range, so PostgreSQL walks
    only that stretch of the principal index instead of all of a busy role's events.
    """
    span = PrincipalNetwork.objects.filter(
        account_id=account_id, user_name=user_name, as_organization=organization
    ).values_list("first_seen", "last_seen")
    span = list(span)
    events = Event.objects.filter(
        account_id=account_id, user_name=user_name, as_organization=organization
    )
    if span:
        events = events.filter(
            timestamp__gte=min(first for first, _ in span),
            timestamp__lte=max(last for _, last in span),
        )
    return _listed(events.order_by("-timestamp", "-id")[:limit])


# ---------------------------------------------------------------- principal and network pages


def principal_alerts(*, account_id: str, user_name: str, limit: int = PAGE_SIZE) -> list[Alert]:
    return list(
        Alert.objects.filter(account_id=account_id, user_name=user_name)
        .select_related("assignee")
        .order_by("-original_time", "-id")[:limit]
    )


def principal_recent_events(
    *, account_id: str, user_name: str, limit: int = RECENT_EVENTS
) -> list[Event]:
    return _listed(
        Event.objects.filter(account_id=account_id, user_name=user_name).order_by(
            "-timestamp", "-id"
        )[:limit]
    )


def principal_identity(*, account_id: str, user_name: str) -> Event | None:
    """The principal's newest event: its identity type and ARN as last seen."""
    return (
        Event.objects.filter(account_id=account_id, user_name=user_name)
        .order_by("-timestamp", "-id")
        .only("identity_type", "access_key_id", "timestamp", "log_object", "record")
        .first()
    )


def network_principals(
    *, organization: str | None, as_number: int | None, limit: int = 200
) -> list[PrincipalNetwork]:
    """The principals that used a network, most recently active first."""
    rows = PrincipalNetwork.objects.all()
    if organization is not None:
        rows = rows.filter(as_organization=organization)
    if as_number is not None:
        rows = rows.filter(as_number=as_number)
    return list(rows.order_by("-last_seen", "id")[:limit])


def network_alerts(
    *, organization: str | None, as_number: int | None, limit: int = PAGE_SIZE
) -> list[Alert]:
    alerts = Alert.objects.all()
    if organization is not None:
        alerts = alerts.filter(as_organization=organization)
    if as_number is not None:
        alerts = alerts.filter(as_number=as_number)
    return list(alerts.select_related("assignee").order_by("-original_time", "-id")[:limit])


def network_recent_events(
    *,
    organization: str | None,
    as_number: int | None,
    principals: list[PrincipalNetwork],
    limit: int = RECENT_EVENTS,
) -> list[Event]:
    """Events from a network, newest first, within the span its principals used it."""
    events = Event.objects.all()
    if organization is not None:
        events = events.filter(as_organization=organization or None)
    if as_number is not None:
        events = events.filter(as_number=as_number)
    if principals:
        # Bounding the time lets the newest-first index stop early for a rare network.
        events = events.filter(
            timestamp__gte=min(p.first_seen for p in principals),
            timestamp__lte=max(p.last_seen for p in principals),
        )
    return _listed(events.order_by("-timestamp", "-id")[:limit])
