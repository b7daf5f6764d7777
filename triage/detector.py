"""The detector: the rule over stored events, each evaluated exactly once.

One run is one transaction: it locks the detector's state row (so two runs
never overlap, across processes and machines), evaluates every event stored
after the cursor in (eventTime, id) order, writes alerts, moves the cursor and
records the run, with the outbox rows announcing its new alerts to the
notification destinations (triage/notify). A run killed at any point leaves
nothing behind and the next run does the same work. A run stopped by the
alert cap records the first event it left, in that order, and the next run
evaluates exactly what it left.

The database sorts a run's events and they are read through a server-side
cursor a page at a time, so a backfill of millions of events runs in the
memory of one page.

Semantics (DESIGN.md section 3, and docs/detection.md for the choices made):
a candidate that no active exclusion matches raises an alert when no other
non-excluded candidate with the same terms has an eventTime in the 10 days
before it. Later events of the same terms within 10 days of an alert's first
event join that alert (its episode) instead of being counted silently.
"""

import bisect
import itertools
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime

from django.conf import settings
from django.db import DatabaseError, transaction
from django.db.models import Exists, F, Min, OuterRef, Q
from django.utils import timezone

from ingest.models import Event
from triage import rule
from triage.allowlist.services import Matcher, active_exclusions
from triage.candidates import candidate_events_q, candidates_q, is_candidate
from triage.models import (
    Alert,
    AlertEvent,
    DetectionRun,
    DetectorState,
    RunSuppression,
    SkippedCandidate,
)
from triage.notify.services import deliveries_enqueue_for_alerts
from triage.notify.tasks import notify_soon

PAGE_EVENTS = 5000
Terms = tuple[str, str, str]  # source.as.organization.name, cloud.account.id, user.name

# Everything is_candidate, exclusions and alerts read: anything else would be a query per event.
_FIELDS = (
    "id", "timestamp", "provider", "action", "outcome", "invoked_by", "as_number",
    "as_organization", "account_id", "user_name", "function_name",
)  # fmt: skip


class AlreadyRunning(RuntimeError):
    """Another run holds the detector; this one did nothing."""


class RunFailed(RuntimeError):
    """A database error ended the run: it was rolled back and recorded as a failed run.

    When even the failed run cannot be recorded, the database's error is raised instead.
    """


@dataclass(frozen=True)
class _Scope:
    """The events one run evaluates: ids in (lower, upper], from `resume` on if set."""

    lower: int
    upper: int
    resume: tuple[datetime, int] | None

    def events(self) -> Q:
        ids = Q(id__gt=self.lower, id__lte=self.upper)
        return ids & _at_or_after(*self.resume) if self.resume else ids

    def evaluated_before(self) -> Q:
        """The events earlier runs evaluated (all of them, in every run, precede this one's)."""
        if self.resume is None:
            return Q(id__lte=self.lower)
        return Q(id__lte=self.lower) | (Q(id__lte=self.upper) & ~_at_or_after(*self.resume))


def _at_or_after(moment: datetime, event_id: int) -> Q:
    """Events at or after (moment, event_id) in the (eventTime, id) order runs evaluate in."""
    return Q(timestamp__gt=moment) | Q(timestamp=moment, id__gte=event_id)


@dataclass
class _Progress:
    run: DetectionRun
    scope: _Scope
    max_alerts: int
    learning_until: datetime | None
    exclusions: list[Matcher]
    suppressed: Counter = field(default_factory=Counter)
    # Alerts by terms, sorted by original_time: the episodes events can join.
    alerts: dict[Terms, list[Alert]] = field(default_factory=lambda: defaultdict(list))
    # The alerts this run opened, announced to destinations before the run commits.
    opened: list[Alert] = field(default_factory=list)
    # Alerts of earlier runs that this run's events joined, by id: announced to
    # destinations that report joined alerts.
    joined: dict[int, Alert] = field(default_factory=dict)


def learning_until() -> datetime | None:
    """The end of the learning period, or None while nothing is stored."""
    baseline = settings.DETECTION_BASELINE_START
    if baseline is None:
        baseline = Event.objects.aggregate(first=Min("timestamp"))["first"]
    return baseline + rule.HISTORY_WINDOW if baseline else None


