"""The detector against a straightforward model of docs/detection.md, run by run.

Hypothesis generates small streams — two principals, networks of which two
share an organisation, events at equal and boundary times, late batches,
exclusions added, disabled and enabled again between runs, a low cap — stores
them with `manage.py ingest_files`, runs the detector's service after each
step that asks for it, and compares every run's record and every alert's
episode with what the model computes from the document's definitions.
"""

import itertools
import tempfile
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from django.db import transaction
from hypothesis import HealthCheck, example, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from ingest.models import Event
from tests.cloudtrail import principal_invoke, run_ingest_files, write_log
from triage.allowlist.services import exclusion_create, exclusion_disable, exclusion_enable
from triage.detector import detect
from triage.models import Alert, AlertEvent, Exclusion

pytestmark = pytest.mark.django_db
T0 = datetime(2026, 10, 1, 12, 0, tzinfo=UTC)
SECOND = timedelta(seconds=1)
DAY = timedelta(days=1)
WINDOW = 10 * DAY
USERS = ["alice", "bob"]
# Address: (AS number, organisation), as tests/conftest.py and tests/triage/conftest.py
# write them into the ASN database.
EVIL, EVIL_OTHER_AS = "203.0.113.10", "198.18.11.10"
NETWORKS = {
    EVIL: (64500, "Evil VPS Ltd"),
    EVIL_OTHER_AS: (64599, "Evil VPS Ltd"),
    "198.18.12.5": (64612, "Hosting.example (AS Ltd.)"),
    "52.94.1.1": (16509, "AMAZON-02"),  # never a candidate
}
# Conditions an exclusion may have: an AS number, a user name, an organisation prefix.
EXCLUSIONS = [
    {"as_number": 64500},
    {"as_number": 64612},
    {"user_name": "bob"},
    {"as_organization": "evil vps*"},
    {"as_number": 64599, "user_name": "alice"},
]


@dataclass
class Stored:
    pk: int
    event_id: str
    time: datetime
    user: str
    address: str
    failed: bool

    @property
    def candidate(self) -> bool:
        return not self.failed and not NETWORKS[self.address][1].startswith("AMAZON")

    @property
    def terms(self) -> tuple[str, str]:
        return NETWORKS[self.address][1], self.user

    @property
    def order(self) -> tuple[datetime, int]:
        return self.time, self.pk


def excluded_by(conditions: dict, event: Stored) -> bool:
    as_number, organization = NETWORKS[event.address]
    if "as_number" in conditions and conditions["as_number"] != as_number:
        return False
    if "user_name" in conditions and conditions["user_name"] != event.user:
        return False
    prefix = conditions.get("as_organization", "*").rstrip("*")
    return organization.lower().startswith(prefix)


@dataclass
class ModelAlert:
    trigger: Stored
    events: set[str] = field(default_factory=set)


