"""manage.py detect: the rule's query, its 10-day window, learning, episodes, late events, the cap.

Events go in through `manage.py ingest_files` and alerts come out of `manage.py
detect`, as they do in production. The `learning_over` fixture puts the baseline
far before T0, so only the learning tests see a learning period.
"""

from datetime import UTC, datetime, timedelta

import pytest
from django.db.models import Max
from django.utils import timezone

from ingest.models import Event
from tests.cloudtrail import (
    ACCOUNT,
    assumed_role_identity,
    aws_service_identity,
    iam_user_identity,
    invoke_record,
    management_record,
    principal_invoke,
    run_detect,
    run_ingest_files,
    write_log,
)
from tests.triage.conftest import EVIL_VPS, EVIL_VPS_OTHER_AS, NO_ORGANISATION, OFFICE
from triage import detector
from triage.models import Alert, AlertEvent, DetectionRun, DetectorState

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("learning_over")]
T0 = datetime(2026, 10, 1, 12, 0, tzinfo=UTC)
DAY = timedelta(days=1)
HOUR = timedelta(hours=1)
SECOND = timedelta(seconds=1)
IDLE_SUMMARY = (
    "detect: 0 events evaluated, 0 candidates, 0 alerts created, 0 joined alerts, "
    "0 suppressed by exclusions, nothing deferred, learning over"
)


def alerted() -> dict[str, int]:
    """Each alert's triggering event id, and how many events its episode holds."""
    return dict(Alert.objects.values_list("event__event_id", "event_count"))


def last_run() -> DetectionRun:
    return DetectionRun.objects.order_by("-id").first()


def from_network(address: str) -> dict:
    return principal_invoke(T0, source_ip=address, event_id="e")


def by_identity(identity: dict, **overrides) -> dict:
    return invoke_record(when=T0, source_ip=EVIL_VPS, identity=identity, event_id="e", **overrides)


def without(mapping: dict, *keys: str) -> dict:
    return {key: value for key, value in mapping.items() if key not in keys}


ROOT = {
    "type": "Root",
    "principalId": ACCOUNT,
    "arn": f"arn:aws:iam::{ACCOUNT}:root",
    "accountId": ACCOUNT,
    "accessKeyId": "ASIAEXAMPLEROOT00001",
}

QUERY_CASES = {
    # Each clause true: the control every other case differs from by one field.
    "invoke": (principal_invoke(T0, event_id="e"), True),
    "invoke-async": (principal_invoke(T0, event_id="e", eventName="InvokeAsync"), True),
    "invoke-with-response-stream": (
        principal_invoke(T0, event_id="e", eventName="InvokeWithResponseStream"),
        True,
    ),
    "assumed-role-session": (by_identity(assumed_role_identity()), True),
    "ipv6-network": (from_network("2001:db8::42"), True),
    "lower-case-amazon": (from_network("198.18.7.7"), True),
    "lower-case-google": (from_network("198.18.8.8"), True),
    "lower-case-microsoft": (from_network("198.18.9.9"), True),
    "mixed-case-amazon": (from_network("198.18.10.10"), True),
    # Each clause false.
    "action-lower-case": (principal_invoke(T0, event_id="e", eventName="invoke"), False),
    "action-get-function": (
        management_record(when=T0, event_id="e", sourceIPAddress=EVIL_VPS),
        False,
    ),
    "other-provider": (
        principal_invoke(T0, event_id="e", eventSource="apigateway.amazonaws.com"),
        False,
    ),
    "error-code": (principal_invoke(T0, event_id="e", errorCode="AccessDeniedException"), False),
    "error-message-only": (principal_invoke(T0, event_id="e", errorMessage="Rate exceeded"), False),
    "invoked-by-a-service": (
        by_identity(iam_user_identity(invokedBy="apigateway.amazonaws.com")),
        False,
    ),
    "aws-service": (by_identity(aws_service_identity()), False),
    "prefix-Amazon": (from_network("198.18.1.1"), False),
    "prefix-AMAZON": (from_network("198.18.2.2"), False),
    "prefix-Google": (from_network("198.18.3.3"), False),
    "prefix-GOOGLE": (from_network("198.18.4.4"), False),
    "prefix-Microsoft": (from_network("198.18.5.5"), False),
    "prefix-MICROSOFT": (from_network("198.18.6.6"), False),
    "amazon-02": (from_network("52.94.1.1"), False),
    # A term missing.
    "no-user-name": (by_identity(ROOT), False),
    "no-account": (
        by_identity(without(iam_user_identity(), "accountId"), recipientAccountId=None),
        False,
    ),
    "host-name-source": (from_network("lambda.amazonaws.com"), False),
    "aws-internal-source": (from_network("AWS Internal"), False),
    "as-without-organisation": (from_network(NO_ORGANISATION), False),
    "address-not-in-database": (from_network("8.8.8.8"), False),
}


