"""manage.py detect over runs of any size: time order across the whole run, a cap that
never leaves an event to be evaluated twice, and the cases docs/detection.md decides.

Events go in through `manage.py ingest_files`, exclusions through `manage.py
exclusions`, alerts come out of `manage.py detect` and `manage.py export_alerts`.
"""

import io
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from django.core.management import call_command

from tests.cloudtrail import (
    ACCOUNT,
    invoke_record,
    principal_invoke,
    run_ingest_files,
    write_log,
)
from triage.models import Alert

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("learning_over")]
DAY = timedelta(days=1)
HOUR = timedelta(hours=1)
MINUTE = timedelta(minutes=1)
# One organisation announced by two AS numbers (tests/triage/conftest.py): the
# same terms, but an exclusion by AS number tells them apart.
HOSTING_FIRST_AS = "198.18.12.5"  # AS64612 Hosting.example (AS Ltd.)
HOSTING_SECOND_AS = "198.18.13.5"  # AS64613 Hosting.example (AS Ltd.)


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def exclusions(*arguments: str) -> str:
    stdout = io.StringIO()
    call_command("exclusions", "--by", "allowlist-admin", *arguments, stdout=stdout)
    return stdout.getvalue()


def add_exclusion(*arguments: str) -> int:
    return int(exclusions("add", *arguments).split()[-1])


def detect(*arguments: str) -> str:
    stdout = io.StringIO()
    call_command("detect", *arguments, stdout=stdout)
    return stdout.getvalue()


def exported() -> dict[str, dict]:
    """export_alerts' documents by their triggering event's id."""
    stdout = io.StringIO()
    call_command("export_alerts", stdout=stdout, stderr=io.StringIO())
    documents = [json.loads(line) for line in stdout.getvalue().splitlines()]
    return {document["event"]["id"]: document for document in documents}


def alerted() -> dict[str, int]:
    return dict(Alert.objects.values_list("event__event_id", "event_count"))


def s3_read(when: datetime, n: int) -> dict:
    return invoke_record(
        when=when, eventSource="s3.amazonaws.com", eventName="GetObject", event_id=f"s3-{n}"
    )


def test_an_episode_counts_an_earlier_event_stored_thousands_of_events_later(tmp_path: Path):
    folder = tmp_path / "logs"
    # In path order: the later invocation, 5,000 unrelated reads, then the earlier one.
    write_log(folder / "1-B.json", [principal_invoke(at("2026-03-13T04:48"), event_id="B")])
    write_log(folder / "2-reads.json", [s3_read(at("2026-03-12T06:00"), n) for n in range(5000)])
    write_log(folder / "3-A.json", [principal_invoke(at("2026-03-12T00:00"), event_id="A")])
    assert run_ingest_files(folder).error is None

    detect()

    documents = exported()
    assert list(documents) == ["A"]
    assert documents["A"]["kibana.alert.suppression.docs_count"] == 1
    assert alerted() == {"A": 2}


def test_a_run_stopped_by_the_cap_leaves_no_event_to_be_evaluated_again(ingest):
    probe2_exclusion = add_exclusion("--user-name", "probe2", "--reason", "r")
    ingest(
        principal_invoke(at("2026-03-01T12:00"), user="probe-user", source_ip=HOSTING_SECOND_AS),
        principal_invoke(at("2026-03-10T04:48"), user="probe-user", source_ip=HOSTING_SECOND_AS),
    )
    detect()
    # 101 principals new to their network, later than S and S2 but stored before
    # them: the run evaluates S and S2, then stops at the cap.
    ingest(
        *[
            principal_invoke(at("2026-03-20T00:00") + n * MINUTE, user=f"new-{n}")
            for n in range(101)
        ]
    )
    ingest(
        # Seen before: the event of 03-10 has the same terms (the same organisation).
        principal_invoke(
            at("2026-03-19T12:00"), user="probe-user", source_ip=HOSTING_FIRST_AS, event_id="S"
        ),
        principal_invoke(at("2026-03-19T13:12"), user="probe2", event_id="S2"),  # suppressed
    )
    assert "deferred past the cap" in detect()
    assert Alert.objects.count() == 1 + 100

    # What the run decided for S and S2 stands, though the exclusions change.
    add_exclusion("--asn", "64613", "--account", ACCOUNT, "--reason", "r")
    exclusions("disable", str(probe2_exclusion))
    output = detect()

    assert "1 alerts created" in output
    assert "nothing deferred" in output
    assert Alert.objects.count() == 1 + 101
    assert not Alert.objects.filter(event__event_id__in=["S", "S2"]).exists()
    assert "0 events evaluated" in detect()
