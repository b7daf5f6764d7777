"""The detector: the rule over stored events, each evaluated exactly once.

One run is one transaction: it locks the detector's state row (so two runs
never overlap, across processes and machines), evaluates every event stored
after the cursor, writes alerts, moves the cursor and records the run. A run
killed at any point leaves nothing behind and the next run does the same work.

Semantics (DESIGN.md section 3, and docs/detection.md for the choices made):
a candidate that no active exclusion matches raises an alert when no other
non-excluded candidate with the same terms has an eventTime in the 10 days
before it. Later events of the same terms within 10 days of an alert's first
event join that alert (its episode) instead of being counted silently.
"""

import bisect
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime

from django.conf import settings
from django.db import DatabaseError, transaction
from django.db.models import Exists, F, Min, OuterRef, Q
from django.utils import timezone

from ingest.models import Event
from triage import rule
from triage.exclusions import Matcher, active_exclusions
from triage.models import Alert, AlertEvent, DetectionRun, DetectorState, RunSuppression

CHUNK_EVENTS = 5000
Terms = tuple[str, str, str]  # source.as.organization.name, cloud.account.id, user.name

# Everything is_candidate, exclusions and alerts read: anything else would be a query per event.
_FIELDS = (
    "id", "timestamp", "provider", "action", "outcome", "invoked_by", "as_number",
    "as_organization", "account_id", "user_name", "request_parameters",
)  # fmt: skip


class AlreadyRunning(RuntimeError):
    """Another run holds the detector; this one did nothing."""


class RunFailed(RuntimeError):
    """A database error ended the run: it was rolled back and recorded as a failed run.

    When even the failed run cannot be recorded, the database's error is raised instead.
    """


@dataclass
class _Progress:
    run: DetectionRun
    max_alerts: int
    learning_until: datetime | None
    exclusions: list[Matcher]
    suppressed: Counter = field(default_factory=Counter)
    # Alerts by terms, sorted by original_time: the episodes events can join.
    alerts: dict[Terms, list[Alert]] = field(default_factory=lambda: defaultdict(list))


def is_candidate(event: Event) -> bool:
    """The rule's query on one event: case-sensitive, and missing fields never match."""
    return (
        event.provider == rule.PROVIDER
        and event.action.startswith(rule.ACTION_PREFIX)
        and event.outcome == rule.OUTCOME
        and event.invoked_by is None
        and bool(event.as_organization)
        and not event.as_organization.startswith(rule.EXCLUDED_ORGANIZATION_PREFIXES)
        and bool(event.account_id)
        and bool(event.user_name)
    )


def _candidates_q() -> Q:
    """What SQL can narrow before is_candidate decides (prefixes are checked in Python)."""
    return Q(
        provider=rule.PROVIDER,
        invoked_by__isnull=True,
        outcome=rule.OUTCOME,
        as_organization__isnull=False,
        account_id__isnull=False,
        user_name__isnull=False,
    )


def candidate_events_q() -> Q:
    """The whole of is_candidate in SQL, for counts over many events (the impact preview).

    Prefixes are case-sensitive in SQL as in Python (startswith is LIKE, not ILIKE).
    """
    excluded_organizations = Q()
    for prefix in rule.EXCLUDED_ORGANIZATION_PREFIXES:
        excluded_organizations |= Q(as_organization__startswith=prefix)
    return (
        _candidates_q()
        & Q(action__startswith=rule.ACTION_PREFIX)
        & ~Q(as_organization="")
        & ~Q(account_id="")
        & ~Q(user_name="")
        & ~excluded_organizations
    )


def learning_until() -> datetime | None:
    """The end of the learning period, or None while nothing is stored."""
    baseline = settings.DETECTION_BASELINE_START
    if baseline is None:
        baseline = Event.objects.aggregate(first=Min("timestamp"))["first"]
    return baseline + rule.HISTORY_WINDOW if baseline else None


