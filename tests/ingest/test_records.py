"""Each event's record is kept once, in compressed blocks of its log file, and read back exactly."""

import json
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection

from ingest.ecs import normalise
from ingest.models import Event, LogRecords, load_details, with_details
from ingest.records import BLOCK_RECORDS, FROM_RECORD, Block, encode_quickly
from tests.cloudtrail import invoke_record, management_record, run_ingest_files, write_log

pytestmark = pytest.mark.django_db
NOW = datetime.now(UTC).replace(microsecond=0)
RECORDS = 2 * BLOCK_RECORDS + 37  # three blocks, the last one short


def varied_records() -> list[dict]:
    records = []
    for index in range(RECORDS):
        when = NOW - timedelta(minutes=index)
        if index % 3:
            record = invoke_record(when=when, source_ip=f"198.51.100.{index % 250}")
            record["requestParameters"]["payload"] = {"n": index, "deep": [{"k": [index]}]}
        else:
            record = management_record(when=when)
        record["eventID"] = f"event-{index:04d}"
        records.append(record)
    records[5]["userAgent"] = "<script>alert('ua')</script> ✓ é"
    records[6]["requestParameters"]["bytes"] = 2**70 + 1  # beyond 64 bits: kept exact
    records[9]["requestParameters"]["small"] = -(2**63) - 1  # nineteen digits, below 64 bits
    records[7]["note"] = 'quotes " and \\ backslashes\n and a tab\t'
    records[8] = dict(reversed(records[8].items()))  # the record's own key order
    return records


def test_every_stored_event_of_a_file_reads_back_its_record_exactly(tmp_path):
    records = varied_records()
    repeated = [*records, records[3]]  # a record the file repeats is kept once
    assert run_ingest_files(write_log(tmp_path / "log.json.gz", repeated)).error is None

    events = {event.event_id: event for event in with_details(Event.objects.all())}
    assert len(events) == RECORDS
    for record in records:
        event = events[record["eventID"]]
        assert event.raw == record
        assert list(event.raw) == list(record)  # key order as written
        assert event.details.record == encode_quickly(record)  # byte for byte as stored
        expected = normalise(record).columns
        for name in FROM_RECORD:
            if name != "geo":
                assert getattr(event, name) == expected[name], (record["eventID"], name)
    assert events["event-0006"].raw["requestParameters"]["bytes"] == 2**70 + 1
    assert events["event-0009"].raw["requestParameters"]["small"] == -(2**63) - 1
    assert events["event-0005"].user_agent == "<script>alert('ua')</script> ✓ é"


def test_the_records_are_kept_once_per_file_a_tenth_of_their_size(tmp_path):
    records = varied_records()
    assert run_ingest_files(write_log(tmp_path / "log.json.gz", records)).error is None

    blocks = list(LogRecords.objects.order_by("block"))
    assert [block.block for block in blocks] == [0, 1, 2]
    unpacked = [Block.unpack(bytes(block.frame)) for block in blocks]
    assert [len(block.records) for block in unpacked] == [BLOCK_RECORDS, BLOCK_RECORDS, 37]
    stored = sum(len(bytes(block.frame)) for block in blocks)
    as_json = sum(len(json.dumps(record)) for record in records)
    assert stored < as_json / 5
    # Each block knows its newest event, for retention.
    newest = {block.block: block.newest for block in blocks}
    assert newest[0] == NOW  # the first records are the newest here
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM information_schema.columns WHERE column_name = 'raw'")
        assert cursor.fetchone() == (0,)


def test_a_page_of_events_reads_each_block_once(tmp_path, django_assert_max_num_queries):
    records = varied_records()
    assert run_ingest_files(write_log(tmp_path / "log.json.gz", records)).error is None
    events = list(Event.objects.order_by("id"))

    with django_assert_max_num_queries(1):
        load_details(events)
        user_agents = [event.user_agent for event in events]

    assert user_agents == [record.get("userAgent") for record in records]


def test_an_event_without_a_kept_record_reads_as_having_none(tmp_path):
    records = varied_records()[:3]
    assert run_ingest_files(write_log(tmp_path / "log.json", records)).error is None
    LogRecords.objects.all().delete()
    event = Event.objects.get(event_id="event-0001")

    assert event.raw is None
    assert event.user_agent is None
    assert event.provider == "lambda.amazonaws.com"  # the row's own columns are all there
