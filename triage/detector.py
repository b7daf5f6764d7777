"""The detector: the rule over stored events, each evaluated exactly once.

One run is one transaction: it locks the detector's state row (so two runs
never overlap, across processes and machines), evaluates every event stored
after the cursor in (eventTime, id) order, writes alerts, moves the cursor and
records the run, with the outbox rows announcing its new alerts to the
notification destinations (triage/notify). A run killed at any point leaves
nothing behind and the next run does the same work. A run stopped by the
alert cap records the first event it left, in that order, and the next run
evaluates exactly what it left.

The work is done in sets, so that a run costs about what reading its events
costs: the database sorts the run's events and they are read as tuples through
a server-side cursor, a page at a time; each page's history check is one query
(and none for a candidate whose terms the run has just read); the links from
alerts to their events are written in batches and each alert a run's events
joined is updated once, at the end of the run. A backfill of millions of events
runs in the memory of one page and of the run's alerts.

Semantics (DESIGN.md section 3, and docs/detection.md for the choices made):
a candidate that no active exclusion matches raises an alert when no other
non-excluded candidate with the same terms has an eventTime in the 10 days
before it. Later events of the same terms within 10 days of an alert's first
event join that alert (its episode) instead of being counted silently.
"""

import bisect
import contextlib
import itertools
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from typing import NamedTuple

import psycopg
from django.conf import settings
from django.db import DatabaseError, connection, transaction
from django.db.models import Exists, F, Max, Min, OuterRef, Q
from django.db.models.expressions import RawSQL
from django.utils import timezone

from ingest import watermark
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
# Episode links and skipped candidates are written once this many are waiting.
WRITE_BATCH = 10_000
_TIMESTAMPTZ = psycopg.postgres.types["timestamptz"].oid
Terms = tuple[str, str, str]  # source.as.organization.name, cloud.account.id, user.name


class _Row(NamedTuple):
    """An event as a run reads it: the columns is_candidate, the exclusions and the terms read.

    Nothing else, not even what an alert's reason needs (that is read from the
    events of the alerts opened): a run reads every event it evaluates.
    """

    id: int
    timestamp: datetime
    provider: str
    action: str
    outcome: str
    invoked_by: str | None
    as_number: int | None
    as_organization: str | None
    account_id: str | None
    user_name: str | None

    @property
    def terms(self) -> Terms:
        return (self.as_organization, self.account_id, self.user_name)


class AlreadyRunning(RuntimeError):
    """Another run holds the detector; this one did nothing."""


class RunFailed(RuntimeError):
    """A database error ended the run: it was rolled back and recorded as a failed run.

    When even the failed run cannot be recorded, the database's error is raised instead.
    """


@dataclass(frozen=True)
class _Scope:
    """The events one run evaluates: stored in transactions from lower up to, not
    including, upper (ingest.watermark), from `resume` on if set."""

    lower: int
    upper: int
    resume: tuple[datetime, int] | None

    def events(self) -> Q:
        stored = Q(stored_xid__gte=self.lower, stored_xid__lt=self.upper)
        return stored & _at_or_after(*self.resume) if self.resume else stored

    def evaluated_before(self) -> Q:
        """The events earlier runs evaluated (all of them, in every run, precede this one's)."""
        if self.resume is None:
            return Q(stored_xid__lt=self.lower)
        return Q(stored_xid__lt=self.lower) | (
            Q(stored_xid__lt=self.upper) & ~_at_or_after(*self.resume)
        )


def _at_or_after(moment: datetime, event_id: int) -> Q:
    """Events at or after (moment, event_id) in the (eventTime, id) order runs evaluate in."""
    return Q(timestamp__gt=moment) | Q(timestamp=moment, id__gte=event_id)


@dataclass(eq=False)
class _Episode:
    """An alert of terms the run evaluates, and what the run's events added to its episode.

    The alert row is brought up to date once, at the end of the run.
    """

    alert: Alert
    opened: bool = False  # by this run
    joined: int = 0
    start: datetime | None = None  # the earliest and latest eventTime the run added
    end: datetime | None = None

    def add(self, moment: datetime) -> None:
        self.joined += 1
        self.start = moment if self.start is None else min(self.start, moment)
        self.end = moment if self.end is None else max(self.end, moment)


