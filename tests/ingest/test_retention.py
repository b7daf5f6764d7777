"""The daily retention task: events older than EVENT_RETENTION_DAYS go, alerts' events stay."""

import io
from datetime import UTC, datetime, timedelta

import pytest
from django.core.management import call_command

from ingest.models import Event, PrincipalNetwork
from ingest.retention import delete_old_events
from ingest.tasks import delete_old_events as delete_old_events_task
from tests.cloudtrail import (
    iam_user_identity,
    invoke_record,
    management_record,
    run_ingest_files,
    write_log,
)
from triage.models import Alert

pytestmark = pytest.mark.django_db
NOW = datetime.now(UTC).replace(microsecond=0)
EVIL_VPS = "203.0.113.10"


@pytest.fixture
def stored(tmp_path, settings):
    """Old and recent events; an alert (trigger and one more event of its episode) among the old."""
    settings.DETECTION_BASELINE_START = NOW - timedelta(days=90)
    bob = iam_user_identity("bob")
    records = [
        management_record(when=NOW - timedelta(days=40), event_id="old-1"),
        management_record(when=NOW - timedelta(days=35), event_id="old-2"),
        invoke_record(
            when=NOW - timedelta(days=50), source_ip=EVIL_VPS, identity=bob, event_id="alerted"
        ),
        invoke_record(
            when=NOW - timedelta(days=49), source_ip=EVIL_VPS, identity=bob, event_id="episode"
        ),
        management_record(when=NOW - timedelta(days=29), event_id="recent-1"),
        management_record(when=NOW - timedelta(days=1), event_id="recent-2"),
    ]
    assert run_ingest_files(write_log(tmp_path / "logs.json", records)).error is None
    call_command("detect", stdout=io.StringIO())
    assert Alert.objects.get().event.event_id == "alerted"


def remaining() -> set[str]:
    return set(Event.objects.values_list("event_id", flat=True))


def test_it_deletes_events_older_than_the_retention_period_but_those_alerts_refer_to(stored):
    networks = PrincipalNetwork.objects.count()

    summary = delete_old_events_task.apply().get()

    assert remaining() == {"alerted", "episode", "recent-1", "recent-2"}
    assert summary.startswith("deleted 2 events older than ")
    assert summary.endswith("kept 2 older ones that alerts refer to")
    alert = Alert.objects.get()
    assert alert.episode.count() == 2
    assert PrincipalNetwork.objects.count() == networks


def test_it_deletes_in_batches(stored, settings):
    settings.EVENT_RETENTION_DAYS = 10

    report = delete_old_events(batch=1)

    assert report.deleted == 3
    assert remaining() == {"alerted", "episode", "recent-2"}


def test_it_never_keeps_less_than_the_rules_window(stored, settings):
    settings.EVENT_RETENTION_DAYS = 0  # refused at start-up; and not honoured if set anyway

    delete_old_events()

    assert "recent-2" in remaining()


def test_it_deletes_old_candidates_the_detector_skipped_as_suppressed_or_learning(
    tmp_path, settings
):
    # The detector records candidates it skipped (an exclusion matched, or in the
    # learning period) so that no alert opened later takes them in; that record is
    # no reason to keep an event past the retention period.
    settings.DETECTION_BASELINE_START = NOW - timedelta(days=60)
    call_command(
        "exclusions", "add", "--user-name", "carol", "--reason", "load test", stdout=io.StringIO()
    )
    records = [
        invoke_record(
            when=NOW - timedelta(days=55),
            source_ip=EVIL_VPS,
            identity=iam_user_identity("bob"),
            event_id="learning",
        ),
        invoke_record(
            when=NOW - timedelta(days=40),
            source_ip=EVIL_VPS,
            identity=iam_user_identity("carol"),
            event_id="suppressed",
        ),
        management_record(when=NOW - timedelta(days=1), event_id="recent"),
    ]
    assert run_ingest_files(write_log(tmp_path / "logs.json", records)).error is None
    call_command("detect", stdout=io.StringIO())
    assert not Alert.objects.exists()

    report = delete_old_events()

    assert remaining() == {"recent"}
    assert report.deleted == 2
