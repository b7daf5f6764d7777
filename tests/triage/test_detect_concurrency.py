"""manage.py detect as separate processes: runs never overlap, a killed run loses nothing.

The test holds a PostgreSQL lock on a table the detector writes, so a real
`manage.py detect` stops at a known point of its run for as long as the test
wants: there is no sleeping and hoping the processes overlap.
"""

import io
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from django.conf import settings
from django.core.management import call_command

from ingest.models import Event
from tests.aws import database_url
from tests.cloudtrail import principal_invoke, run_detect
from tests.helpers import PROJECT_ROOT, backend_waiting_for_lock, manage
from tests.triage.conftest import OFFICE
from triage.models import Alert, AlertEvent, DetectionRun, DetectorState

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("learning_over")]
T0 = datetime(2026, 10, 1, 12, 0, tzinfo=UTC)
USERS = ["alice", "bob", "carol"]


def detect_env() -> dict[str, str]:
    return {
        "DATABASE_URL": database_url(),
        "DETECTION_BASELINE_START": settings.DETECTION_BASELINE_START.isoformat(),
    }


def start_detect() -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "manage.py", "detect"],
        cwd=PROJECT_ROOT,
        env={**os.environ, **detect_env()},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.fixture
def observer() -> Iterator[psycopg.Connection]:
    with psycopg.connect(database_url(), autocommit=True) as connection:
        yield connection


def wait_until_gone(observer: psycopg.Connection, backend: int) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if not observer.execute(
            "SELECT 1 FROM pg_stat_activity WHERE pid = %s", [backend]
        ).fetchone():
            return
        time.sleep(0.05)
    pytest.fail(f"the killed run's database session {backend} never ended")


def ingest_episodes(ingest) -> None:
    """Three new terms, each with a second event in its episode, and one excluded event."""
    ingest(
        *[principal_invoke(T0, user=user) for user in USERS],
        *[principal_invoke(T0 + timedelta(hours=1), user=user) for user in USERS],
        principal_invoke(T0, user="dave", source_ip=OFFICE),
    )
    call_command(
        "exclusions", "add", "--asn", "64501", "--reason", "headquarters", stdout=io.StringIO()
    )


def assert_each_alert_once() -> None:
    assert sorted(Alert.objects.values_list("user_name", "event_count")) == [
        (user, 2) for user in USERS
    ]
    assert AlertEvent.objects.count() == 6


def test_it_skips_a_run_while_another_is_in_progress(ingest, observer):
    ingest_episodes(ingest)
    with psycopg.connect(database_url()) as blocker:
        blocker.execute("LOCK TABLE triage_alert IN EXCLUSIVE MODE")
        first = start_detect()
        try:
            backend_waiting_for_lock(observer, first)
            second = manage("detect", env=detect_env(), timeout=30)
        finally:
            blocker.rollback()
        stdout, stderr = first.communicate(timeout=60)

    assert second.returncode == 0, second.stderr
    assert second.stdout.startswith("detect: skipped"), second.stdout
    assert first.returncode == 0, stderr
    assert "7 events evaluated, 7 candidates, 3 alerts created, 3 joined alerts" in stdout
    assert_each_alert_once()
    # The skipped run did nothing, so it left no run record.
    assert DetectionRun.objects.count() == 1


@pytest.mark.parametrize(
    "table",
    ["triage_alert", "triage_runsuppression"],
    ids=["at-the-first-alert", "after-every-alert"],
)
def test_it_creates_every_alert_once_after_a_run_is_killed(ingest, observer, table):
    ingest_episodes(ingest)
    with psycopg.connect(database_url()) as blocker:
        blocker.execute(f"LOCK TABLE {table} IN EXCLUSIVE MODE")
        killed = start_detect()
        backend = backend_waiting_for_lock(observer, killed)
        killed.send_signal(signal.SIGKILL)
        killed.communicate(timeout=30)
        blocker.rollback()
    # The database ends the session of a client that died: only then is the run over.
    wait_until_gone(observer, backend)

    assert not Alert.objects.exists()
    assert not DetectionRun.objects.exists()
    assert DetectorState.objects.get().cursor == 0

    again = run_detect()

    assert "7 events evaluated, 7 candidates, 3 alerts created, 3 joined alerts" in again.summary
    assert "1 suppressed by exclusions" in again.summary
    assert_each_alert_once()
    last_mark = Event.objects.order_by("-stored_xid").values_list("stored_xid", flat=True).first()
    [run] = DetectionRun.objects.all()
    assert DetectorState.objects.get().cursor == run.cursor_to > last_mark
    assert (run.cursor_from, run.alerts_created, run.error) == (0, 3, "")
    assert run.finished_at is not None

    assert "0 events evaluated" in run_detect().summary
    assert_each_alert_once()
