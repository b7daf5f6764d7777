"""A real Celery worker, on the Redis broker, runs poll_and_detect from S3 to alerts.

The worker is a separate process started as in production (`celery -A config
worker`), pointed at the test database, the S3 API server and the test ASN
database; the task is sent through Redis as the scheduler sends it.
"""

import os
import signal
import subprocess
import time
import uuid
from datetime import UTC, datetime, timedelta

import pytest
import redis
from celery import Celery

import ingest.tasks
import triage.tasks
from config.celery import POLL_EVERY_SECONDS, app
from ingest.models import Event, SourceState
from tests.aws import (
    BUCKET,
    aws_environment,
    aws_server,
    database_url,
    make_bucket,
    moto_endpoint,
    put_log,
)
from tests.cloudtrail import iam_user_identity, invoke_record, log_key
from tests.helpers import PROJECT_ROOT, SHARES_REDIS, stop_worker, worker_command
from triage.models import Alert, DetectionRun

__all__ = ["aws_server", "moto_endpoint"]  # fixtures
pytestmark = SHARES_REDIS
REDIS_URL = "redis://127.0.0.1:6379/13"
OFFICE = "198.51.100.7"  # Example Office Networks in the test ASN database
EVIL_VPS = "203.0.113.10"  # Evil VPS Ltd


def test_the_schedule_polls_and_detects_every_five_minutes_within_time_limits():
    entry = app.conf.beat_schedule["poll-and-detect"]
    task = triage.tasks.poll_and_detect

    assert entry["task"] == "triage.tasks.poll_and_detect"
    assert entry["schedule"] == POLL_EVERY_SECONDS == 300
    assert entry["options"]["expires"] < POLL_EVERY_SECONDS
    assert task.acks_late is True
    assert 0 < task.soft_time_limit < task.time_limit
    assert (
        app.conf.beat_schedule["delete-old-events"]["task"] == ingest.tasks.delete_old_events.name
    )
    retention = ingest.tasks.delete_old_events
    assert 0 < retention.soft_time_limit < retention.time_limit


def _wait_for(condition, *, seconds: float, worker: subprocess.Popen) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return
        if worker.poll() is not None:
            pytest.fail(f"the worker exited:\n{worker.stdout.read()}")
        time.sleep(0.25)
    worker.send_signal(signal.SIGTERM)
    pytest.fail(f"timed out; the worker said:\n{worker.communicate(timeout=30)[0][-6000:]}")


@pytest.mark.e2e
@pytest.mark.django_db(transaction=True)
def test_a_worker_polls_the_bucket_and_raises_an_alert(aws_server, geoip_dir):
    now = datetime.now(UTC).replace(microsecond=0)
    make_bucket()
    alice = iam_user_identity("alice")
    # Alice works from the office: her history starts 10.5 days back (so the
    # rule's learning period is over) and goes on within the 10-day window.
    for days, unique in ((10.5, "FIRST"), (5, "RECENT")):
        then = now - timedelta(days=days)
        put_log(
            log_key(delivered=then, unique=unique),
            [invoke_record(when=then, source_ip=OFFICE, identity=alice, event_id=unique)],
        )
    today = now - timedelta(minutes=30)
    put_log(
        log_key(delivered=today, unique="TODAY"),
        [
            invoke_record(when=today, source_ip=OFFICE, identity=alice, event_id="office-now"),
            invoke_record(when=today, source_ip=EVIL_VPS, identity=alice, event_id="stolen-key"),
        ],
    )
    queue = f"asnwatch-test-{uuid.uuid4().hex[:8]}"
    env = {
        **os.environ,
        **aws_environment(aws_server),
        "DATABASE_URL": database_url(),
        "CELERY_BROKER_URL": REDIS_URL,
        "GEOIP_ASN_DB": str(geoip_dir / "asn.mmdb"),
        "CLOUDTRAIL_S3_BUCKET": BUCKET,
        "CLOUDTRAIL_START": (now - timedelta(days=12)).isoformat(),
        "PYTHONUNBUFFERED": "1",
    }
    env.pop("DETECTION_BASELINE_START", None)
    worker = subprocess.Popen(
        worker_command(queue),
        cwd=PROJECT_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    sender = Celery("scheduler", broker=REDIS_URL)
    try:
        sender.send_task("triage.tasks.poll_and_detect", queue=queue)

        _wait_for(lambda: DetectionRun.objects.exists(), seconds=60, worker=worker)

        assert Event.objects.count() == 4
        alert = Alert.objects.get()
        assert alert.event.event_id == "stolen-key"
        assert alert.new_terms == ["Evil VPS Ltd", "111122223333", "alice"]
        state = SourceState.objects.get()
        assert (state.objects_read, state.events_read) == (3, 4)
        assert state.last_success_at is not None
        assert state.lease_holder == ""

        # Sent again (a redelivery, or the next run): nothing is read or raised twice.
        sender.send_task("triage.tasks.poll_and_detect", queue=queue)
        _wait_for(lambda: DetectionRun.objects.count() == 2, seconds=60, worker=worker)

        assert Event.objects.count() == 4
        assert Alert.objects.count() == 1
        assert SourceState.objects.get().objects_read == 3
    finally:
        stop_worker(worker)
        sender.close()
        redis.Redis.from_url(REDIS_URL).delete(queue)
