"""manage.py ingest_files PATH…: CloudTrail log files and folders into stored events."""

import gzip
import json
import os
from datetime import UTC, datetime, timedelta

import pytest
from django.core.management import CommandError
from django.db import connection
from django.utils import timezone

from ingest import files, store
from ingest.models import Event, LogObject
from tests.cloudtrail import (
    ACCOUNT,
    REGION,
    invoke_record,
    log_document,
    log_key,
    run_ingest_files,
    write_log,
)

pytestmark = pytest.mark.django_db
T0 = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


def record(event_id: str, minutes: int = 0) -> dict:
    return invoke_record(when=T0 + timedelta(minutes=minutes), event_id=event_id)


def stored_ids() -> set[str]:
    return set(Event.objects.values_list("event_id", flat=True))


def summary(files=0, records=0, new=0, duplicates=0, skipped=0, failed=0, problems=0) -> str:
    return (
        f"ingest_files: {files} files, {records} records, {new} new events, "
        f"{duplicates} duplicates, {skipped} skipped, {failed} failed, {problems} problems"
    )


def test_it_reads_json_and_gzip_files_in_folders_recursively(tmp_path):
    write_log(tmp_path / "logs" / "plain.json", [record("plain")])
    write_log(tmp_path / "logs" / "2026" / "11" / "20" / "packed.json.gz", [record("packed")])
    (tmp_path / "logs" / "README.txt").write_text("not CloudTrail's")
    single = write_log(tmp_path / "elsewhere" / "single.json.gz", [record("single")])

    run = run_ingest_files(tmp_path / "logs", single)

    assert run.error is None, run.stderr
    assert run.stdout.splitlines() == [summary(files=3, records=3, new=3)]
    assert stored_ids() == {"plain", "packed", "single"}


def test_it_reads_cloudtrails_key_layout_with_and_without_an_organization(tmp_path):
    write_log(tmp_path / log_key(delivered=T0, unique="SOLO"), [record("account-trail")])
    write_log(
        tmp_path / log_key(delivered=T0, unique="ORG1", org="o-a1b2c3d4e5"), [record("org-trail")]
    )

    run = run_ingest_files(tmp_path / "AWSLogs")

    assert run.error is None, run.stderr
    assert stored_ids() == {"account-trail", "org-trail"}


def test_it_skips_digest_insight_and_empty_files_without_failing(tmp_path):
    day = f"{REGION}/{T0:%Y/%m/%d}"
    digest = tmp_path / (
        f"AWSLogs/{ACCOUNT}/CloudTrail-Digest/{day}/"
        f"{ACCOUNT}_CloudTrail-Digest_{REGION}_trail_{REGION}_{T0:%Y%m%dT%H%M%S}Z.json.gz"
    )
    digest.parent.mkdir(parents=True)
    # A digest is not a log: read as one, it would fail for want of Records.
    digest.write_bytes(gzip.compress(json.dumps({"digestEndTime": "x", "logFiles": []}).encode()))
    insight = tmp_path / (
        f"AWSLogs/o-a1b2c3d4e5/{ACCOUNT}/CloudTrail-Insight/{day}/"
        f"{ACCOUNT}_CloudTrail-Insight_{REGION}_{T0:%Y%m%dT%H%M}Z_X.json.gz"
    )
    # Insight events carry eventIDs: read as a log, they would be stored.
    write_log(insight, [record("insight", 1) | {"eventType": "AwsCloudTrailInsight"}])
    empty = tmp_path / log_key(delivered=T0, unique="EMPTY")
    empty.parent.mkdir(parents=True, exist_ok=True)
    empty.touch()
    write_log(tmp_path / log_key(delivered=T0, unique="LOG"), [record("event")])

    run = run_ingest_files(tmp_path)

    assert run.error is None, run.stderr
    assert run.stderr == ""
    assert run.summary == summary(files=4, records=1, new=1, skipped=3)
    assert stored_ids() == {"event"}


def test_it_stores_records_whatever_the_order_of_files_and_records(tmp_path):
    # The file delivered last holds the oldest events, and no file is sorted.
    write_log(tmp_path / log_key(delivered=T0, unique="EARLY"), [record("b", 50), record("a", 40)])
    write_log(
        tmp_path / log_key(delivered=T0 + timedelta(hours=2), unique="LATE"),
        [record("z", 5), record("c", 60), record("y", -90)],
    )

    run = run_ingest_files(tmp_path)

    assert run.error is None, run.stderr
    assert dict(Event.objects.values_list("event_id", "timestamp")) == {
        "y": T0 - timedelta(minutes=90),
        "z": T0 + timedelta(minutes=5),
        "a": T0 + timedelta(minutes=40),
        "b": T0 + timedelta(minutes=50),
        "c": T0 + timedelta(minutes=60),
    }