@dataclass
class Model:
    """docs/detection.md, evaluated the long way over every stored event."""

    events: list[Stored] = field(default_factory=list)
    cursor: int = 0
    pending: tuple[int, tuple[datetime, int]] | None = None  # (lower id, first order left)
    alerts: list[ModelAlert] = field(default_factory=list)
    evaluated: set[str] = field(default_factory=set)
    skipped: set[str] = field(default_factory=set)  # suppressed or learning when evaluated

    def linked(self, event: Stored) -> bool:
        return any(event.event_id in alert.events for alert in self.alerts)

    def run(self, *, cap: int, exclusions: list[dict], baseline: datetime | None) -> tuple:
        def excluded(event: Stored) -> bool:
            return any(excluded_by(conditions, event) for conditions in exclusions)

        if baseline is None and self.events:
            baseline = min(event.time for event in self.events)
        learning_until = baseline + WINDOW if baseline else None
        if self.pending:
            lower, resume = self.pending
            upper = self.cursor
            scope = [e for e in self.events if lower < e.pk <= upper and e.order >= resume]
        else:
            lower = self.cursor
            upper = max([self.cursor, *(e.pk for e in self.events)])
            scope = [e for e in self.events if lower < e.pk <= upper]
        scope.sort(key=lambda e: e.order)
        counts = dict(candidates=0, created=0, joined=0, suppressed=0, learning=0)
        stop = None
        for event in scope:
            if not event.candidate:
                self.evaluated.add(event.event_id)
                continue
            if excluded(event) or learning_until is None or event.time < learning_until:
                counts["suppressed" if excluded(event) else "learning"] += 1
                self.skipped.add(event.event_id)
            else:
                new = not any(
                    other.candidate
                    and not excluded(other)
                    and other.terms == event.terms
                    and event.time - WINDOW <= other.time < event.time
                    for other in self.events
                )
                alert = self.episode(event, new=new)
                if alert is None and new and counts["created"] >= cap:
                    stop = event
                    break
                if alert is not None:
                    alert.events.add(event.event_id)
                    counts["joined"] += 1
                elif new:
                    counts["created"] += 1
                    counts["joined"] += self.open(event)
            counts["candidates"] += 1
            self.evaluated.add(event.event_id)
        evaluated = len(scope) if stop is None else scope.index(stop)
        self.pending = (lower, stop.order) if stop else None
        self.cursor = upper
        return (
            evaluated, counts["candidates"], counts["created"], counts["joined"],
            counts["suppressed"], counts["learning"], stop is not None,
        )  # fmt: skip

    def episode(self, event: Stored, *, new: bool) -> ModelAlert | None:
        alerts = sorted(
            (alert for alert in self.alerts if alert.trigger.terms == event.terms),
            key=lambda alert: alert.trigger.time,
        )
        before = [alert for alert in alerts if alert.trigger.time <= event.time]
        after = [alert for alert in alerts if alert.trigger.time > event.time]
        if before and event.time < before[-1].trigger.time + WINDOW:
            return before[-1]
        if new and after and after[0].trigger.time - event.time <= WINDOW:
            return after[0]
        return None

    def open(self, trigger: Stored) -> int:
        """A new alert, with the episode's events evaluated before it that joined nothing."""
        earlier = {
            event.event_id
            for event in self.events
            if event.candidate
            and event.terms == trigger.terms
            and trigger.time <= event.time < trigger.time + WINDOW
            and event.event_id in self.evaluated
            and event.event_id not in self.skipped
            and not self.linked(event)
        }
        self.alerts.append(ModelAlert(trigger, {trigger.event_id, *earlier}))
        return len(earlier)


# Days apart by exactly the window (0 and 10, 3 and 13, ...) and less, and a
# second either side of each, so that equal and boundary times are common.
moments = st.builds(
    lambda days, shift: T0 + days * DAY + shift * SECOND,
    st.sampled_from([0, 3, 7, 10, 13, 17, 20]),
    st.sampled_from([0, 0, 0, 1, -1]),
)
events = st.tuples(
    moments,
    st.sampled_from(USERS),
    st.sampled_from(list(NETWORKS)),
    st.sampled_from([False, False, False, False, True]),
)
# A round: a delivery (its events may be older than earlier ones: late), at most
# one change to the allowlist, then a run with a cap.
rounds = st.lists(
    st.tuples(
        st.lists(events, max_size=5),
        st.one_of(
            st.none(),
            st.tuples(st.sampled_from(["exclude", "toggle"]), st.integers(0, len(EXCLUSIONS) - 1)),
        ),
        st.sampled_from([1, 1, 2, 100]),
    ),
    min_size=1,
    max_size=6,
)


def detector_alerts() -> dict[str, set[str]]:
    episodes: dict[str, set[str]] = {}
    for trigger, event in AlertEvent.objects.values_list(
        "alert__event__event_id", "event__event_id"
    ):
        episodes.setdefault(trigger, set()).add(event)
    counts = dict(Alert.objects.values_list("event__event_id", "event_count"))
    assert counts == {trigger: len(members) for trigger, members in episodes.items()}
    return episodes