@dataclass
class _Progress:
    run: DetectionRun
    scope: _Scope
    max_alerts: int
    learning_until: datetime | None
    exclusions: list[Matcher]
    suppressed: Counter = field(default_factory=Counter)
    # Alerts by terms, sorted by original_time: the episodes events can join.
    alerts: dict[Terms, list[_Episode]] = field(default_factory=lambda: defaultdict(list))
    # The latest eventTime of a non-excluded candidate of each terms the run evaluated:
    # history for the run's later candidates, found without a query.
    last_seen: dict[Terms, datetime] = field(default_factory=dict)
    # The alerts this run opened, announced to destinations before the run commits.
    opened: list[Alert] = field(default_factory=list)
    # The episodes this run's events joined, in the order they were first joined;
    # those of earlier runs' alerts are announced to destinations that report joined alerts.
    changed: dict[_Episode, None] = field(default_factory=dict)
    # Links from alerts to the events of their episodes, and skipped candidates,
    # not written yet.
    links: list[tuple[Alert, int]] = field(default_factory=list)
    skipped: list[int] = field(default_factory=list)

    @cached_property
    def evaluated_until(self) -> datetime | None:
        """The latest eventTime of the events earlier runs evaluated (None if there are none).

        An alert that opens after it has no episode events that earlier runs
        evaluated, and needs no query for them (a late event's alert may).
        """
        before = Event.objects.filter(self.scope.evaluated_before())
        return before.aggregate(latest=Max("timestamp"))["latest"]


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
                evaluated = evaluated.exclude(_at_or_after(stop.timestamp, stop.id))
            run.events_evaluated = evaluated.count()
            run.suppressed = sum(progress.suppressed.values())
            run.finished_at = timezone.now()
            run.save()
            RunSuppression.objects.bulk_create(
                RunSuppression(run=run, exclusion_id=exclusion_id, events=count)
                for exclusion_id, count in sorted(progress.suppressed.items())
            )
            watermark.evaluated_below(scope.upper)
            DetectorState.objects.filter(pk=1).update(
                cursor=scope.upper,
                pending_from=scope.lower if stop else None,
                resume_time=stop.timestamp if stop else None,
                resume_event=stop.id if stop else None,
                updated_at=timezone.now(),
            )
            # The outbox rows commit with the alerts, so a crash before sending loses none;
            # a worker is asked to send them once they are visible to it.
            joined = [episode.alert for episode in progress.changed if not episode.opened]
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
    that what is left is always one range of storing transactions from one point
    in time order.
    """
    if state.resume_time is not None:
        return _Scope(
            lower=state.pending_from,
            upper=state.cursor,
            resume=(state.resume_time, state.resume_event),
        )
    # Below the watermark, every transaction that stored events has ended: the
    # events it covers are all there and no more will come (ingest.watermark).
    return _Scope(
        lower=state.cursor, upper=max(state.cursor, watermark.visible_below()), resume=None
    )


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


def _evaluate(progress: _Progress) -> _Row | None:
    """Evaluate the run's events in (eventTime, id) order; the first event left at the cap.

    What the run finds is written as it goes (alerts, and links and skipped
    candidates in batches); the alerts its events joined are brought up to date
    once, at the end.
    """
    stop = None
    with contextlib.closing(_pages(progress.scope)) as pages:
        for page in pages:
            stop = _evaluate_page(progress, page)
            if stop is not None:
                break
    _write_links(progress)
    _write_skipped(progress)
    _write_episodes(progress)
    return stop


def _pages(scope: _Scope) -> Iterator[list[_Row]]:
    """The candidates the run evaluates, in (eventTime, id) order, a page at a time.

    The database sorts them and they are read through a server-side cursor,
    so a backfill of millions of events runs in the memory of one page.
    """
    query = (
        Event.objects.filter(scope.events(), candidates_q())
        .order_by("timestamp", "id")
        .values_list(*_Row._fields)
    )
    if connection.vendor != "postgresql":
        rows = query.iterator(chunk_size=PAGE_EVENTS)
        while page := list(map(_Row._make, itertools.islice(rows, PAGE_EVENTS))):
            yield page
        return
    sql, params = query.query.sql_with_params()
    with connection.cursor() as cursor:
        # A cursor is planned for its first rows by default: PostgreSQL would walk
        # the (eventTime, id) index through every stored event to spare the sort.
        # The run reads all of its rows: plan for the whole of them.
        cursor.execute("SET LOCAL cursor_tuple_fraction = 1.0")
    with connection.chunked_cursor() as cursor:
        # Django loads timestamptz in Python (so as to make naive datetimes when
        # USE_TZ is off); psycopg's own loader, in C, makes the same aware
        # datetimes (in the session's time zone, which Django sets to UTC) in a
        # quarter of the time, and a run loads one per event it evaluates.
        fast = psycopg.adapters.get_loader(_TIMESTAMPTZ, psycopg.pq.Format.TEXT)
        cursor.cursor.adapters.register_loader(_TIMESTAMPTZ, fast)
        cursor.execute(sql, params)
        while page := cursor.fetchmany(PAGE_EVENTS):
            yield list(map(_Row._make, page))


def _evaluate_page(progress: _Progress, page: list[_Row]) -> _Row | None:
    """Evaluate one page of the run's events, in order; the first event left at the cap."""
    run = progress.run
    exclusions, learning_until, last_seen = (
        progress.exclusions,
        progress.learning_until,
        progress.last_seen,
    )
    candidates = []
    live_terms = set()
    unknown = []  # live candidates with no history among the events the run has read
    for row in page:
        if not is_candidate(row):
            continue
        terms = row.terms
        matcher = next((m for m in exclusions if m.matches(row)), None) if exclusions else None
        learning = learning_until is None or row.timestamp < learning_until
        seen = False
        if matcher is None:
            # Every event before this one in the run's order has been read: a
            # non-excluded candidate of the same terms among them, earlier and in
            # the 10 days before, is history (learning or not), and needs no query.
            last = last_seen.get(terms)
            seen = last is not None and row.timestamp - rule.HISTORY_WINDOW <= last < row.timestamp
            last_seen[terms] = row.timestamp
            if not learning:
                live_terms.add(terms)
                if not seen:
                    unknown.append(row)
        candidates.append((row, terms, matcher, learning, seen))
    seen_before = _seen_before(progress, unknown) if unknown else set()
    _load_alerts(progress, live_terms)
    opened = []
    stop = None
    for row, terms, matcher, learning, seen in candidates:
        if matcher is None and not learning:
            new = not seen and row.id not in seen_before
            episodes = progress.alerts[terms]
            episode = _episode(episodes, row.timestamp, new=new) if episodes else None
            if episode is None and new and run.alerts_created >= progress.max_alerts:
                stop = row
                break
            if episode is not None:
                episode.add(row.timestamp)
                progress.changed[episode] = None
                progress.links.append((episode.alert, row.id))
                run.events_joined += 1
            elif new:
                episode = _Episode(_new_alert(progress, row), opened=True)
                times = [e.alert.original_time for e in episodes]
                episodes.insert(bisect.bisect(times, row.timestamp), episode)
                opened.append(episode)
                run.alerts_created += 1
        elif matcher is not None:
            progress.suppressed[matcher.exclusion_id] += 1
            progress.skipped.append(row.id)
        else:
            run.learning += 1
            progress.skipped.append(row.id)
        run.candidates += 1
    if opened:
        _open_alerts(progress, opened)
    if len(progress.links) >= WRITE_BATCH:
        _write_links(progress)
    if len(progress.skipped) >= WRITE_BATCH:
        _write_skipped(progress)
    return stop