def detect(*, now: datetime | None = None, max_alerts: int | None = None) -> DetectionRun:
    """Run the rule once over every event not yet evaluated (or what a deferred run left).

    At most max_alerts alerts (DETECTION_MAX_ALERTS_PER_RUN unless given) are opened.
    """
    started = now or timezone.now()
    if max_alerts is None:
        max_alerts = settings.DETECTION_MAX_ALERTS_PER_RUN
    try:
        DetectorState.objects.get_or_create(pk=1)
        with transaction.atomic():
            try:
                state = DetectorState.objects.select_for_update(nowait=True).get(pk=1)
            except DatabaseError:
                raise AlreadyRunning("another detector run is in progress") from None
            scope = _scope(state)
            run = DetectionRun(started_at=started, cursor_from=scope.lower, cursor_to=scope.upper)
            progress = _Progress(
                run=run,
                scope=scope,
                max_alerts=max_alerts,
                learning_until=learning_until(),
                exclusions=active_exclusions(at=started),
            )
            run.learning_until = progress.learning_until
            run.save()
            stop = _evaluate(progress)
            evaluated = Event.objects.filter(scope.events())
            if stop is not None:
                run.deferred = True
                run.deferred_at = stop.timestamp
                evaluated = evaluated.exclude(_at_or_after(stop.timestamp, stop.pk))
            run.events_evaluated = evaluated.count()
            run.suppressed = sum(progress.suppressed.values())
            run.finished_at = timezone.now()
            run.save()
            RunSuppression.objects.bulk_create(
                RunSuppression(run=run, exclusion_id=exclusion_id, events=count)
                for exclusion_id, count in sorted(progress.suppressed.items())
            )
            DetectorState.objects.filter(pk=1).update(
                cursor=scope.upper,
                pending_from=scope.lower if stop else None,
                resume_time=stop.timestamp if stop else None,
                resume_event=stop.pk if stop else None,
                updated_at=timezone.now(),
            )
            # The outbox rows commit with the alerts, so a crash before sending loses none;
            # a worker is asked to send them once they are visible to it.
            opened = {alert.pk for alert in progress.opened}
            joined = [alert for pk, alert in progress.joined.items() if pk not in opened]
            if (progress.opened or joined) and deliveries_enqueue_for_alerts(
                alerts=progress.opened, joined=joined, run=run
            ):
                transaction.on_commit(notify_soon)
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


def _scope(state: DetectorState) -> _Scope:
    """What a deferred run left, if anything; else every event stored after the cursor.

    A run that continues a deferred one evaluates only what that run left, so
    that what is left is always one range of ids from one point in time order.
    """
    if state.resume_time is not None:
        return _Scope(
            lower=state.pending_from,
            upper=state.cursor,
            resume=(state.resume_time, state.resume_event),
        )
    # Ids become visible in order (ingest takes an advisory lock per file), so
    # the highest stored id bounds everything this run can see after the cursor.
    newest = Event.objects.order_by("-id").values_list("id", flat=True).first()
    return _Scope(lower=state.cursor, upper=max(state.cursor, newest or 0), resume=None)


