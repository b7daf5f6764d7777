"""The weekly false-positive review: its figures (one selector, used by the page, the
CSV export and the e-mailed digest) and the digest itself.

A week is Monday 00:00 to the next Monday 00:00, UTC, named as ISO 8601 does
(2026-W47). Its figures describe the week as it stood at its end (or now, while
the week is in progress), from the immutable status-change rows: a past week's
review says the same whenever it is read, and the digest and the page agree.
An alert's status at the end of the week is the one its last change before the
end gave it; "closed" below means closed then. The definitions the page states:
- closed that week: alerts closed at the end of the week by a close that falls
  in the week, with that close's reason (closed, reopened and closed again
  counts once; closed and then reopened within the week does not count);
- false-positive rate: false positives among those closed that week;
- time to acknowledge and to close: over the alerts created that week, from
  creation to their first acknowledge (or close) and to the close they were
  closed by at the end of the week; medians, and the 90th percentile by
  nearest rank;
- still open after 24 hours: alerts created that week that were not closed
  24 hours after being created, once those 24 hours have passed;
- expired that week: exclusions whose expiry falls in the week and is not
  later than now (an exclusion applies until its expiry); expiring: enabled
  exclusions that expire within the next 14 days from now.
"""

import math
import re
import statistics
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from urllib.parse import urlencode

from django.utils import timezone

from triage.models import Alert, AlertStatusChange, Exclusion, ExclusionChange

WEEK = timedelta(days=7)
EXPIRING_WITHIN = timedelta(days=14)
OPEN_TOO_LONG = timedelta(hours=24)
# Long before CloudTrail (2013) and anything asnwatch can hold; a bound that keeps every
# week's dates, and its neighbours', representable.
EARLIEST_WEEK = date(2000, 1, 3)  # 2000-W01
ISO_WEEK = re.compile(r"([0-9]{4})-W([0-9]{2})", re.IGNORECASE)
PROPOSE_FROM = 2  # false positives of one network or principal before proposing an exclusion
OPEN = "open"  # the per-day chart's series for alerts not closed (yet)


def week_name(week_start: date) -> str:
    year, week, _ = week_start.isocalendar()
    return f"{year:04d}-W{week:02d}"


def current_week(*, today: date | None = None) -> date:
    """The Monday of the week in progress."""
    today = today or timezone.now().astimezone(UTC).date()
    return today - timedelta(days=today.weekday())


def parse_week(value: str | None, *, today: date | None = None) -> date:
    """The Monday of `2026-W47`, a week from 2000-W01 to the week in progress; without
    a value, of the last full week. ValueError, naming the value, if it is none of those."""
    latest = current_week(today=today)
    if not value:
        return latest - WEEK
    match = ISO_WEEK.fullmatch(value.strip())
    if match is None:
        raise ValueError(f"{value[:40]!r} is not an ISO week such as 2026-W47")
    year, number = (int(part) for part in match.groups())
    try:
        monday = date.fromisocalendar(year, number, 1)
    except ValueError:
        raise ValueError(f"{year} has no week {number:02d}") from None
    if monday < EARLIEST_WEEK:
        raise ValueError(f"{week_name(monday)} is before {week_name(EARLIEST_WEEK)}")
    if monday > latest:
        raise ValueError(
            f"{week_name(monday)} has not begun; the latest week is {week_name(latest)}"
        )
    return monday


@dataclass
class Durations:
    count: int
    median: timedelta | None
    p90: timedelta | None


def durations(values: list[timedelta]) -> Durations:
    if not values:
        return Durations(0, None, None)
    ordered = sorted(values)
    seconds = statistics.median(value.total_seconds() for value in ordered)
    p90 = ordered[math.ceil(0.9 * len(ordered)) - 1]
    return Durations(len(ordered), timedelta(seconds=seconds), p90)


@dataclass
class FalsePositiveGroup:
    """False positives closed that week from one network or by one principal."""

    count: int
    as_organization: str = ""
    as_numbers: list[int] = field(default_factory=list)
    account_id: str = ""
    user_name: str = ""
    propose_query: str = ""  # the prefilled exclusion form, when worth proposing


