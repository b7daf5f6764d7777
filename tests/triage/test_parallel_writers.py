"""Four `manage.py ingest_files` at once, one of them killed, while the detector runs:
its alerts are those of one writer and one run after it (ingest.watermark).

Each writer reads its own principals' log files, in time order, a few transactions
of files each, and some management events are in two writers' files; the test runs
the detector over and over while they store.
"""

import io
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest
from django.conf import settings
from django.core.management import call_command
from django.db import connection

from ingest import partitions, watermark
from ingest.models import Event, LogObject
from tests.aws import database_url
from tests.cloudtrail import management_record, principal_invoke, write_log
from tests.helpers import PROJECT_ROOT
from tests.triage.conftest import EVIL_VPS, OFFICE
from triage.models import Alert, AlertEvent, DetectionRun

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("learning_over")]
WRITERS = 4
USERS_PER_WRITER = 5
FILES_PER_WRITER = 24  # three transactions of files each
T0 = datetime.now(UTC).replace(microsecond=0) - timedelta(days=28)


def principal_story(user: str) -> list[dict]:
    """From the office for 12 days, then from a VPS (an alert and its episode), then
    the office again after more than 10 days away (another)."""
    events = [
        principal_invoke(T0 + timedelta(days=day), user=user, source_ip=OFFICE) for day in range(13)
    ]
    events += [
        principal_invoke(T0 + timedelta(days=15, hours=hour), user=user, source_ip=EVIL_VPS)
        for hour in range(4)
    ]
    events += [principal_invoke(T0 + timedelta(days=24), user=user, source_ip=OFFICE)]
    return events


def write_folders(root: Path) -> list[Path]:
    shared = [
        management_record(when=T0 + timedelta(days=day), event_id=f"shared-{day}")
        for day in range(20)
    ]
    folders = []
    for writer in range(WRITERS):
        records = [
            record
            for index in range(USERS_PER_WRITER)
            for record in principal_story(f"user-{writer}-{index}")
        ]
        records += [
            management_record(
                when=T0 + timedelta(days=day, minutes=writer), event_id=f"w{writer}-{day}"
            )
            for day in range(24)
        ]
        records += shared  # every writer stores them, only one keeps each
        records.sort(key=lambda record: record["eventTime"])
        folder = root / f"writer-{writer}"
        size = -(-len(records) // FILES_PER_WRITER)
        for number, start in enumerate(range(0, len(records), size)):
            write_log(folder / f"{number:03d}.json.gz", records[start : start + size])
        folders.append(folder)
    return folders


def start_writer(folder: Path) -> subprocess.Popen:
    env = {
        **os.environ,
        "DATABASE_URL": f"{database_url()}?application_name={folder.name}",
        "GEOIP_ASN_DB": str(settings.GEOIP_ASN_DB),
        "GEOIP_CITY_DB": str(settings.GEOIP_CITY_DB),
    }
    return subprocess.Popen(
        [sys.executable, "manage.py", "ingest_files", str(folder)],
        cwd=PROJECT_ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def session_ends(name: str) -> bool:
    """Whether the server ends the named session within 10 s (it sees its client gone)."""
    deadline = time.monotonic() + 10
    with connection.cursor() as cursor:
        while time.monotonic() < deadline:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s", [name]
            )
            if cursor.fetchone() == (0,):
                return True
            time.sleep(0.05)
    return False


def detect() -> None:
    call_command("detect", stdout=io.StringIO())


def outcome() -> set[tuple]:
    """Every alert: its terms, first event, count and the events of its episode."""
    return {
        (
            alert.user_name,
            alert.as_number,
            alert.original_time,
            alert.event_count,
            frozenset(
                AlertEvent.objects.filter(alert=alert).values_list("event__event_id", flat=True)
            ),
        )
        for alert in Alert.objects.all()
    }


def read_from(folder: Path) -> int:
    return LogObject.objects.filter(key__startswith=str(folder), status="done").count()


def test_four_writers_at_once_and_one_killed_give_the_alerts_of_a_serial_run(tmp_path):
    folders = write_folders(tmp_path)
    writers = [start_writer(folder) for folder in folders]
    victim = writers[1]
    killed = False
    deadline = time.monotonic() + 120
    while any(writer.poll() is None for writer in writers):
        assert time.monotonic() < deadline, "the writers did not finish"
        if not killed and read_from(folders[1]) > 0:
            victim.send_signal(signal.SIGKILL)  # after its first transaction, in its second
            killed = True
        detect()
    for writer in writers:
        _, errors = writer.communicate()
        if writer is not victim:
            assert writer.returncode == 0, errors.decode()
    assert killed and victim.returncode == -signal.SIGKILL
    # Its session ends with it (its decoding process kept no copy of it), so nothing holds
    # the watermark back.
    assert session_ends(folders[1].name)
    assert read_from(folders[1]) < FILES_PER_WRITER  # it died with files left to read
    again = start_writer(folders[1])
    _, errors = again.communicate(timeout=120)
    assert again.returncode == 0, errors.decode()
    detect()
    detect()

    stored = Event.objects.count()
    concurrent = outcome()
    runs = list(DetectionRun.objects.filter(error=""))
    assert sum(run.events_evaluated for run in runs) == stored  # each event once
    assert len(runs) > 3

    with connection.cursor() as cursor:
        cursor.execute(
            "TRUNCATE ingest_event, ingest_logobject, ingest_logrecords, ingest_principalnetwork,"
            " ingest_principalnetworkday, ingest_credentialnetwork, triage_alert,"
            " triage_alertevent, triage_skippedcandidate, triage_detectionrun,"
            " triage_runsuppression, triage_detectorstate CASCADE"
        )
    partitions.forget()
    for folder in folders:
        call_command("ingest_files", str(folder), stdout=io.StringIO())
    detect()

    assert Event.objects.count() == stored
    assert outcome() == concurrent
    assert len(concurrent) == 2 * WRITERS * USERS_PER_WRITER + WRITERS * USERS_PER_WRITER


def evaluated() -> int:
    return sum(DetectionRun.objects.values_list("events_evaluated", flat=True))


def test_only_a_transaction_storing_events_holds_the_detector_back(tmp_path):
    folder = tmp_path / "logs"
    with psycopg.connect(database_url()) as other:
        # A long transaction that stores no events (a web request, a worker) has an id...
        other.execute("SELECT pg_current_xact_id()")
        write_log(folder / "a.json", [principal_invoke(T0, user="alice", source_ip=EVIL_VPS)])
        call_command("ingest_files", str(folder), stdout=io.StringIO())
        detect()
        assert evaluated() == 1  # ...and holds nothing back.

        # One that stores events, still running, holds back what was stored after it began.
        other.execute("SELECT pg_advisory_xact_lock_shared(%s)", [watermark.STORING_LOCK])
        write_log(folder / "b.json", [principal_invoke(T0, user="bob", source_ip=EVIL_VPS)])
        call_command("ingest_files", str(folder), stdout=io.StringIO())
        detect()
        assert evaluated() == 1
        other.rollback()
    detect()
    assert evaluated() == 2
    assert set(Alert.objects.values_list("user_name", flat=True)) == {"alice", "bob"}
