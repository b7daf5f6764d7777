"""manage.py poll: every configured source once, its summary, leases and the inbox folder."""

import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from ingest.geoip import network_lookup
from ingest.models import Event, LogObject, SourceState
from tests.aws import (
    BUCKET,
    aws_environment,
    database_url,
    make_bucket,
    make_queue,
    put_log,
    send,
)
from tests.cloudtrail import invoke_record, log_key, write_log
from tests.helpers import PROJECT_ROOT
from tests.ingest.polling import run_poll

pytestmark = pytest.mark.django_db
MOMENT = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)


def stored() -> set[str]:
    return set(Event.objects.values_list("event_id", flat=True))


def record(event_id: str) -> dict:
    return invoke_record(when=MOMENT, event_id=event_id)


@pytest.fixture
def inbox(tmp_path: Path, settings) -> Path:
    folder = tmp_path / "inbox"
    folder.mkdir()
    settings.CLOUDTRAIL_INBOX_DIR = folder
    return folder


def test_it_says_when_no_source_is_configured():
    run = run_poll()

    assert run.error is not None
    assert "no source is configured (set CLOUDTRAIL_S3_BUCKET" in str(run.error)


def test_it_polls_every_configured_source_and_ends_with_one_summary(aws_server, settings, inbox):
    make_bucket()
    put_log(log_key(delivered=MOMENT, unique="POLLED"), [record("polled")])
    settings.CLOUDTRAIL_S3_BUCKET = BUCKET
    queue = make_queue()
    put_log(log_key(delivered=MOMENT, unique="NOTIFIED"), [record("notified")])
    send(queue, {"s3Bucket": BUCKET, "s3ObjectKey": [log_key(delivered=MOMENT, unique="NOTIFIED")]})
    settings.CLOUDTRAIL_SQS_QUEUE_URL = queue
    settings.CLOUDTRAIL_SQS_WAIT_SECONDS = 0
    write_log(inbox / "dropped.json.gz", [record("dropped"), record("polled")])

    run = run_poll()

    assert run.error is None, run.stderr
    assert stored() == {"polled", "notified", "dropped"}
    # The queue's object was polled from the bucket first: the notification finds it read.
    assert run.stdout.splitlines()[-1] == (
        "poll: 3 sources, 3 objects, 3 new events, 1 duplicates, 1 skipped, 0 failed, "
        "0 left for the next poll, 0 problems"
    )
    assert {state.kind for state in SourceState.objects.all()} == {"s3", "sqs", "inbox"}


def test_it_reads_each_inbox_file_once_and_a_changed_file_again(inbox):
    first = write_log(inbox / "a" / "first.json.gz", [record("first")])
    write_log(inbox / "second.json", [record("second")])
    (inbox / "notes.txt").write_text("not CloudTrail's")

    run = run_poll()
    assert run.error is None, run.stderr
    assert run.summary.startswith("poll: 1 sources, 2 objects, 2 new events,")

    run = run_poll()
    assert run.summary.startswith("poll: 1 sources, 0 objects, 0 new events,")

    write_log(first, [record("first"), record("added")])
    os.utime(first, (time.time() + 5, time.time() + 5))
    run = run_poll()

    assert run.error is None, run.stderr
    assert run.summary.startswith("poll: 1 sources, 1 objects, 1 new events, 1 duplicates,")
    assert stored() == {"first", "second", "added"}


def test_it_records_a_corrupt_inbox_file_and_does_not_read_it_again(inbox):
    (inbox / "broken.json").write_text('{"Records": [')

    run = run_poll()
    assert run.error is not None
    assert "broken.json: invalid JSON" in run.stderr
    assert LogObject.objects.get().status == "failed"

    run = run_poll()

    assert run.error is None, run.stderr
    assert run.summary.startswith("poll: 1 sources, 0 objects, 0 new events,")
    assert SourceState.objects.get().objects_failed == 1


def test_it_leaves_a_source_another_poll_holds(inbox):
    write_log(inbox / "waiting.json", [record("waiting")])
    state = SourceState.objects.create(
        name=str(inbox.resolve()),
        kind="inbox",
        lease_holder="worker-7.example:4242:abcd1234",
        lease_expires_at=timezone.now() + timedelta(minutes=5),
    )

    run = run_poll()

    assert run.error is None, run.stderr
    assert "skipped: another poll holds this source" in run.stdout
    assert run.summary.startswith("poll: 1 sources (1 busy), 0 objects,")
    assert stored() == set()

    # A lease that expired belongs to a poll that died elsewhere.
    SourceState.objects.filter(pk=state.pk).update(lease_expires_at=timezone.now())
    run = run_poll()

    assert run.error is None, run.stderr
    assert stored() == {"waiting"}
    assert SourceState.objects.get().lease_holder == ""


def test_it_needs_the_asn_database(inbox, settings):
    write_log(inbox / "waiting.json", [record("waiting")])
    settings.GEOIP_ASN_DB = None
    network_lookup.cache_clear()

    run = run_poll()

    assert run.error is not None
    assert "GEOIP_ASN_DB is not set" in run.stderr
    assert stored() == set()


@pytest.mark.django_db(transaction=True)
def test_a_poll_killed_mid_object_loses_nothing_and_duplicates_nothing(
    aws_server, settings, geoip_dir
):
    make_bucket()
    objects, per_object = 20, 200
    for n in range(objects):
        records = [record(f"killed-{n}-{i}") for i in range(per_object)]
        # Each file also repeats an event of the one before it.
        if n:
            records.append(record(f"killed-{n - 1}-0"))
        put_log(log_key(delivered=MOMENT, unique=f"K{n:03}"), records)
    env = {
        **os.environ,
        **aws_environment(aws_server),
        "DATABASE_URL": database_url(),
        "GEOIP_ASN_DB": str(geoip_dir / "asn.mmdb"),
        "CLOUDTRAIL_S3_BUCKET": BUCKET,
    }
    command = [sys.executable, "manage.py", "poll"]
    child = subprocess.Popen(
        command, cwd=PROJECT_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    deadline = time.monotonic() + 60
    while LogObject.objects.count() < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    child.send_signal(signal.SIGKILL)
    child.wait()
    assert 3 <= LogObject.objects.count() < objects, "the poll ended before it could be killed"
    assert SourceState.objects.get().lease_holder != ""

    # The lease of a process that is gone is taken over at once, not after it expires.
    result = subprocess.run(command, cwd=PROJECT_ROOT, env=env, capture_output=True, text=True)

    assert result.returncode == 0, result.stderr
    assert Event.objects.count() == objects * per_object
    assert LogObject.objects.filter(status="done").count() == objects
    assert set(LogObject.objects.values_list("records", flat=True)) == {per_object, per_object + 1}


def test_a_source_that_cannot_be_read_does_not_stop_the_others(aws_server, settings, inbox):
    settings.CLOUDTRAIL_S3_BUCKET = "no-such-trail-bucket"
    write_log(inbox / "dropped.json", [record("dropped")])

    run = run_poll()

    assert run.error is not None
    assert "NoSuchBucket" in run.stderr
    assert stored() == {"dropped"}
    assert run.summary.startswith("poll: 2 sources, 1 objects, 1 new events,")
