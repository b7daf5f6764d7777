"""The weekly false-positive review: its figures (one selector, used by the page, the
CSV export and the e-mailed digest) and the digest itself.

A week is Monday 00:00 to the next Monday 00:00, UTC, named as ISO 8601 does
(2026-W47). The definitions the page states, in one place:
- closed that week: alerts whose closing status change falls in the week
  (an alert closed twice that week counts once, with its last reason);
- false-positive rate: false positives among those closed that week;
- time to acknowledge and to close: over the alerts created that week, from
  creation to their first acknowledge (or their close, when closed without
  being acknowledged first) and to their first close; medians, and the 90th
  percentile by nearest rank;
- still open after 24 hours: alerts created that week that were not closed
  within 24 hours of being created.
"""

import csv
import io
import math
import statistics
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from urllib.parse import urlencode

from django.conf import settings
from django.core.mail import send_mail
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from triage.models import Alert, AlertStatusChange, Exclusion, ExclusionChange

WEEK = timedelta(days=7)
EXPIRING_WITHIN = timedelta(days=14)
OPEN_TOO_LONG = timedelta(hours=24)
PROPOSE_FROM = 2  # false positives of one network or principal before proposing an exclusion
OPEN = "open"  # the per-day chart's series for alerts not closed (yet)


def week_name(week_start: date) -> str:
    year, week, _ = week_start.isocalendar()
    return f"{year}-W{week:02d}"


def parse_week(value: str | None, *, today: date | None = None) -> date:
    """The Monday of `2026-W47`; without a value, of the last full week. ValueError if bad."""
    if not value:
        today = today or timezone.now().astimezone(UTC).date()
        return today - timedelta(days=today.weekday()) - WEEK
    try:
        year, week = value.strip().upper().split("-W")
        return date.fromisocalendar(int(year), int(week), 1)
    except ValueError:
        raise ValueError(f"{value!r} is not an ISO week such as 2026-W47") from None


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


@dataclass
class WeeklyReview:
    week_start: date
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
    closed_at: dict[int, datetime]  # alert id → its first close

    @property
    def name(self) -> str:
        return week_name(self.week_start)

    @property
    def week_end(self) -> date:
        """The Sunday that ends the week."""
        return self.week_start + timedelta(days=6)

    @property
    def previous(self) -> str:
        return week_name(self.week_start - WEEK)

    @property
    def next(self) -> str:
        return week_name(self.week_start + WEEK)


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
    closed_at: dict[int, datetime] = {}
    for alert in created:
        history = changes[alert.pk]
        first_response = next(
            (c for c in history if c.to_status in (Alert.Status.ACKNOWLEDGED, Alert.Status.CLOSED)),
            None,
        )
        first_close = next((c for c in history if c.to_status == Alert.Status.CLOSED), None)
        if first_response is not None:
            to_acknowledge.append(first_response.changed_at - alert.created_at)
        if first_close is not None:
            to_close.append(first_close.changed_at - alert.created_at)
            closed_at[alert.pk] = first_close.changed_at
        deadline = alert.created_at + OPEN_TOO_LONG
        if deadline <= now and (first_close is None or first_close.changed_at > deadline):
            open_too_long.append(alert)

    # The last close of each alert closed this week, whenever it was created.
    closes = AlertStatusChange.objects.filter(
        to_status=Alert.Status.CLOSED, changed_at__gte=start, changed_at__lt=end
    ).order_by("changed_at", "id")
    reason_of = {change.alert_id: change.reason for change in closes}
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
            alert.close_reason if alert.status == Alert.Status.CLOSED else OPEN
            for alert in created
            if alert.created_at.astimezone(UTC).date() == day
        )
        per_day.append((day, dict(outcomes)))

    week_changes = ExclusionChange.objects.filter(changed_at__gte=start, changed_at__lt=end)
    return WeeklyReview(
        week_start=week_start,
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
        exclusions_expired=list(
            Exclusion.objects.filter(expires_at__gte=start, expires_at__lt=end).order_by(
                "expires_at"
            )
        ),
        exclusions_expiring=list(
            Exclusion.objects.filter(
                enabled=True, expires_at__gte=now, expires_at__lt=now + EXPIRING_WITHIN
            ).order_by("expires_at")
        ),
        open_after_24h=open_too_long,
        per_day=per_day,
        alerts=created,
        closed_at=closed_at,
    )


# ---------------------------------------------------------------- CSV export

CSV_COLUMNS = (
    "alert_id", "created_at", "event_time", "status", "close_reason", "closed_at",
    "as_number", "as_organization", "account_id", "user_name", "event_count", "reason",
)  # fmt: skip
# A spreadsheet runs a cell that starts like a formula; organisation names and
# user names are attacker-chosen, so such cells are quoted as text.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: object) -> str:
    if value is None:
        return ""
    text = value.isoformat() if isinstance(value, datetime) else str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def review_csv(review: WeeklyReview) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    for alert in review.alerts:
        row = (
            alert.pk, alert.created_at, alert.original_time, alert.status, alert.close_reason,
            review.closed_at.get(alert.pk), alert.as_number, alert.as_organization,
            alert.account_id, alert.user_name, alert.event_count, alert.reason,
        )  # fmt: skip
        writer.writerow([csv_cell(value) for value in row])
    return out.getvalue()


# ---------------------------------------------------------------- the digest


def review_url(review: WeeklyReview) -> str:
    return f"{settings.SITE_URL.rstrip('/')}{reverse('review')}?week={review.name}"


def review_digest_send(*, week_start: date) -> int:
    """E-mail the week's review to REVIEW_RECIPIENTS; returns how many messages were sent."""
    recipients = settings.REVIEW_RECIPIENTS
    if not recipients:
        return 0
    review = weekly_review(week_start=week_start)
    context = {"review": review, "url": review_url(review)}
    rate = review.false_positive_rate
    subject = (
        f"asnwatch weekly review {review.name}: {review.created} alerts, "
        f"{review.closed} closed, false positives {f'{rate:.0%}' if rate is not None else 'n/a'}"
    )
    return send_mail(
        subject=subject,
        message=render_to_string("triage/review_digest.txt", context),
        from_email=None,
        recipient_list=recipients,
    )