@dataclass(frozen=True)
class AlertState:
    """An alert's status at a moment: the one its last change before then gave it."""

    status: str = Alert.Status.OPEN
    close_reason: str = ""
    closed_at: datetime | None = None  # the close that holds, when closed


def alert_state(history: list[AlertStatusChange], *, before: datetime) -> AlertState:
    """The state after the changes of `history` (oldest first) made before `before`."""
    last = None
    for change in history:
        if change.changed_at >= before:
            break
        last = change
    if last is None:
        return AlertState()
    if last.to_status == Alert.Status.CLOSED:
        return AlertState(last.to_status, last.reason, last.changed_at)
    return AlertState(last.to_status)


@dataclass
class WeeklyReview:
    week_start: date
    now: datetime  # when the figures were read; a week in progress is reviewed up to it
    created: int
    closed: int
    closed_by_reason: list[tuple[str, str, int]]  # value, label, count
    false_positive_rate: float | None
    time_to_acknowledge: Durations
    time_to_close: Durations
    fp_by_network: list[FalsePositiveGroup]
    fp_by_principal: list[FalsePositiveGroup]
    exclusions_added: list[Exclusion]
    exclusions_changed: list[ExclusionChange]
    exclusions_expired: list[Exclusion]
    exclusions_expiring: list[Exclusion]
    open_after_24h: list[Alert]
    per_day: list[tuple[date, dict[str, int]]]  # alerts created that day, by outcome
    alerts: list[Alert]  # created that week, oldest first
    states: dict[int, AlertState]  # alert id → its state at the end of the week

    @property
    def name(self) -> str:
        return week_name(self.week_start)

    @property
    def week_end(self) -> date:
        """The Sunday that ends the week."""
        return self.week_start + timedelta(days=6)

    @property
    def in_progress(self) -> bool:
        return self.now < datetime.combine(self.week_start + WEEK, time(), UTC)

    @property
    def previous(self) -> str | None:
        """The week before, unless it is earlier than any week a review covers."""
        before = self.week_start - WEEK
        return week_name(before) if before >= EARLIEST_WEEK else None

    @property
    def next(self) -> str | None:
        """The week after, once it has begun."""
        after = self.week_start + WEEK
        return None if self.in_progress else week_name(after)


def _propose(**conditions: str | int | None) -> str:
    return urlencode({name: value for name, value in conditions.items() if value not in (None, "")})


def _false_positive_groups(
    alerts: list[Alert],
) -> tuple[list[FalsePositiveGroup], list[FalsePositiveGroup]]:
    networks: dict[str, list[Alert]] = defaultdict(list)
    principals: dict[tuple[str, str], list[Alert]] = defaultdict(list)
    for alert in alerts:
        networks[alert.as_organization].append(alert)
        principals[(alert.account_id, alert.user_name)].append(alert)
    by_network = []
    for organization, group in networks.items():
        numbers = sorted({a.as_number for a in group if a.as_number is not None})
        query = ""
        if len(group) >= PROPOSE_FROM:
            query = _propose(org=organization, asn=numbers[0] if len(numbers) == 1 else None)
        by_network.append(
            FalsePositiveGroup(len(group), organization, numbers, propose_query=query)
        )
    by_principal = []
    for (account_id, user_name), group in principals.items():
        organizations = {a.as_organization for a in group}
        query = ""
        if len(group) >= PROPOSE_FROM:
            # A principal's exclusion keeps a network condition when there is one
            # network to name: without one it would hide every network they use.
            single = next(iter(organizations)) if len(organizations) == 1 else None
            query = _propose(org=single, account=account_id, user=user_name)
        by_principal.append(
            FalsePositiveGroup(
                len(group),
                as_organization=", ".join(sorted(organizations)),
                account_id=account_id,
                user_name=user_name,
                propose_query=query,
            )
        )
    order = lambda group: (-group.count, group.as_organization, group.user_name)  # noqa: E731
    return sorted(by_network, key=order), sorted(by_principal, key=order)