def test_it_stores_an_event_repeated_in_a_file_or_across_files_once(tmp_path):
    first = write_log(tmp_path / "first.json", [record("a"), record("b"), record("a")])
    second = write_log(tmp_path / "second.json.gz", [record("b"), record("c")])

    run = run_ingest_files(first, second)

    assert run.error is None, run.stderr
    assert run.stdout.splitlines() == [summary(files=2, records=5, new=3, duplicates=2)]
    assert Event.objects.count() == 3
    assert {(o.new_events, o.duplicates) for o in LogObject.objects.all()} == {(2, 1), (1, 1)}


def test_it_records_when_and_from_which_file_each_event_was_stored(tmp_path):
    first = write_log(tmp_path / "a.json", [record("a1"), record("a2")])
    second = write_log(tmp_path / "b.json.gz", [record("b1")])
    before = timezone.now()

    run_ingest_files(first, second)

    after = timezone.now()
    log_objects = {o.key: o.pk for o in LogObject.objects.all()}
    events = Event.objects.all()
    assert {e.event_id: e.log_object_id for e in events} == {
        "a1": log_objects[str(first)],
        "a2": log_objects[str(first)],
        "b1": log_objects[str(second)],
    }
    assert all(before <= e.ingested <= after for e in events)


def test_it_reads_a_file_named_twice_once(tmp_path):
    log = write_log(tmp_path / "logs" / "a.json", [record("a")])

    run = run_ingest_files(tmp_path / "logs", log)

    assert run.summary == summary(files=1, records=1, new=1)


def test_it_stores_a_file_larger_than_one_copy_batch_whole(tmp_path, monkeypatch):
    monkeypatch.setattr(store, "COPY_BATCH_ROWS", 2)
    write_log(tmp_path / "first.json", [record("c")])
    log = write_log(tmp_path / "second.json", [record(f"{n}") for n in "abcde"])

    run = run_ingest_files(tmp_path / "first.json", log)

    assert run.summary == summary(files=2, records=6, new=5, duplicates=1)
    assert stored_ids() == set("abcde")
    assert len({e.log_object_id for e in Event.objects.exclude(event_id="c")}) == 1


def test_it_keeps_the_first_copy_of_a_repeated_event(tmp_path):
    original = record("a") | {"eventName": "Invoke"}
    write_log(tmp_path / "1.json", [original])
    write_log(tmp_path / "2.json", [original | {"eventName": "Tampered"}])

    run_ingest_files(tmp_path)

    assert Event.objects.get().action == "Invoke"


def test_it_skips_a_file_it_has_already_read(tmp_path):
    log = write_log(tmp_path / "log.json.gz", [record("a"), record("b"), record("c")])
    run_ingest_files(log)

    run = run_ingest_files(log)

    assert run.error is None, run.stderr
    assert run.summary == summary(files=1, skipped=1)
    assert LogObject.objects.count() == 1


def test_it_reads_a_changed_file_at_the_same_path(tmp_path):
    log = write_log(tmp_path / "log.json.gz", [record("a"), record("b")])
    run_ingest_files(log)
    write_log(log, [record("a"), record("b"), record("c")])

    run = run_ingest_files(log)

    assert run.error is None, run.stderr
    assert run.summary == summary(files=1, records=3, new=1, duplicates=2)
    assert stored_ids() == {"a", "b", "c"}


NESTED_TOO_DEEP = b'{"Records": [' + b"[" * 100_000 + b"]" * 100_000 + b"]}"


@pytest.mark.parametrize(
    ("content", "says"),
    [
        (gzip.compress(log_document([record("lost")]))[:-20], "gzip"),
        (b'{"Records": [{"eventID": "lost",', "JSON"),
        (b'{"Records": [{"eventID": "caf\xe9"}]}', "UTF-8"),
        (json.dumps({"records": [record("lost")]}).encode(), "Records"),
        (json.dumps([record("lost")]).encode(), "Records"),
        (json.dumps({"Records": {"0": record("lost")}}).encode(), "Records"),
        (NESTED_TOO_DEEP, "JSON"),
    ],
    ids=[
        "truncated-gzip",
        "invalid-json",
        "not-utf8",
        "no-records",
        "array-document",
        "records-not-a-list",
        "nested-too-deep",
    ],
)
def test_it_reports_a_file_it_cannot_read_and_stores_the_others(tmp_path, content, says):
    write_log(tmp_path / "a.json", [record("before")])
    bad = tmp_path / "b.json.gz"
    bad.write_bytes(content)
    write_log(tmp_path / "c.json", [record("after")])

    run = run_ingest_files(tmp_path)

    assert isinstance(run.error, CommandError)
    [problem] = run.problem_lines(bad.name)
    assert says.lower() in problem.lower()
    assert run.summary == summary(files=3, records=2, new=2, failed=1, problems=1)
    assert stored_ids() == {"before", "after"}