def detect(*, now: datetime | None = None, max_alerts: int = rule.MAX_SIGNALS) -> DetectionRun:
    """Run the rule once over every event stored since the last run."""
    started = now or timezone.now()
    try:
        DetectorState.objects.get_or_create(pk=1)
        with transaction.atomic():
            try:
                state = DetectorState.objects.select_for_update(nowait=True).get(pk=1)
            except DatabaseError:
                raise AlreadyRunning("another detector run is in progress") from None
            run = DetectionRun(started_at=started, cursor_from=state.cursor)
            progress = _Progress(
                run=run,
                max_alerts=max_alerts,
                learning_until=learning_until(),
                exclusions=active_exclusions(at=started),
            )
            run.learning_until = progress.learning_until
            run.save()
            cursor = state.cursor
            while not run.deferred:
                upper = _chunk_upper(cursor)
                if upper is None:
                    break
                cursor = _evaluate_chunk(progress, cursor, upper)
            run.cursor_to = cursor
            run.suppressed = sum(progress.suppressed.values())
            run.finished_at = timezone.now()
            run.save()
            RunSuppression.objects.bulk_create(
                RunSuppression(run=run, exclusion_id=exclusion_id, events=count)
                for exclusion_id, count in sorted(progress.suppressed.items())
            )
            DetectorState.objects.filter(pk=1).update(cursor=cursor, updated_at=timezone.now())
            return run
    except AlreadyRunning:
        raise
    except Exception as error:
        # The transaction is rolled back: the cursor stays, nothing half-done is kept.
        # A database that cannot take this row either raises its own error from here.
        failed = DetectionRun.objects.create(
            started_at=started,
            finished_at=timezone.now(),
            error=f"{type(error).__name__}: {error}",
        )
        if isinstance(error, DatabaseError):
            raise RunFailed(failed.error) from error
        raise


def _chunk_upper(cursor: int) -> int | None:
    """The id that ends the next chunk of stored events after cursor."""
    ids = Event.objects.filter(id__gt=cursor).order_by("id").values_list("id", flat=True)
    last = list(ids[CHUNK_EVENTS - 1 : CHUNK_EVENTS])
    if last:
        return last[0]
    return Event.objects.filter(id__gt=cursor).order_by("-id").values_list("id", flat=True).first()


def _history_exists(exclusions: list[Matcher]) -> Exists:
    """A non-excluded candidate with the same terms in the 10 days before OuterRef's event."""
    history = Event.objects.filter(
        _candidates_q(),
        # As the index's condition spells it, so PostgreSQL can use the index
        # (startswith is case-sensitive there; the Python check is exact everywhere).
        action__startswith=rule.ACTION_PREFIX,
        as_organization=OuterRef("as_organization"),
        account_id=OuterRef("account_id"),
        user_name=OuterRef("user_name"),
        timestamp__lt=OuterRef("timestamp"),
        timestamp__gte=OuterRef("timestamp") - rule.HISTORY_WINDOW,
    )
    excluded = Q()
    for matcher in exclusions:
        excluded |= matcher.q()
    if exclusions:
        history = history.exclude(excluded)
    return Exists(history)


