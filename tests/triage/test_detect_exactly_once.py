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
from django.core.management import CommandError, call_command

from tests.cloudtrail import (
    ACCOUNT,
    invoke_record,
    principal_invoke,
    run_ingest_files,
    write_log,
)
from tests.helpers import manage
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


T0 = datetime(2026, 10, 1, 12, 0, tzinfo=UTC)


def test_an_alert_that_opens_counts_the_episode_events_earlier_runs_evaluated(ingest, settings):
    # The first use is in the learning period: history, but no alert.
    settings.DETECTION_BASELINE_START = T0 - 10 * DAY + HOUR
    ingest(
        principal_invoke(T0, source_ip=HOSTING_SECOND_AS, event_id="learning"),
        principal_invoke(T0 + 5 * DAY, source_ip=HOSTING_FIRST_AS, event_id="seen-before"),
    )
    detect()
    assert alerted() == {}
    # Hiding the learning-period use makes a late event at T0 + 2 days new.
    add_exclusion("--asn", "64613", "--reason", "old exit")
    ingest(principal_invoke(T0 + 2 * DAY, source_ip=HOSTING_FIRST_AS, event_id="late"))

    output = detect()

    assert alerted() == {"late": 2}
    assert "1 alerts created, 1 joined alerts" in output
    assert exported()["late"]["kibana.alert.suppression.end"].startswith(f"{T0 + 5 * DAY:%Y-%m-%d}")


@pytest.mark.parametrize("verdict", ["suppressed", "learning"])
def test_an_alert_that_opens_leaves_out_what_was_suppressed_or_learning_when_evaluated(
    ingest, settings, verdict
):
    if verdict == "suppressed":
        exclusion = add_exclusion("--asn", "64612", "--reason", "office exit")
    else:
        settings.DETECTION_BASELINE_START = None  # learning until 10 days after this event
    ingest(principal_invoke(T0 + 5 * DAY, source_ip=HOSTING_FIRST_AS, event_id="then"))
    detect()
    if verdict == "suppressed":
        exclusions("disable", str(exclusion))
    else:
        # An older event moves the baseline back: T0 + 5 days is past learning now.
        ingest(principal_invoke(T0 - 20 * DAY, user="bob", event_id="older"))
    ingest(principal_invoke(T0 + 2 * DAY, source_ip=HOSTING_SECOND_AS, event_id="late"))

    detect()

    assert alerted() == {"late": 1}


def test_an_event_in_one_alerts_episode_joins_it_rather_than_the_next_alert(ingest):
    ingest(
        principal_invoke(T0, source_ip=HOSTING_SECOND_AS, event_id="first"),
        principal_invoke(T0 + 15 * DAY, source_ip=HOSTING_FIRST_AS, event_id="next"),
    )
    detect()
    add_exclusion("--asn", "64613", "--reason", "old exit")
    # New now (its only earlier use is hidden), 7 days into the first alert's
    # episode and 8 days before the next alert.
    ingest(principal_invoke(T0 + 7 * DAY, source_ip=HOSTING_FIRST_AS, event_id="between"))

    detect()

    assert alerted() == {"first": 2, "next": 1}


def test_an_episode_is_anchored_on_its_trigger_not_on_a_late_event_before_it(ingest):
    ingest(principal_invoke(T0, event_id="trigger"))
    detect()
    ingest(principal_invoke(T0 - 3 * DAY, event_id="late"))
    detect()
    # 12 days after the late event, 9 days after the trigger.
    ingest(principal_invoke(T0 + 9 * DAY, event_id="ninth-day"))

    detect()

    alert = Alert.objects.get()
    assert alerted() == {"trigger": 3}
    assert (alert.original_time, alert.episode_start) == (T0, T0 - 3 * DAY)


def test_the_cap_leaves_the_event_stored_later_of_two_at_the_same_time(ingest):
    ingest(
        principal_invoke(T0 - HOUR, user="early", event_id="early"),
        principal_invoke(T0, user="zed", event_id="stored-first"),
        principal_invoke(T0, user="amy", event_id="stored-second"),
    )

    first = detect("--max-alerts", "2")
    assert alerted() == {"early": 1, "stored-first": 1}
    assert f"deferred past the cap at {T0:%Y-%m-%d %H:%M:%S}Z" in first
    assert "3 events evaluated" not in first

    second = detect("--max-alerts", "2")

    assert alerted() == {"early": 1, "stored-first": 1, "stored-second": 1}
    assert "1 events evaluated, 1 candidates, 1 alerts created" in second
    assert "nothing deferred" in second


def test_the_cap_is_a_setting(ingest, settings):
    settings.DETECTION_MAX_ALERTS_PER_RUN = 1
    ingest(*[principal_invoke(T0 + n * HOUR, user=f"user-{n}") for n in range(3)])

    assert "1 alerts created" in detect()
    assert "deferred past the cap" in detect()
    assert "1 alerts created, 0 joined alerts, 0 suppressed by exclusions, nothing deferred" in (
        detect()
    )
    assert Alert.objects.count() == 3


@pytest.mark.parametrize("value", ["0", "-3", "ten"])
def test_it_refuses_a_cap_below_one(value):
    with pytest.raises(CommandError, match=f"--max-alerts: '{value}' is not a whole number"):
        detect("--max-alerts", value)


def test_it_refuses_a_cap_setting_below_one():
    result = manage("check", env={"DETECTION_MAX_ALERTS_PER_RUN": "0"})

    assert result.returncode != 0
    assert "DETECTION_MAX_ALERTS_PER_RUN=0 is below the minimum of 1" in result.stderr