class Stream:
    """One generated stream against the detector and the model side by side."""

    def __init__(self, folder: Path, baseline: datetime | None):
        self.folder = folder
        self.baseline = baseline
        self.model = Model()
        self.names = itertools.count(1)
        self.exclusions: dict[int, tuple[Exclusion, bool]] = {}  # conditions: (row, enabled)

    def deliver(self, batch: list[tuple]) -> None:
        """One delivery: a file per event, read by one `ingest_files` in name order."""
        records = {}
        for moment, user, address, failed in batch:
            event_id = f"e{next(self.names):03d}"
            records[event_id] = (moment, user, address, failed)
            extra = {"errorCode": "AccessDeniedException"} if failed else {}
            record = principal_invoke(
                moment, user=user, source_ip=address, event_id=event_id, **extra
            )
            write_log(self.folder / f"{event_id}.json", [record])
        paths = sorted(self.folder.glob("*.json"))
        assert run_ingest_files(*paths).error is None
        for path in paths:
            path.unlink()
        stored = dict(Event.objects.filter(event_id__in=records).values_list("event_id", "pk"))
        self.model.events += [
            Stored(stored[event_id], event_id, *fields) for event_id, fields in records.items()
        ]

    def change_allowlist(self, action: str, index: int) -> None:
        if action == "exclude" and index not in self.exclusions:
            row = exclusion_create(by="model", reason="r", **EXCLUSIONS[index])
            self.exclusions[index] = (row, True)
        elif action == "toggle" and index in self.exclusions:
            row, enabled = self.exclusions[index]
            change = exclusion_disable if enabled else exclusion_enable
            self.exclusions[index] = (change(exclusion=row, by="model"), not enabled)

    def run(self, cap: int) -> None:
        active = [EXCLUSIONS[i] for i, (_, enabled) in self.exclusions.items() if enabled]
        expected = self.model.run(cap=cap, exclusions=active, baseline=self.baseline)
        run = detect(max_alerts=cap)
        assert (
            run.events_evaluated, run.candidates, run.alerts_created, run.events_joined,
            run.suppressed, run.learning, run.deferred,
        ) == expected  # fmt: skip
        assert detector_alerts() == {
            alert.trigger.event_id: alert.events for alert in self.model.alerts
        }


@hypothesis_settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(rounds=rounds, baseline=st.sampled_from([T0 - 30 * DAY, T0 - 5 * DAY, None]))
# An episode's event evaluated before its alert opened (seen before, through a
# use in the learning period that an exclusion now hides) joins when it opens.
@example(
    rounds=[
        (
            [(T0 + 3 * DAY, "alice", EVIL, False), (T0 + 7 * DAY, "alice", EVIL_OTHER_AS, False)],
            None,
            100,
        ),
        ([(T0 + 7 * DAY - SECOND, "alice", EVIL_OTHER_AS, False)], ("exclude", 0), 100),
    ],
    baseline=T0 - 5 * DAY,
)
# One suppressed when it was evaluated stays out, though the exclusion is disabled since.
@example(
    rounds=[
        ([(T0 + 7 * DAY, "alice", EVIL, False)], ("exclude", 0), 100),
        ([(T0 + 3 * DAY, "alice", EVIL_OTHER_AS, False)], ("toggle", 0), 100),
    ],
    baseline=T0 - 30 * DAY,
)
def test_the_detector_does_what_the_document_says_run_by_run(settings, rounds, baseline):
    settings.DETECTION_BASELINE_START = baseline
    # Each example starts from an empty database: everything it stored is rolled back.
    with tempfile.TemporaryDirectory() as folder, transaction.atomic():
        stream = Stream(Path(folder), baseline)
        for batch, allowlist_change, cap in rounds:
            if batch:
                stream.deliver(batch)
            if allowlist_change:
                stream.change_allowlist(*allowlist_change)
            stream.run(cap)
        # Whatever the cap left is evaluated by the runs that follow.
        stream.run(100)
        stream.run(100)
        transaction.set_rollback(True)