@pytest.mark.parametrize(("record", "candidate"), list(QUERY_CASES.values()), ids=list(QUERY_CASES))
def test_it_alerts_only_on_events_the_rules_query_selects(ingest, record, candidate):
    ingest(record)

    output = run_detect()

    assert alerted() == ({"e": 1} if candidate else {})
    assert last_run().candidates == int(candidate)
    assert f"1 events evaluated, {candidate:d} candidates, {candidate:d} alerts created" in (
        output.summary
    )


def test_it_alerts_with_the_terms_in_rule_order_and_the_rules_severity(ingest):
    ingest(principal_invoke(T0, event_id="e"))

    run_detect()

    alert = Alert.objects.get()
    assert alert.new_terms == ["Evil VPS Ltd", ACCOUNT, "alice"]
    assert alert.as_number == 64500
    assert alert.original_time == T0
    assert (alert.severity, alert.risk_score, alert.status) == ("medium", 47, "open")
    assert alert.reason == (
        "Lambda Invoke arn:aws:lambda:eu-west-1:111122223333:function:billing-export by alice "
        "from Evil VPS Ltd, a network this principal has not used in the prior 10 days"
    )
    assert alert.run == last_run()
    assert list(AlertEvent.objects.values_list("alert", "event__event_id")) == [(alert.pk, "e")]


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({}, {"usual": 2}),
        ({"source_ip": EVIL_VPS_OTHER_AS}, {"usual": 2}),
        ({"source_ip": OFFICE}, {"usual": 1, "unusual": 1}),
        ({"account": "444455556666"}, {"usual": 1, "unusual": 1}),
        ({"user": "bob"}, {"usual": 1, "unusual": 1}),
    ],
    ids=["same-terms", "same-organisation-other-as", "organisation", "account", "user-name"],
)
def test_it_treats_a_change_in_any_one_term_as_new(ingest, change, expected):
    ingest(
        principal_invoke(T0, event_id="usual"),
        principal_invoke(T0 + DAY, event_id="unusual", **change),
    )

    run_detect()

    assert alerted() == expected


@pytest.mark.parametrize(
    "earlier",
    [
        principal_invoke(T0 - DAY, event_id="earlier", errorCode="AccessDeniedException"),
        principal_invoke(T0 - DAY, event_id="earlier", eventName="invoke"),
        management_record(when=T0 - DAY, event_id="earlier", sourceIPAddress=EVIL_VPS),
        invoke_record(
            when=T0 - DAY,
            event_id="earlier",
            source_ip=EVIL_VPS,
            identity=iam_user_identity(invokedBy="apigateway.amazonaws.com"),
        ),
    ],
    ids=["failed-invoke", "lower-case-action", "get-function", "invoked-by-a-service"],
)
def test_it_counts_only_candidates_as_history(ingest, earlier):
    ingest(earlier, principal_invoke(T0, event_id="e"))

    run_detect()

    assert alerted() == {"e": 1}


@pytest.mark.parametrize("same_run", [True, False], ids=["same-run", "next-run"])
@pytest.mark.parametrize(
    ("gap", "expected"),
    [
        (10 * DAY - SECOND, {"first": 2}),
        (10 * DAY, {"first": 1}),
        (10 * DAY + SECOND, {"first": 1, "again": 1}),
    ],
    ids=["inside", "at-ten-days", "just-outside"],
)
def test_it_looks_back_exactly_ten_days(ingest, same_run, gap, expected):
    first = principal_invoke(T0, event_id="first")
    again = principal_invoke(T0 + gap, event_id="again")
    if same_run:
        ingest(first, again)
    else:
        ingest(first)
        run_detect()
        ingest(again)

    run_detect()

    assert alerted() == expected


@pytest.mark.parametrize(
    ("baseline", "alerts"),
    [
        (None, False),
        (T0 - 10 * DAY, True),
        (T0 - 10 * DAY + SECOND, False),
    ],
    ids=["earliest-event", "ten-days-before", "a-second-later"],
)
def test_it_alerts_only_from_ten_days_after_the_baseline(ingest, settings, baseline, alerts):
    settings.DETECTION_BASELINE_START = baseline
    ingest(principal_invoke(T0, event_id="e"))

    run_detect()

    assert alerted() == ({"e": 1} if alerts else {})
    assert last_run().learning == int(not alerts)