def weekly_review(*, week_start: date, now: datetime | None = None) -> WeeklyReview:
    """Every figure of one week's review (see the module's definitions)."""
    now = now or timezone.now()
    start = datetime.combine(week_start, time(), UTC)
    end = start + WEEK

    created = list(
        Alert.objects.filter(created_at__gte=start, created_at__lt=end).order_by("created_at", "id")
    )
    changes: dict[int, list[AlertStatusChange]] = defaultdict(list)
    for change in AlertStatusChange.objects.filter(alert__in=[a.pk for a in created]):
        changes[change.alert_id].append(change)

    to_acknowledge, to_close, open_too_long = [], [], []
    states: dict[int, AlertState] = {}
    for alert in created:
        history = changes[alert.pk]
        states[alert.pk] = state = alert_state(history, before=end)
        first_response = next(
            (
                c
                for c in history
                if c.changed_at < end
                and c.to_status in (Alert.Status.ACKNOWLEDGED, Alert.Status.CLOSED)
            ),
            None,
        )
        if first_response is not None:
            to_acknowledge.append(first_response.changed_at - alert.created_at)
        if state.closed_at is not None:
            to_close.append(state.closed_at - alert.created_at)
        deadline = alert.created_at + OPEN_TOO_LONG
        if deadline <= now and alert_state(history, before=deadline).closed_at is None:
            open_too_long.append(alert)

    # Every alert with a close in the week, whenever it was created, and its history up
    # to the week's end: its last change says whether that close still held.
    closed_in_week = AlertStatusChange.objects.filter(
        to_status=Alert.Status.CLOSED, changed_at__gte=start, changed_at__lt=end
    ).values("alert_id")
    last_change: dict[int, AlertStatusChange] = {}
    for change in AlertStatusChange.objects.filter(
        alert__in=closed_in_week, changed_at__lt=end
    ).order_by("changed_at", "id"):
        last_change[change.alert_id] = change
    reason_of = {
        pk: change.reason
        for pk, change in last_change.items()
        if change.to_status == Alert.Status.CLOSED
    }
    reasons = Counter(reason_of.values())
    closed = len(reason_of)
    false_positives = reasons[Alert.CloseReason.FALSE_POSITIVE]
    fp_alerts = list(
        Alert.objects.filter(
            pk__in=[pk for pk, reason in reason_of.items() if reason == "false_positive"]
        ).order_by("id")
    )
    fp_by_network, fp_by_principal = _false_positive_groups(fp_alerts)

    per_day = []
    for offset in range(7):
        day = week_start + timedelta(days=offset)
        outcomes = Counter(
            states[alert.pk].close_reason or OPEN
            for alert in created
            if alert.created_at.astimezone(UTC).date() == day
        )
        per_day.append((day, dict(outcomes)))

    week_changes = ExclusionChange.objects.filter(changed_at__gte=start, changed_at__lt=end)
    return WeeklyReview(
        week_start=week_start,
        now=now,
        created=len(created),
        closed=closed,
        closed_by_reason=[
            (value, label, reasons[value]) for value, label in Alert.CloseReason.choices
        ],
        false_positive_rate=false_positives / closed if closed else None,
        time_to_acknowledge=durations(to_acknowledge),
        time_to_close=durations(to_close),
        fp_by_network=fp_by_network,
        fp_by_principal=fp_by_principal,
        exclusions_added=list(
            Exclusion.objects.filter(
                pk__in=week_changes.filter(action="created").values("exclusion_id")
            ).order_by("id")
        ),
        exclusions_changed=list(
            week_changes.exclude(action="created")
            .select_related("exclusion")
            .order_by("changed_at", "id")
        ),
        # An exclusion applies while its expiry is later than the moment
        # (triage.allowlist.services), so one expiring later this week has not expired yet.
        exclusions_expired=list(
            Exclusion.objects.filter(
                expires_at__gte=start, expires_at__lt=end, expires_at__lte=now
            ).order_by("expires_at", "id")
        ),
        exclusions_expiring=list(
            Exclusion.objects.filter(
                enabled=True, expires_at__gt=now, expires_at__lt=now + EXPIRING_WITHIN
            ).order_by("expires_at", "id")
        ),
        open_after_24h=open_too_long,
        per_day=per_day,
        alerts=created,
        states=states,
    )
