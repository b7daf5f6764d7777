"""Events by day on PostgreSQL: a partition a day, made ahead or when needed, dropped whole."""

import io
from datetime import UTC, datetime, timedelta

import pytest
from django.core.management import call_command
from django.db import connection

from ingest import partitions
from ingest.models import Event, LogRecords
from ingest.retention import delete_old_events
from ingest.tasks import make_event_partitions
from tests.cloudtrail import (
    iam_user_identity,
    invoke_record,
    management_record,
    run_ingest_files,
    write_log,
)
from triage.models import Alert, SkippedCandidate

pytestmark = pytest.mark.django_db
TODAY = datetime.now(UTC).date()
NOON = datetime.combine(TODAY, datetime.min.time(), tzinfo=UTC) + timedelta(hours=12)
EVIL_VPS = "203.0.113.10"


@pytest.fixture(autouse=True)
def forget_partitions():
    partitions.forget()
    yield
    partitions.forget()


def partition_of(event_id: str) -> str:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT tableoid::regclass::text FROM ingest_event WHERE event_id = %s", [event_id]
        )
        return cursor.fetchone()[0]


def rows_in(table: str) -> set[str]:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT event_id FROM {table}")  # noqa: S608
        return {event_id for (event_id,) in cursor.fetchall()}


def test_each_event_goes_to_its_days_partition_and_others_to_the_default(tmp_path):
    first, last = partitions.window()
    records = [
        management_record(when=NOON, event_id="today"),
        management_record(when=NOON - timedelta(days=5), event_id="last-week"),
        management_record(when=NOON - timedelta(days=400), event_id="last-year"),
        management_record(when=NOON + timedelta(days=30), event_id="next-month"),
    ]
    assert run_ingest_files(write_log(tmp_path / "log.json", records)).error is None

    assert partition_of("today") == partitions.name(TODAY)
    assert partition_of("last-week") == partitions.name(TODAY - timedelta(days=5))
    assert partition_of("last-year") == partitions.DEFAULT
    assert partition_of("next-month") == partitions.DEFAULT
    assert partitions.days() == [first + timedelta(days=n) for n in range((last - first).days + 1)]


def test_a_missing_day_is_made_by_the_writer_and_takes_its_events_from_the_default(tmp_path):
    day = TODAY + timedelta(days=2)
    partitions.ensure_days({day})  # seen by this process, then gone
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE {partitions.name(day)}")
    moment = datetime.combine(day, datetime.min.time(), tzinfo=UTC) + timedelta(hours=1)
    assert (
        run_ingest_files(
            write_log(tmp_path / "a.json", [management_record(when=moment, event_id="early")])
        ).error
        is None
    )
    assert partition_of("early") == partitions.DEFAULT  # this process knew the day, and it was gone

    partitions.forget()
    later = write_log(tmp_path / "b.json", [management_record(when=moment, event_id="later")])
    assert run_ingest_files(later).error is None

    assert day in partitions.days()
    assert partition_of("early") == partition_of("later") == partitions.name(day)
    assert rows_in(partitions.DEFAULT) == set()


def test_the_worker_makes_the_coming_days_ahead():
    last = partitions.window()[1]
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE {partitions.name(last)}")
    assert last not in partitions.days()

    summary = make_event_partitions.apply().get()

    assert last in partitions.days()
    assert summary == f"made partitions for {last:%Y-%m-%d}"


@pytest.fixture
def alerted_day(tmp_path, settings):
    """Three days ago: an alert (its trigger and one event of its episode) among other events."""
    settings.DETECTION_BASELINE_START = NOON - timedelta(days=20)
    day = NOON - timedelta(days=5)
    bob = iam_user_identity("bob")
    records = [
        invoke_record(when=day, source_ip=EVIL_VPS, identity=bob, event_id="alerted"),
        invoke_record(
            when=day + timedelta(hours=1), source_ip=EVIL_VPS, identity=bob, event_id="episode"
        ),
        management_record(when=day + timedelta(hours=2), event_id="other"),
        management_record(when=NOON - timedelta(days=4), event_id="next-day"),
        management_record(when=NOON, event_id="today"),
    ]
    records += [
        management_record(when=day + timedelta(minutes=n), event_id=f"busy-{n}") for n in range(300)
    ]
    call_command(
        "exclusions", "add", "--user-name", "carol", "--reason", "load test", stdout=io.StringIO()
    )
    records.append(
        invoke_record(
            when=day, source_ip=EVIL_VPS, identity=iam_user_identity("carol"), event_id="suppressed"
        )
    )
    assert run_ingest_files(write_log(tmp_path / "logs.json", records)).error is None
    call_command("detect", stdout=io.StringIO())
    assert Alert.objects.get().event.event_id == "alerted"
    assert SkippedCandidate.objects.count() == 1
    return day.date()


def test_retention_drops_whole_days_and_keeps_the_events_alerts_refer_to(alerted_day, tmp_path):
    later = NOON + timedelta(days=27)  # the alerted day and the next are past 30 days

    report = delete_old_events(now=later)

    assert set(Event.objects.values_list("event_id", flat=True)) == {"alerted", "episode", "today"}
    assert report.deleted == 300 + 3  # the busy ones, "other", "suppressed", "next-day"
    assert alerted_day in report.days_dropped
    # The alerted day's partition holds just what the alert refers to, under its own name.
    assert rows_in(partitions.name(alerted_day)) == {"alerted", "episode"}
    assert alerted_day + timedelta(days=1) not in partitions.days()
    assert not SkippedCandidate.objects.exists()
    # The alert page still has its events and their records.
    alert = Alert.objects.get()
    assert alert.event.user_agent.startswith("aws-cli/")
    assert alert.episode.count() == 2
    assert LogRecords.objects.exists()

    # The same record read again is still known: uniqueness by eventID survives.
    repeat = [
        invoke_record(
            when=NOON - timedelta(days=5),
            source_ip=EVIL_VPS,
            identity=iam_user_identity("bob"),
            event_id="alerted",
        )
    ]
    run = run_ingest_files(write_log(tmp_path / "again.json", repeat))
    assert "1 duplicates" in run.stdout

    # A late event of the dropped day goes at the next run, and the kept ones stay.
    late = [management_record(when=NOON - timedelta(days=5), event_id="late")]
    assert run_ingest_files(write_log(tmp_path / "late.json", late)).error is None
    delete_old_events(now=later)
    assert rows_in(partitions.name(alerted_day)) == {"alerted", "episode"}


def test_a_day_with_nothing_to_keep_is_dropped_and_its_records_go(tmp_path):
    day = NOON - timedelta(days=3)
    records = [
        management_record(when=day + timedelta(minutes=n), event_id=f"e{n}") for n in range(5)
    ]
    assert run_ingest_files(write_log(tmp_path / "log.json", records)).error is None
    assert LogRecords.objects.exists()

    report = delete_old_events(now=NOON + timedelta(days=32))

    assert report.deleted == 5
    assert day.date() not in partitions.days()
    assert not Event.objects.exists()
    assert not LogRecords.objects.exists()