def _evaluate_chunk(progress: _Progress, cursor: int, upper: int) -> int:
    """Evaluate events in (cursor, upper]; returns the new cursor."""
    run = progress.run
    run.events_evaluated += Event.objects.filter(id__gt=cursor, id__lte=upper).count()
    rows = Event.objects.filter(_candidates_q(), id__gt=cursor, id__lte=upper).only(*_FIELDS)
    candidates = [event for event in rows if is_candidate(event)]
    if not candidates:
        return upper
    run.candidates += len(candidates)
    already = set(
        AlertEvent.objects.filter(event_id__in=[c.pk for c in candidates]).values_list(
            "event_id", flat=True
        )
    )
    live = []
    for event in candidates:
        matcher = next((m for m in progress.exclusions if m.matches(event)), None)
        if matcher is not None:
            progress.suppressed[matcher.exclusion_id] += 1
        elif progress.learning_until is None or event.timestamp < progress.learning_until:
            run.learning += 1
        elif event.pk not in already:
            live.append(event)
    if not live:
        return upper

    # The id range lets PostgreSQL reach the chunk through the primary key,
    # where a bare IN list can tempt it into scanning every stored event.
    seen_before = set(
        Event.objects.filter(id__gt=cursor, id__lte=upper, pk__in=[e.pk for e in live])
        .filter(_history_exists(progress.exclusions))
        .values_list("pk", flat=True)
    )
    _load_alerts(progress, live)
    # Earliest first, so that an episode's alert is for its first event.
    live.sort(key=lambda e: (e.timestamp, e.pk))
    for position, event in enumerate(live):
        terms = (event.as_organization, event.account_id, event.user_name)
        alert = _episode(progress.alerts[terms], event.timestamp, new=event.pk not in seen_before)
        if alert is not None:
            _join(alert, event)
            run.events_joined += 1
        elif event.pk in seen_before:
            continue
        elif run.alerts_created >= progress.max_alerts:
            run.deferred = True
            return min(e.pk for e in live[position:]) - 1
        else:
            alert = _open_alert(run, event, terms)
            alerts = progress.alerts[terms]
            alerts.insert(bisect.bisect([a.original_time for a in alerts], event.timestamp), alert)
            run.alerts_created += 1
    return upper


def _load_alerts(progress: _Progress, events: list[Event]) -> None:
    """Load every alert of the events' terms not loaded yet in this run.

    All of them, not a window: a later chunk may hold a late event for any
    episode, and a principal has at most one alert per 10 days of its history.
    """
    terms = {(e.as_organization, e.account_id, e.user_name) for e in events}
    missing = terms - progress.alerts.keys()
    if not missing:
        return
    match = Q()
    for organization, account, user in missing:
        match |= Q(as_organization=organization, account_id=account, user_name=user)
    for alert in Alert.objects.filter(match).order_by("original_time"):
        progress.alerts[(alert.as_organization, alert.account_id, alert.user_name)].append(alert)
    for key in missing:
        progress.alerts.setdefault(key, [])


def _episode(alerts: list[Alert], moment: datetime, *, new: bool) -> Alert | None:
    """The alert an event of these terms belongs to, if any.

    An event within 10 days after an alert's first event is part of its
    episode. A new-term event that arrived late, just before an alert's first
    event (within 10 days), joins that alert instead of opening another.
    """
    times = [a.original_time for a in alerts]
    index = bisect.bisect_right(times, moment) - 1
    if index >= 0 and moment < times[index] + rule.HISTORY_WINDOW:
        return alerts[index]
    if new and index + 1 < len(alerts) and times[index + 1] - moment <= rule.HISTORY_WINDOW:
        return alerts[index + 1]
    return None


def _open_alert(run: DetectionRun, event: Event, terms: Terms) -> Alert:
    parameters = event.request_parameters or {}
    function_name = parameters.get("functionName") if isinstance(parameters, dict) else None
    alert = Alert.objects.create(
        event=event,
        as_organization=terms[0],
        account_id=terms[1],
        user_name=terms[2],
        as_number=event.as_number,
        original_time=event.timestamp,
        episode_start=event.timestamp,
        episode_end=event.timestamp,
        severity=rule.SEVERITY,
        risk_score=rule.RISK_SCORE,
        reason=rule.reason(
            action=event.action,
            function_name=function_name if isinstance(function_name, str) else None,
            user_name=terms[2],
            organization=terms[0],
        ),
        run=run,
    )
    AlertEvent.objects.create(alert=alert, event=event)
    return alert


def _join(alert: Alert, event: Event) -> None:
    AlertEvent.objects.create(alert=alert, event=event)
    Alert.objects.filter(pk=alert.pk).update(event_count=F("event_count") + 1)
    if event.timestamp < alert.episode_start:
        alert.episode_start = event.timestamp
        Alert.objects.filter(pk=alert.pk).update(episode_start=event.timestamp)
    if event.timestamp > alert.episode_end:
        alert.episode_end = event.timestamp
        Alert.objects.filter(pk=alert.pk).update(episode_end=event.timestamp)
