"""The worker delivers notifications every minute: the schedule, and a Celery worker on Redis."""

import os
import subprocess
import time
import uuid

import pytest
import redis
from celery import Celery

from config.celery import app
from tests.aws import database_url
from tests.helpers import PROJECT_ROOT, SHARES_REDIS, stop_worker, worker_command
from tests.peers import SECRET
from triage.notify import tasks
from triage.notify.models import Delivery
from triage.notify.services import deliveries_enqueue_for_alerts, destination_create

pytestmark = SHARES_REDIS
REDIS_URL = "redis://127.0.0.1:6379/13"


def test_the_schedule_delivers_every_minute_within_time_limits():
    entry = app.conf.beat_schedule["notify"]

    assert entry["task"] == tasks.notify.name == "triage.notify.tasks.notify"
    assert entry["schedule"] == 60
    assert entry["options"]["expires"] < 60
    assert 0 < tasks.notify.soft_time_limit < tasks.notify.time_limit


@pytest.mark.e2e
@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("learning_over")
def test_a_worker_delivers_a_queued_alert_to_its_webhook(make_alerts, receiver, geoip_dir):
    destination_create(by="ops", name="hook", kind="webhook", target=receiver.url(), secret=SECRET)
    deliveries_enqueue_for_alerts(alerts=make_alerts())
    queue = f"asnwatch-test-{uuid.uuid4().hex[:8]}"
    env = {
        **os.environ,
        "DATABASE_URL": database_url(),
        "CELERY_BROKER_URL": REDIS_URL,
        "GEOIP_ASN_DB": str(geoip_dir / "asn.mmdb"),
        "PYTHONUNBUFFERED": "1",
    }
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
        sender.send_task("triage.notify.tasks.notify", queue=queue)
        deadline = time.monotonic() + 60
        while Delivery.objects.get().status != "delivered":
            if time.monotonic() > deadline or worker.poll() is not None:
                stop_worker(worker)
                pytest.fail(
                    f"nothing was delivered; the worker said:\n{worker.stdout.read()[-4000:]}"
                )
            time.sleep(0.25)
    finally:
        stop_worker(worker)
        sender.close()
        redis.Redis.from_url(REDIS_URL).delete(queue)

    [request] = receiver.requests
    assert request.verified()["type"] == "alert.created"