def _seen_before(progress: _Progress, rows: list[_Row]) -> set[int]:
    """Which of a page's live candidates have history (a non-excluded candidate of the
    same terms in the 10 days before): one query, an index probe per candidate."""
    ids = [row.id for row in rows]
    if connection.vendor == "postgresql":
        # One parameter, however many ids: binding thousands of them one by one
        # costs more than the probes.
        among = Q(id__in=RawSQL("SELECT unnest(%s::bigint[])", [ids]))
    else:
        among = Q(id__in=ids)
    # The run's range too, so that PostgreSQL never thinks of scanning every stored event.
    return set(
        Event.objects.filter(progress.scope.events(), among)
        .filter(_history_exists(progress.exclusions))
        .values_list("pk", flat=True)
    )


def _load_alerts(progress: _Progress, terms: set[Terms]) -> None:
    """Load every alert of these terms not loaded yet in this run.

    All of them, not a window: a later page may hold a late event for any
    episode, and a principal has at most one alert per 10 days of its history.
    """
    missing = terms - progress.alerts.keys()
    if not missing:
        return
    match = Q()
    for organization, account, user in missing:
        match |= Q(as_organization=organization, account_id=account, user_name=user)
    for alert in Alert.objects.filter(match).order_by("original_time"):
        progress.alerts[(alert.as_organization, alert.account_id, alert.user_name)].append(
            _Episode(alert)
        )
    for key in missing:
        progress.alerts.setdefault(key, [])


def _episode(episodes: list[_Episode], moment: datetime, *, new: bool) -> _Episode | None:
    """The alert an event of these terms belongs to, if any.

    An event within 10 days after an alert's first event is part of its
    episode, whatever else holds. Otherwise a new-term event that arrived late,
    at most 10 days before an alert's first event, joins that alert instead of
    opening another. Episodes are anchored on the alert's first event, never
    on a late event that joined it.
    """
    times = [e.alert.original_time for e in episodes]
    index = bisect.bisect_right(times, moment) - 1
    if index >= 0 and moment < times[index] + rule.HISTORY_WINDOW:
        return episodes[index]
    if new and index + 1 < len(episodes) and times[index + 1] - moment <= rule.HISTORY_WINDOW:
        return episodes[index + 1]
    return None