@pytest.mark.parametrize(
    ("bad_record", "says"),
    [
        ("not a record", "object"),
        ([record("lost")], "object"),
        (None, "object"),
        ({k: v for k, v in record("lost").items() if k != "eventID"}, "eventID"),
        ({k: v for k, v in record("lost").items() if k != "eventTime"}, "eventTime"),
        (record("lost") | {"eventTime": "yesterday"}, "eventTime"),
        (record("lost") | {"eventTime": "9999-12-31T23:59:59-01:00"}, "eventTime"),
    ],
    ids=[
        "string",
        "array",
        "null",
        "no-event-id",
        "no-event-time",
        "event-time-not-a-time",
        "event-time-out-of-range",
    ],
)
def test_it_reports_a_record_it_cannot_store_by_position_and_stores_the_others(
    tmp_path, bad_record, says
):
    log = write_log(tmp_path / "log.json", [record("first"), bad_record, record("third")])
    write_log(tmp_path / "more.json", [record("elsewhere")])

    run = run_ingest_files(log, tmp_path / "more.json")

    assert isinstance(run.error, CommandError)
    [problem] = run.problem_lines("Records[1]")
    assert log.name in problem
    assert says in problem
    assert run.summary == summary(files=2, records=4, new=3, problems=1)
    assert stored_ids() == {"first", "third", "elsewhere"}


@pytest.mark.parametrize("number", ["NaN", "Infinity", "-Infinity", "1e400"])
def test_it_reports_a_record_holding_a_number_json_cannot_hold_and_stores_the_others(
    tmp_path, number
):
    # Python reads these literals (1e400 as infinity), but JSON has no such numbers.
    text = log_document([record("first"), record("odd"), record("third")]).decode()
    text = text.replace('"eventID": "odd"', f'"eventID": "odd", "bytes": {number}')
    log = tmp_path / "log.json"
    log.write_text(text)

    run = run_ingest_files(log)

    assert isinstance(run.error, CommandError)
    [problem] = run.problem_lines("Records[1]")
    assert log.name in problem
    assert "refused" in problem
    assert run.summary == summary(files=1, records=3, new=2, problems=1)
    assert stored_ids() == {"first", "third"}


def test_it_keeps_an_integer_beyond_64_bits_exactly(tmp_path):
    large = 2**70 + 1  # a double would make it 2**70
    log = write_log(tmp_path / "log.json.gz", [record("large") | {"bytes": large}])

    run_ingest_files(log)

    assert Event.objects.get(event_id="large").raw["bytes"] == large


def test_it_keeps_the_record_as_written(tmp_path):
    written = dict(reversed((record("kept") | {"note": 'é ✓ \\ "quoted"\n'}).items()))
    run_ingest_files(write_log(tmp_path / "log.json", [written]))

    raw = Event.objects.get(event_id="kept").raw
    assert raw == written
    assert list(raw) == list(written)


def test_it_truncates_a_huge_user_agent_in_its_column_and_keeps_it_in_the_record(tmp_path):
    agent = "Mozilla/5.0 " + "A" * 300_000
    log = write_log(
        tmp_path / "log.json.gz", [record("fine"), record("huge") | {"userAgent": agent}]
    )

    run = run_ingest_files(log)

    assert isinstance(run.error, CommandError)
    [problem] = run.problem_lines("Records[1]")
    assert log.name in problem
    assert "user_agent" in problem
    event = Event.objects.get(event_id="huge")
    assert 0 < len(event.user_agent) < len(agent)
    assert agent.startswith(event.user_agent)
    assert event.raw["userAgent"] == agent
    assert stored_ids() == {"fine", "huge"}


def nul_log(tmp_path):
    # PostgreSQL can hold NUL neither in text nor in jsonb.
    return write_log(
        tmp_path / "log.json.gz",
        [
            record("fine"),
            record("nul")
            | {
                "userAgent": "curl\u0000/8.0",
                "requestParameters": {"function\u0000Name": "x\u0000"},
            },
        ],
    )


