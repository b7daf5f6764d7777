"""Every command with the database unreachable, or lost part-way: one line that says so.

The commands run as a user runs them (`python manage.py …` in a subprocess).
"Unreachable" is a loopback port nothing listens on; "lost part-way" is the
test ending the command's database session while it waits for a lock the test
holds, so the command is at a known point of its work.
"""

import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest

from ingest.files import FILES_PER_TRANSACTION
from ingest.models import Event, LogObject
from ingest.store import content_version
from tests.aws import database_url
from tests.cloudtrail import principal_invoke, write_log
from tests.helpers import PROJECT_ROOT, backend_waiting_for_lock, free_port, manage
from triage.models import Alert, DetectionRun

PASSWORD = "pw-never-shown-7Q"
EXIT_UNAVAILABLE = 69
T0 = datetime(2026, 10, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def closed_port() -> int:
    return free_port()


@pytest.fixture
def unreachable(closed_port: int, geoip_dir: Path, tmp_path: Path) -> dict[str, str]:
    return {
        "DATABASE_URL": f"postgres://asnwatch:{PASSWORD}@127.0.0.1:{closed_port}/asnwatch",
        "GEOIP_ASN_DB": str(geoip_dir / "asn.mmdb"),
        "CLOUDTRAIL_INBOX_DIR": str(tmp_path),
    }


@pytest.fixture
def log_file(tmp_path: Path) -> Path:
    return write_log(tmp_path / "logs" / "one.json.gz", [principal_invoke(T0)])


def the_only_line(result: subprocess.CompletedProcess) -> str:
    assert "Traceback" not in result.stderr, result.stderr
    assert PASSWORD not in result.stderr + result.stdout
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


COMMANDS = {
    "ingest_files": ["ingest_files", "{log_file}"],
    "poll": ["poll"],
    "detect": ["detect"],
    "export_events": ["export_events"],
    "export_alerts": ["export_alerts", "--since", "2026-01-01"],
    "exclusions-add": ["exclusions", "add", "--asn", "64500", "--reason", "vpn"],
    "exclusions-list": ["exclusions", "list"],
    "ensure_login": ["ensure_login", "admin"],
    "migrate": ["migrate", "--no-input"],
}


@pytest.mark.parametrize("command", COMMANDS.values(), ids=COMMANDS.keys())
def test_it_says_in_one_line_that_the_database_cannot_be_reached(
    command, unreachable, closed_port, log_file
):
    result = manage(*(arg.format(log_file=log_file) for arg in command), env=unreachable)

    assert result.returncode == EXIT_UNAVAILABLE, result.stderr
    assert the_only_line(result).startswith(
        f"asnwatch: cannot reach the database at postgresql://asnwatch@127.0.0.1:{closed_port}"
        "/asnwatch (connection refused): check DATABASE_URL"
    )


def test_detect_says_nothing_was_recorded_when_the_database_cannot_be_reached(unreachable):
    result = manage("detect", env=unreachable)

    line = the_only_line(result)
    assert line.endswith(
        "detect: nothing was recorded, not even the failed run "
        "(the next run evaluates the same events)"
    )
    assert "the run failed and was recorded" not in line


def running_env(geoip_dir: Path) -> dict[str, str]:
    return {
        "DATABASE_URL": database_url(),
        "GEOIP_ASN_DB": str(geoip_dir / "asn.mmdb"),
        "DETECTION_BASELINE_START": "2026-01-01",
    }


@pytest.mark.django_db(transaction=True)
def test_detect_says_a_failed_run_was_recorded_when_it_was(geoip_dir, log_file):
    env = running_env(geoip_dir)
    assert manage("ingest_files", str(log_file), env=env).returncode == 0
    # The run's first alert waits for the test's lock until the database's lock_timeout.
    with psycopg.connect(database_url()) as blocker:
        blocker.execute("LOCK TABLE triage_alert IN EXCLUSIVE MODE")
        result = manage(
            "detect",
            env={**env, "DATABASE_URL": f"{database_url()}?options=-c%20lock_timeout%3D200"},
        )
        blocker.rollback()

    assert result.returncode == 1
    line = the_only_line(result)
    assert line.startswith("CommandError: detect: the run failed and was recorded"), line
    assert line.endswith("OperationalError: canceling statement due to lock timeout")
    [run] = DetectionRun.objects.all()
    assert run.error.startswith("OperationalError: canceling statement due to lock timeout")
    assert not Alert.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_ingest_files_says_what_it_kept_when_the_database_goes_away(geoip_dir, tmp_path):
    folder = tmp_path / "logs"
    files = [
        write_log(folder / f"{n:02d}.json.gz", [principal_invoke(T0 + timedelta(minutes=n))])
        for n in range(FILES_PER_TRANSACTION + 1)
    ]
    last = files[-1]
    with (
        psycopg.connect(database_url(), autocommit=True) as observer,
        psycopg.connect(database_url()) as blocker,
    ):
        # The last file's row, written and not committed: storing it waits for this transaction.
        blocker.execute(
            "INSERT INTO ingest_logobject (source, key, version, size, status, records, "
            "new_events, duplicates, problems, error, read_at) "
            "VALUES ('file', %s, %s, 0, 'done', 0, 0, 0, 0, '', now())",
            [str(last.resolve()), content_version(last.read_bytes())],
        )
        command = subprocess.Popen(
            [sys.executable, "manage.py", "ingest_files", str(folder)],
            cwd=PROJECT_ROOT,
            env={**os.environ, **running_env(geoip_dir)},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        observer.execute(
            "SELECT pg_terminate_backend(%s)",
            [backend_waiting_for_lock(observer, command, seconds=60)],
        )
        stdout, stderr = command.communicate(timeout=60)
        blocker.rollback()

    assert command.returncode == EXIT_UNAVAILABLE
    line = the_only_line(subprocess.CompletedProcess([], command.returncode, stdout, stderr))
    assert line.startswith("asnwatch: cannot reach the database at postgresql://")
    assert line.endswith(
        "ingest_files: the files stored before the database went away are kept; "
        "run the command again to read the rest"
    )
    assert Event.objects.count() == FILES_PER_TRANSACTION
    assert not LogObject.objects.filter(key=str(last.resolve())).exists()

    again = manage("ingest_files", str(folder), env=running_env(geoip_dir))

    assert again.returncode == 0, again.stderr
    assert "1 new events" in again.stdout
    assert Event.objects.count() == FILES_PER_TRANSACTION + 1