def test_it_learns_from_the_earliest_stored_event_and_keeps_what_it_learned(ingest, settings):
    settings.DETECTION_BASELINE_START = None
    ingest(
        principal_invoke(T0, user="first", event_id="first"),
        principal_invoke(T0 + 10 * DAY - SECOND, user="learnt", event_id="learning"),
        principal_invoke(T0 + 10 * DAY, user="new", event_id="after"),
        # Seen during learning, within the 10 days: not new.
        principal_invoke(T0 + 12 * DAY, user="learnt", event_id="seen-while-learning"),
    )

    run_detect()

    assert alerted() == {"after": 1}
    run = last_run()
    assert run.learning == 2
    assert run.learning_until == T0 + 10 * DAY


def test_it_says_until_when_it_is_learning(ingest, settings):
    settings.DETECTION_BASELINE_START = None
    assert run_detect().summary.endswith(", learning: no events stored yet")

    earliest = (timezone.now() - 3 * DAY).replace(microsecond=0)
    ingest(principal_invoke(earliest, event_id="recent"))
    assert run_detect().summary.endswith(f", learning until {earliest + 10 * DAY:%Y-%m-%d %H:%M}Z")

    # Backfilling ten days of logs ends learning at once.
    ingest(principal_invoke(earliest - 8 * DAY, user="bob", event_id="backfill"))
    assert run_detect().summary.endswith(", learning over")
    assert alerted() == {}


def test_it_counts_the_events_of_an_episode_in_one_alert_for_the_earliest(ingest):
    # Stored latest first: the alert is still for the episode's first event.
    ingest(
        principal_invoke(T0 + 10 * DAY - SECOND, event_id="last"),
        principal_invoke(T0 + 3 * DAY, event_id="third"),
        principal_invoke(T0 + HOUR, event_id="second"),
        principal_invoke(T0, event_id="first"),
    )

    output = run_detect()

    alert = Alert.objects.get()
    assert (alert.event.event_id, alert.event_count) == ("first", 4)
    assert alert.episode_end == T0 + 10 * DAY - SECOND
    assert set(alert.episode.values_list("event__event_id", flat=True)) == {
        "first",
        "second",
        "third",
        "last",
    }
    assert "1 alerts created, 3 joined alerts" in output.summary


def test_it_adds_events_of_later_runs_to_the_alerts_episode(ingest):
    ingest(principal_invoke(T0, event_id="first"))
    run_detect()
    ingest(principal_invoke(T0 + 2 * DAY, event_id="second"))
    ingest(principal_invoke(T0 + 9 * DAY, event_id="third"))

    output = run_detect()

    assert alerted() == {"first": 3}
    assert Alert.objects.get().episode_end == T0 + 9 * DAY
    assert "2 events evaluated, 2 candidates, 0 alerts created, 2 joined alerts" in output.summary

    # Past the episode a principal that keeps using the network is not news.
    ingest(principal_invoke(T0 + 11 * DAY, event_id="fourth"))
    run_detect()
    assert alerted() == {"first": 3}


@pytest.mark.parametrize("late_by", [3 * HOUR, 4 * DAY], ids=["hours", "days"])
def test_it_evaluates_an_event_stored_after_later_events(ingest, late_by):
    ingest(principal_invoke(T0 + late_by, user="bob", event_id="on-time"))
    run_detect()
    ingest(principal_invoke(T0, user="carol", event_id="late"))

    output = run_detect()

    assert alerted() == {"on-time": 1, "late": 1}
    assert "1 events evaluated, 1 candidates, 1 alerts created" in output.summary


@pytest.mark.parametrize(
    ("earlier_by", "expected"),
    [
        (3 * DAY, {"alerted": 2}),
        (10 * DAY, {"alerted": 2}),
        (10 * DAY + SECOND, {"alerted": 1, "late": 1}),
    ],
    ids=["days-before", "ten-days-before", "just-over-ten-days-before"],
)
def test_it_adds_a_late_new_event_to_the_alert_that_follows_it(ingest, earlier_by, expected):
    ingest(principal_invoke(T0, event_id="alerted"))
    run_detect()
    ingest(principal_invoke(T0 - earlier_by, event_id="late"))

    run_detect()

    assert alerted() == expected
    assert Alert.objects.get(event__event_id="alerted").original_time == T0


@pytest.mark.parametrize("late_at", [T0 + 5 * DAY, T0 - 3 * DAY], ids=["in-episode", "before"])
def test_it_adds_a_late_event_to_an_older_alert_when_a_run_spans_pages(
    ingest, monkeypatch, late_at
):
    ingest(principal_invoke(T0, event_id="alerted"))
    run_detect()
    # A run reads stored events in pages of 5000; two keep this small. The next
    # run reads two pages: the principal back 20 days later (new again) with
    # other activity, then a late event belonging to the first alert.
    monkeypatch.setattr(detector, "PAGE_EVENTS", 2)
    ingest(
        principal_invoke(T0 + 20 * DAY, event_id="returning"),
        management_record(when=T0 + 20 * DAY, identity=iam_user_identity("dev")),
    )
    ingest(principal_invoke(late_at, event_id="late"))

    run_detect()

    assert alerted() == {"alerted": 2, "returning": 1}