def test_it_stores_a_nul_character_as_the_replacement_character(tmp_path):
    run_ingest_files(nul_log(tmp_path))

    event = Event.objects.get(event_id="nul")
    assert event.user_agent == "curl\ufffd/8.0"
    assert event.request_parameters == {"function\ufffdName": "x\ufffd"}
    assert event.raw["userAgent"] == "curl\ufffd/8.0"
    assert stored_ids() == {"fine", "nul"}


def test_it_stores_a_lone_surrogate_as_the_replacement_character_and_says_so(tmp_path):
    # "\ud800" is valid JSON but no UTF-8 text: PostgreSQL cannot store it.
    log = write_log(
        tmp_path / "log.json", [record("fine"), record("odd") | {"userAgent": "a\ud800b"}]
    )

    run = run_ingest_files(log)

    assert isinstance(run.error, CommandError)
    [problem] = run.problem_lines("Records[1]")
    assert log.name in problem
    assert Event.objects.get(event_id="odd").user_agent == "a\ufffdb"
    assert stored_ids() == {"fine", "odd"}


def test_it_reports_a_nul_character_it_replaced(tmp_path):
    log = nul_log(tmp_path)

    run = run_ingest_files(log)

    assert isinstance(run.error, CommandError)
    [problem] = run.problem_lines("Records[1]")
    assert log.name in problem


def test_it_stores_nothing_from_a_file_whose_storage_fails_and_reads_it_again(tmp_path):
    # Marking the file read is the last write of its transaction; a failure
    # there must take the file's events with it, or half-stored files would be
    # skipped as read (or counted as duplicates) ever after.
    log_objects = connection.ops.quote_name(LogObject._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE FUNCTION refuse_log_object() RETURNS trigger LANGUAGE plpgsql AS $$"
            " BEGIN RAISE EXCEPTION 'disk full'; END $$"
        )
        cursor.execute(
            f"CREATE TRIGGER refuse_log_object BEFORE INSERT OR UPDATE ON {log_objects}"
            " FOR EACH ROW WHEN (NEW.new_events > 0) EXECUTE FUNCTION refuse_log_object()"
        )
    log = write_log(tmp_path / "log.json.gz", [record("a"), record("b"), record("c")])

    run = run_ingest_files(log)

    assert isinstance(run.error, CommandError)
    [problem] = run.problem_lines("could not be stored")
    assert log.name in problem
    assert "disk full" in problem
    assert Event.objects.count() == 0
    assert not LogObject.objects.filter(status=LogObject.Status.DONE).exists()

    with connection.cursor() as cursor:
        cursor.execute(f"DROP TRIGGER refuse_log_object ON {log_objects}")
    run = run_ingest_files(log)

    assert run.summary == summary(files=1, records=3, new=3)


def _decoder_dies(*args, **kwargs):
    os._exit(1)


def test_it_says_so_when_the_decoding_process_dies_and_reads_everything_next_time(
    tmp_path, monkeypatch
):
    log = write_log(tmp_path / "log.json", [record("a"), record("b")])
    monkeypatch.setattr(files, "_prepare", _decoder_dies)

    run = run_ingest_files(log)

    assert isinstance(run.error, CommandError)
    assert "run the command again" in str(run.error)
    assert Event.objects.count() == 0
    monkeypatch.undo()
    assert run_ingest_files(log).summary == summary(files=1, records=2, new=2)


def test_it_reports_a_broken_file_again_on_the_next_run(tmp_path):
    bad = tmp_path / "log.json"
    bad.write_bytes(b'{"Records": [')
    run_ingest_files(bad)

    run = run_ingest_files(bad)

    assert isinstance(run.error, CommandError)
    assert run.problem_lines(bad.name)
    assert run.summary == summary(files=1, failed=1, problems=1)


def test_it_reports_a_path_that_does_not_exist_and_reads_the_others(tmp_path):
    missing = tmp_path / "no-such-folder"
    good = write_log(tmp_path / "log.json", [record("a")])

    run = run_ingest_files(missing, good)

    assert isinstance(run.error, CommandError)
    assert run.problem_lines(str(missing))
    assert run.summary == summary(files=1, records=1, new=1, failed=1, problems=1)
    assert stored_ids() == {"a"}


def test_it_prints_problems_on_stderr_and_only_the_summary_on_stdout(tmp_path):
    write_log(tmp_path / "log.json", [record("a"), {"eventTime": "2026-11-20T12:00:00Z"}])
    (tmp_path / "broken.json").write_bytes(b"{")

    run = run_ingest_files(tmp_path)

    assert run.stdout.splitlines() == [summary(files=2, records=2, new=1, failed=1, problems=2)]
    assert len(run.stderr.splitlines()) == 2
    assert "2 problems" in str(run.error)
