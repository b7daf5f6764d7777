"""manage.py detect over runs of many pages: what a run keeps in memory and writes once
(episode counts and bounds, links, skipped candidates, history it has read) comes out
exactly as if each event were written as it is evaluated.

A run reads its events 5,000 at a time and writes links and skipped candidates
10,000 at a time; the tests make both small, so that a few events span many
pages and many writes.
"""

import io
from datetime import UTC, datetime, timedelta

import pytest
from django.core.management import call_command

from tests.cloudtrail import management_record, principal_invoke, run_detect
from tests.triage.conftest import EVIL_VPS_OTHER_AS, OFFICE
from triage import detector
from triage.models import Alert, AlertEvent

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("learning_over")]
T0 = datetime(2026, 10, 1, 12, 0, tzinfo=UTC)
DAY = timedelta(days=1)
HOUR = timedelta(hours=1)


@pytest.fixture
def small_pages(monkeypatch) -> None:
    monkeypatch.setattr(detector, "PAGE_EVENTS", 2)
    monkeypatch.setattr(detector, "WRITE_BATCH", 1)


def episode(trigger: str) -> set[str]:
    """The event ids linked to the alert for trigger."""
    alert = Alert.objects.get(event__event_id=trigger)
    return set(AlertEvent.objects.filter(alert=alert).values_list("event__event_id", flat=True))


def alerted() -> dict[str, int]:
    """Each alert's triggering event id, and how many events its episode holds."""
    return dict(Alert.objects.values_list("event__event_id", "event_count"))


def bounds(trigger: str) -> tuple[int, datetime, datetime]:
    alert = Alert.objects.get(event__event_id=trigger)
    return alert.event_count, alert.episode_start, alert.episode_end


@pytest.mark.usefixtures("small_pages")
def test_an_alert_joined_on_many_pages_counts_each_event_once(ingest):
    ingest(principal_invoke(T0, event_id="first"))
    run_detect()
    # Stored in three files, latest first and interleaved with another principal
    # and with events that are not candidates, so that alice's events fall on
    # many pages and many writes.
    ingest(
        *[principal_invoke(T0 + n * DAY, event_id=f"alice-{n}") for n in range(9, 4, -1)],
        *[management_record(when=T0 + n * DAY + HOUR) for n in range(1, 9)],
    )
    ingest(
        principal_invoke(T0 + HOUR, user="bob", event_id="bob"),
        *[principal_invoke(T0 + n * DAY, event_id=f"alice-{n}") for n in range(4, 0, -1)],
        principal_invoke(T0 + 2 * DAY, user="bob", event_id="bob-again"),
    )
    # Late, and new: it joins the alert that follows it and moves its episode's start.
    ingest(principal_invoke(T0 - 2 * DAY, event_id="late"))

    output = run_detect()

    assert "20 events evaluated, 12 candidates, 1 alerts created, 11 joined alerts" in (
        output.summary
    )
    assert episode("first") == {"first", "late", *[f"alice-{n}" for n in range(1, 10)]}
    assert bounds("first") == (11, T0 - 2 * DAY, T0 + 9 * DAY)
    assert episode("bob") == {"bob", "bob-again"}
    assert bounds("bob") == (2, T0 + HOUR, T0 + 2 * DAY)
    assert AlertEvent.objects.count() == 13


@pytest.mark.usefixtures("small_pages")
def test_an_alert_opened_on_one_page_takes_the_events_of_later_pages_stored_after_them(ingest):
    ingest(
        principal_invoke(T0, user="carol", event_id="carol"),
        principal_invoke(T0 + HOUR, user="carol", event_id="carol-same-page"),
        *[principal_invoke(T0 + n * HOUR, user=f"user-{n}") for n in range(2, 8)],
    )
    # Stored last, evaluated on a later page of the same run: in carol's episode,
    # then just past it (not new: carol's events of the 10 days before are history).
    ingest(
        principal_invoke(T0 + 9 * DAY, user="carol", event_id="carol-late"),
        principal_invoke(T0 + 10 * DAY + HOUR, user="carol", event_id="carol-after"),
    )

    output = run_detect()

    assert "10 events evaluated, 10 candidates, 7 alerts created, 2 joined alerts" in (
        output.summary
    )
    assert episode("carol") == {"carol", "carol-same-page", "carol-late"}
    assert bounds("carol") == (3, T0, T0 + 9 * DAY)


@pytest.mark.usefixtures("small_pages")
def test_an_excluded_event_read_earlier_in_the_run_is_no_history(ingest):
    # The same organisation, and so the same terms, from two AS numbers: only the
    # first is excluded. Each principal's later event is on a later page.
    call_command(
        "exclusions", "add", "--asn", "64599", "--reason", "old exit", stdout=io.StringIO()
    )
    ingest(
        principal_invoke(T0, user="dave", source_ip=EVIL_VPS_OTHER_AS, event_id="dave-excluded"),
        principal_invoke(T0, user="erin", event_id="erin"),
        principal_invoke(T0 + HOUR, user="fred", source_ip=OFFICE, event_id="fred"),
        principal_invoke(T0 + HOUR, user="gail", source_ip=OFFICE, event_id="gail"),
        principal_invoke(T0 + DAY, user="dave", event_id="dave-later"),
        principal_invoke(T0 + 11 * DAY, user="erin", event_id="erin-back"),
        principal_invoke(T0 + 11 * DAY + HOUR, user="erin", event_id="erin-back-again"),
    )

    output = run_detect()

    assert alerted() == {"dave-later": 1, "erin": 1, "erin-back": 2, "fred": 1, "gail": 1}
    assert "7 events evaluated, 7 candidates, 5 alerts created, 1 joined alerts" in (output.summary)
    assert "1 suppressed by exclusions" in output.summary


@pytest.mark.usefixtures("small_pages")
def test_a_learning_event_read_earlier_in_the_run_is_history(ingest, settings):
    settings.DETECTION_BASELINE_START = T0 - 10 * DAY + HOUR  # learning until T0 + 1 hour
    ingest(
        principal_invoke(T0, user="hank", event_id="hank-learning"),
        principal_invoke(T0 + 2 * HOUR, user="ivan", event_id="ivan"),
        principal_invoke(T0 + 2 * HOUR, user="jane", event_id="jane"),
        # Within 10 days of its learning-period use: not new.
        principal_invoke(T0 + 9 * DAY, user="hank", event_id="hank-seen"),
        # An hour more than 10 days after the last use: new.
        principal_invoke(T0 + 19 * DAY + HOUR, user="hank", event_id="hank-new"),
    )

    output = run_detect()

    assert alerted() == {"ivan": 1, "jane": 1, "hank-new": 1}
    assert "5 events evaluated, 5 candidates, 3 alerts created, 0 joined alerts" in (output.summary)


@pytest.mark.usefixtures("small_pages")
def test_an_alert_leaves_out_the_learning_events_of_every_page_of_an_earlier_run(ingest, settings):
    settings.DETECTION_BASELINE_START = None  # learning until 10 days after the first event
    ingest(*[principal_invoke(T0 + 5 * DAY + n * HOUR, user="kim") for n in range(5)])
    run_detect()
    # An older event moves the baseline back, and a late event of kim's is new:
    # its episode holds the five events, but they were learning when evaluated.
    ingest(principal_invoke(T0 - 20 * DAY, user="bob", event_id="older"))
    ingest(principal_invoke(T0 + 2 * DAY, user="kim", event_id="kim-late"))

    output = run_detect()

    assert alerted() == {"kim-late": 1}
    assert "1 alerts created, 0 joined alerts" in output.summary
