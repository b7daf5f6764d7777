"""Reads behind the alert preview: the alert's network timeline, how common its network
and source IP are among other principals and accounts (prevalence), and the other
open alerts of its principal and of its network.

Each read is bounded, as on the alert page: prevalence of a network comes from the
principal-network history (one row per principal and network, per day), and that of
a source IP from at most IP_PREVALENCE_ROWS of its newest events in the window, read
from the event_source_ip index alone.
"""

from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Sum
from django.utils.safestring import SafeString

from ingest.models import Event, PrincipalNetworkDay
from triage import selectors
from triage.charts import network_timeline_svg
from triage.models import Alert

IP_PREVALENCE_ROWS = 10_000
NETWORK_PREVALENCE_PRINCIPALS = 1_000
RELATED_ALERTS = 5


@dataclass(frozen=True)
class Timeline:
    networks: list[selectors.NetworkUse]
    chart: SafeString
    since: datetime


def network_timeline(*, alert: Alert, now: datetime) -> Timeline:
    """The principal's networks per day, from 30 days before the alert to today (or to
    30 days after it, for an old alert), the alert's network marked."""
    since = alert.original_time - timedelta(days=selectors.NETWORK_HISTORY_DAYS)
    end = min(now, alert.original_time + timedelta(days=selectors.NETWORK_HISTORY_DAYS))
    networks = selectors.principal_network_history(
        account_id=alert.account_id,
        user_name=alert.user_name,
        since=since,
        until=end,
        alert_organization=alert.as_organization,
    )
    chart = network_timeline_svg(
        networks=networks,
        start=since.date(),
        end=end.date(),
        marker=alert.original_time,
        title=f"Networks used by {alert.user_name} per day",
    )
    return Timeline(networks=networks, chart=chart, since=since)


@dataclass(frozen=True)
class Prevalence:
    """Other principals (account and user name) seen with a network or source IP in the
    30 days up to the alert, the accounts they belong to, and their events."""

    principals: int
    accounts: int
    events: int
    # The figures cover only the newest rows read (they are "at least").
    capped: bool = False


def _prevalence(rows: list[tuple[str, str, int]], *, capped: bool) -> Prevalence:
    return Prevalence(
        principals=len({(account, user) for account, user, _ in rows}),
        accounts=len({account for account, _, _ in rows}),
        events=sum(events for _, _, events in rows),
        capped=capped,
    )


def _window(alert: Alert) -> tuple[datetime, datetime]:
    return alert.original_time - timedelta(days=selectors.NETWORK_HISTORY_DAYS), alert.original_time


def network_prevalence(*, alert: Alert) -> Prevalence | None:
    """How many other principals used the alert's network (its organisation, and AS
    number when known) in the 30 days up to the alert, and how often."""
    if not alert.as_organization:
        return None
    since, until = _window(alert)
    days = PrincipalNetworkDay.objects.filter(
        network__as_organization=alert.as_organization,
        day__gte=since.date(),
        day__lte=until.date(),
    ).exclude(network__account_id=alert.account_id, network__user_name=alert.user_name)
    if alert.as_number is not None:
        days = days.filter(network__as_number=alert.as_number)
    rows = list(
        days.values_list("network__account_id", "network__user_name")
        .annotate(events=Sum("event_count"))
        .order_by()[: NETWORK_PREVALENCE_PRINCIPALS + 1]
    )
    capped = len(rows) > NETWORK_PREVALENCE_PRINCIPALS
    return _prevalence(rows[:NETWORK_PREVALENCE_PRINCIPALS], capped=capped)


def source_ip_prevalence(*, alert: Alert, source_ip: str | None) -> Prevalence | None:
    """How many other principals the alert's source IP served in the 30 days up to the
    alert, from at most IP_PREVALENCE_ROWS of its newest events then."""
    if not source_ip:
        return None
    since, until = _window(alert)
    seen = list(
        Event.objects.filter(source_ip=source_ip, timestamp__gte=since, timestamp__lte=until)
        .order_by("-timestamp")
        .values_list("account_id", "user_name")[:IP_PREVALENCE_ROWS]
    )
    own = (alert.account_id, alert.user_name)
    counts = Counter(principal for principal in seen if principal != own)
    rows = [(account or "", user or "", events) for (account, user), events in counts.items()]
    return _prevalence(rows, capped=len(seen) == IP_PREVALENCE_ROWS)


@dataclass(frozen=True)
class Related:
    """Some of the other open alerts sharing something with an alert, and how many."""

    alerts: list[Alert]
    total: int


def _related(alerts, alert: Alert) -> Related:
    others = alerts.filter(status=Alert.Status.OPEN).exclude(pk=alert.pk)
    return Related(
        alerts=list(others.order_by("-original_time", "-id")[:RELATED_ALERTS]),
        total=others.count(),
    )


def principal_open_alerts(*, alert: Alert) -> Related:
    return _related(
        Alert.objects.filter(account_id=alert.account_id, user_name=alert.user_name), alert
    )


def network_open_alerts(*, alert: Alert) -> Related:
    alerts = Alert.objects.filter(as_organization=alert.as_organization)
    if alert.as_number is not None:
        alerts = alerts.filter(as_number=alert.as_number)
    return _related(alerts, alert)