def test_it_alerts_once_on_an_event_delivered_in_two_files(ingest):
    record = principal_invoke(T0, event_id="twice")
    ingest(record, principal_invoke(T0 + HOUR, user="bob", event_id="bob"))
    ingest(record)
    run_detect()
    ingest(principal_invoke(T0 + 2 * HOUR, event_id="later"), record)

    run_detect()

    assert Event.objects.filter(event_id="twice").count() == 1
    assert alerted() == {"twice": 2, "bob": 1}
    assert AlertEvent.objects.count() == 3


def test_it_creates_nothing_when_run_again(ingest):
    ingest(
        principal_invoke(T0, event_id="alice"),
        principal_invoke(T0 + HOUR, event_id="alice-again"),
        principal_invoke(T0, user="bob", event_id="bob"),
    )
    run_detect()

    assert run_detect().summary == IDLE_SUMMARY
    assert alerted() == {"alice": 2, "bob": 1}
    assert AlertEvent.objects.count() == 3


def test_it_creates_nothing_when_a_file_is_read_again(tmp_path):
    records = [principal_invoke(T0, event_id="alice"), principal_invoke(T0, user="bob")]
    log = write_log(tmp_path / "log.json.gz", records)
    run_ingest_files(log)
    run_detect()
    run_ingest_files(log)
    # The same records under another name: a new file, no new events.
    run_ingest_files(write_log(tmp_path / "copy.json", records))

    assert run_detect().summary == IDLE_SUMMARY
    assert Alert.objects.count() == 2


def test_it_creates_at_most_100_alerts_a_run_and_the_next_run_continues(ingest):
    users = [f"user-{n:03d}" for n in range(150)]
    # Each user's second invocation belongs to its episode, whichever run opens it.
    # Stored latest first, so the run that stops at the cap has evaluated events
    # stored after the point where the next run resumes.
    records = [
        *[principal_invoke(T0 + n * SECOND, user=user) for n, user in enumerate(users)],
        *[principal_invoke(T0 + HOUR + n * SECOND, user=user) for n, user in enumerate(users)],
    ]
    ingest(*reversed(records))

    first = run_detect()

    assert "100 alerts created" in first.summary
    assert "deferred past the cap" in first.summary
    run = last_run()
    assert (run.alerts_created, run.deferred) == (100, True)
    # The earliest events are the ones alerted first.
    assert sorted(Alert.objects.values_list("user_name", flat=True)) == users[:100]
    assert f"deferred past the cap at {T0 + 100 * SECOND:%Y-%m-%d %H:%M:%S}Z" in first.summary

    second = run_detect()

    assert "50 alerts created" in second.summary
    assert "nothing deferred" in second.summary
    assert (last_run().alerts_created, last_run().deferred) == (50, False)
    # Each event evaluated once: the first run stopped at the 101st event in time order.
    assert (run.events_evaluated, last_run().events_evaluated) == (100, 200)
    assert sorted(Alert.objects.values_list("user_name", flat=True)) == users
    assert set(Alert.objects.values_list("event_count", flat=True)) == {2}
    assert AlertEvent.objects.count() == 300
    assert run_detect().summary == IDLE_SUMMARY


def test_it_records_each_run(ingest):
    ingest(
        principal_invoke(T0, event_id="alert"),
        principal_invoke(T0 + HOUR, event_id="joins"),
        principal_invoke(T0, user="bob", source_ip="52.94.1.1"),
        management_record(when=T0, sourceIPAddress=EVIL_VPS),
    )
    before = timezone.now()

    run_detect()

    run = last_run()
    assert run.started_at >= before
    assert run.finished_at >= run.started_at
    # The run took on every stored event: the cursor is past their storing transactions.
    assert run.cursor_from == 0
    assert run.cursor_to > Event.objects.aggregate(last=Max("stored_xid"))["last"]
    assert (run.events_evaluated, run.candidates, run.alerts_created, run.events_joined) == (
        4,
        2,
        1,
        1,
    )
    assert (run.suppressed, run.learning, run.deferred, run.error) == (0, 0, False, "")
    assert DetectorState.objects.get().cursor == run.cursor_to

    run_detect()

    idle = last_run()
    assert (idle.cursor_from, idle.cursor_to, idle.events_evaluated) == (
        run.cursor_to,
        run.cursor_to,
        0,
    )