def _history_exists(exclusions: list[Matcher]) -> Exists:
    """A non-excluded candidate with the same terms in the 10 days before OuterRef's event."""
    history = Event.objects.filter(
        candidates_q(),
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


def _evaluate(progress: _Progress) -> Event | None:
    """Evaluate the run's events in (eventTime, id) order; the first event left at the cap."""
    rows = (
        Event.objects.filter(progress.scope.events(), candidates_q())
        .order_by("timestamp", "id")
        .only(*_FIELDS)
        .iterator(chunk_size=PAGE_EVENTS)
    )
    while page := list(itertools.islice(rows, PAGE_EVENTS)):
        stop = _evaluate_page(progress, page)
        if stop is not None:
            return stop
    return None


def _evaluate_page(progress: _Progress, page: list[Event]) -> Event | None:
    """Evaluate one page of the run's events, in order; the first event left at the cap."""
    run = progress.run
    candidates = []
    for event in page:
        if is_candidate(event):
            matcher = next((m for m in progress.exclusions if m.matches(event)), None)
            learning = progress.learning_until is None or event.timestamp < progress.learning_until
            candidates.append((event, matcher, learning))
    live = [event for event, matcher, learning in candidates if matcher is None and not learning]
    seen_before = set()
    if live:
        # The id range lets PostgreSQL reach the page through the primary key,
        # where a bare IN list can tempt it into scanning every stored event.
        scope = progress.scope
        seen_before = set(
            Event.objects.filter(
                id__gt=scope.lower, id__lte=scope.upper, pk__in=[e.pk for e in live]
            )
            .filter(_history_exists(progress.exclusions))
            .values_list("pk", flat=True)
        )
        _load_alerts(progress, live)
    skipped = []
    joins: dict[int, tuple[Alert, list[Event]]] = {}
    stop = None
    for event, matcher, learning in candidates:
        if matcher is None and not learning:
            terms = (event.as_organization, event.account_id, event.user_name)
            new = event.pk not in seen_before
            alert = _episode(progress.alerts[terms], event.timestamp, new=new)
            if alert is None and new and run.alerts_created >= progress.max_alerts:
                stop = event
                break
            if alert is not None:
                joins.setdefault(alert.pk, (alert, []))[1].append(event)
                run.events_joined += 1
            elif new:
                alert = _open_alert(progress, event, terms)
                alerts = progress.alerts[terms]
                times = [a.original_time for a in alerts]
                alerts.insert(bisect.bisect(times, event.timestamp), alert)
                run.alerts_created += 1
        elif matcher is not None:
            progress.suppressed[matcher.exclusion_id] += 1
            skipped.append(SkippedCandidate(event_id=event.pk))
        else:
            run.learning += 1
            skipped.append(SkippedCandidate(event_id=event.pk))
        run.candidates += 1
    SkippedCandidate.objects.bulk_create(skipped)
    _join(joins)
    progress.joined.update((pk, alert) for pk, (alert, _) in joins.items())
    return stop


def _load_alerts(progress: _Progress, events: list[Event]) -> None:
    """Load every alert of the events' terms not loaded yet in this run.

    All of them, not a window: a later page may hold a late event for any
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
    episode, whatever else holds. Otherwise a new-term event that arrived late,
    at most 10 days before an alert's first event, joins that alert instead of
    opening another. Episodes are anchored on the alert's first event, never
    on a late event that joined it.
    """
    times = [a.original_time for a in alerts]
    index = bisect.bisect_right(times, moment) - 1
    if index >= 0 and moment < times[index] + rule.HISTORY_WINDOW:
        return alerts[index]
    if new and index + 1 < len(alerts) and times[index + 1] - moment <= rule.HISTORY_WINDOW:
        return alerts[index + 1]
    return None


def _open_alert(progress: _Progress, event: Event, terms: Terms) -> Alert:
    """Open an alert for event, with the events of its episode earlier runs evaluated.

    Those were evaluated before the alert existed (it opens for an event stored
    after them) and found nothing to join; the ones they could not join because
    they were suppressed or learning stay out.
    """
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
            function_name=event.function_name,
            user_name=terms[2],
            organization=terms[0],
        ),
        run=progress.run,
    )
    progress.opened.append(alert)
    earlier = list(
        Event.objects.filter(
            candidate_events_q(),
            progress.scope.evaluated_before(),
            as_organization=terms[0],
            account_id=terms[1],
            user_name=terms[2],
            timestamp__gte=event.timestamp,
            timestamp__lt=event.timestamp + rule.HISTORY_WINDOW,
        )
        .exclude(pk=event.pk)
        .exclude(Exists(AlertEvent.objects.filter(event=OuterRef("pk"))))
        .exclude(Exists(SkippedCandidate.objects.filter(event=OuterRef("pk"))))
        .values_list("pk", "timestamp")
    )
    AlertEvent.objects.bulk_create(
        [AlertEvent(alert=alert, event=event)]
        + [AlertEvent(alert=alert, event_id=pk) for pk, _ in earlier]
    )
    if earlier:
        alert.event_count = 1 + len(earlier)
        alert.episode_end = max(moment for _, moment in earlier)
        Alert.objects.filter(pk=alert.pk).update(
            event_count=alert.event_count, episode_end=alert.episode_end
        )
        progress.run.events_joined += len(earlier)
    return alert


def _join(joins: dict[int, tuple[Alert, list[Event]]]) -> None:
    """Link a page's events to the alerts they joined: one insert, and one update per alert."""
    AlertEvent.objects.bulk_create(
        AlertEvent(alert=alert, event=event) for alert, events in joins.values() for event in events
    )
    for alert, events in joins.values():
        alert.episode_start = min(alert.episode_start, *(e.timestamp for e in events))
        alert.episode_end = max(alert.episode_end, *(e.timestamp for e in events))
        Alert.objects.filter(pk=alert.pk).update(
            event_count=F("event_count") + len(events),
            episode_start=alert.episode_start,
            episode_end=alert.episode_end,
        )