def _new_alert(progress: _Progress, row: _Row) -> Alert:
    """The alert a new candidate opens, not stored yet (_open_alerts stores a page's)."""
    return Alert(
        event_id=row.id,
        as_organization=row.as_organization,
        account_id=row.account_id,
        user_name=row.user_name,
        as_number=row.as_number,
        original_time=row.timestamp,
        episode_start=row.timestamp,
        episode_end=row.timestamp,
        severity=rule.SEVERITY,
        risk_score=rule.RISK_SCORE,
        run=progress.run,
    )


def _open_alerts(progress: _Progress, opened: list[_Episode]) -> None:
    """Store the alerts a page opened, each with its reason and the events of its
    episode that earlier runs evaluated.

    Those were evaluated before the alert existed (it opens for an event stored
    after them) and found nothing to join; the ones they could not join because
    they were suppressed or learning stay out.
    """
    # The reason names the function: read from the events of the alerts opened only.
    events = Event.objects.only("action", "function_name").in_bulk(
        [episode.alert.event_id for episode in opened]
    )
    for episode in opened:
        alert = episode.alert
        event = events[alert.event_id]
        alert.reason = rule.reason(
            action=event.action,
            function_name=event.function_name,
            user_name=alert.user_name,
            organization=alert.as_organization,
        )
        until = progress.evaluated_until
        earlier = (
            _evaluated_earlier(progress.scope, alert)
            if until is not None and alert.original_time <= until
            else []
        )
        progress.links.append((alert, alert.event_id))
        progress.links += ((alert, pk) for pk, _ in earlier)
        if earlier:
            alert.event_count = 1 + len(earlier)
            alert.episode_end = max(moment for _, moment in earlier)
            progress.run.events_joined += len(earlier)
    alerts = [episode.alert for episode in opened]
    Alert.objects.bulk_create(alerts)
    progress.opened += alerts


def _evaluated_earlier(scope: _Scope, alert: Alert) -> list[tuple[int, datetime]]:
    """The candidates of an alert's episode earlier runs evaluated that belong to no alert
    and were not skipped: (id, eventTime) each."""
    return list(
        Event.objects.filter(
            candidate_events_q(),
            scope.evaluated_before(),
            as_organization=alert.as_organization,
            account_id=alert.account_id,
            user_name=alert.user_name,
            timestamp__gte=alert.original_time,
            timestamp__lt=alert.original_time + rule.HISTORY_WINDOW,
        )
        .exclude(pk=alert.event_id)
        .exclude(Exists(AlertEvent.objects.filter(event=OuterRef("pk"))))
        .exclude(Exists(SkippedCandidate.objects.filter(event=OuterRef("pk"))))
        .values_list("pk", "timestamp")
    )


def _write_links(progress: _Progress) -> None:
    """Link the events waiting to the alerts of their episodes."""
    if not progress.links:
        return
    links, progress.links = progress.links, []
    if connection.vendor != "postgresql":
        AlertEvent.objects.bulk_create(
            (AlertEvent(alert=alert, event_id=event) for alert, event in links),
            batch_size=1000,
        )
        return
    # Plain values in one statement: a model instance per link costs more than
    # PostgreSQL spends storing it, and a backfill links nearly every event.
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            INSERT INTO {AlertEvent._meta.db_table} (alert_id, event_id)
            SELECT * FROM unnest(%s::bigint[], %s::bigint[])
            """,  # noqa: S608 — the table name is the model's, every value a parameter
            [[alert.pk for alert, _ in links], [event for _, event in links]],
        )


def _write_skipped(progress: _Progress) -> None:
    """Record the suppressed and learning candidates waiting."""
    if not progress.skipped:
        return
    events, progress.skipped = progress.skipped, []
    if connection.vendor != "postgresql":
        SkippedCandidate.objects.bulk_create(
            (SkippedCandidate(event_id=event) for event in events), batch_size=1000
        )
        return
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            INSERT INTO {SkippedCandidate._meta.db_table} (event_id)
            SELECT unnest(%s::bigint[])
            """,
            [events],
        )


def _write_episodes(progress: _Progress) -> None:
    """Bring each alert the run's events joined up to date: one update per alert.

    The alerts in memory get the same counts, so the notifications queued after
    this describe each alert as it stands.
    """
    for episode in progress.changed:
        alert = episode.alert
        alert.event_count += episode.joined
        alert.episode_start = min(alert.episode_start, episode.start)
        alert.episode_end = max(alert.episode_end, episode.end)
        Alert.objects.filter(pk=alert.pk).update(
            event_count=F("event_count") + episode.joined,
            episode_start=alert.episode_start,
            episode_end=alert.episode_end,
        )
