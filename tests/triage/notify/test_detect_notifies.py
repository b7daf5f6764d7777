"""The detector announces new alerts: outbox rows in its transaction, a worker asked at once."""

import io
import os
import subprocess
import time
from datetime import timedelta
from pathlib import Path

import pytest
import redis
from django.conf import settings as django_settings
from django.core.management import CommandError, call_command
from django.db import DatabaseError

from tests.aws import database_url
from tests.cloudtrail import principal_invoke, run_detect
from tests.helpers import PROJECT_ROOT, SHARES_REDIS, free_port, manage, stop_worker, worker_command
from tests.peers import SECRET
from tests.triage.conftest import EVIL_VPS, OFFICE
from tests.triage.notify.conftest import T0
from triage import detector
from triage.models import Alert, DetectionRun
from triage.notify.models import Delivery
from triage.notify.services import destination_create

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("learning_over"),
    SHARES_REDIS,
]
OTHER_ACCOUNT = "444455556666"
# Its own Redis database: the worker reads the default queue, which nothing else there uses.
REDIS_URL = "redis://127.0.0.1:6379/12"
DEFAULT_QUEUE = "celery"


def webhook(receiver, name: str, **settings) -> None:
    destination_create(
        by="ops", name=name, kind="webhook", target=receiver.url(f"/{name}"), secret=SECRET,
        **settings,
    )  # fmt: skip


def notify() -> str:
    stdout = io.StringIO()
    call_command("notify", stdout=stdout)
    return stdout.getvalue()


def users(receiver, name: str) -> list[list[str]]:
    """Per message to name: the principals it announces."""
    announced = []
    for request in receiver.to(f"/{name}"):
        body = request.verified()
        documents = body["data"] if body["type"] == "alerts.summary" else [body["data"]]
        announced.append(sorted(document["user"]["name"] for document in documents))
    return announced


def command_env(**extra: str) -> dict[str, str]:
    """The environment of a manage.py or worker process on the test database, with the
    test process's SECRET_KEY, which destinations' secrets are encrypted under."""
    env = {
        **os.environ,
        "DATABASE_URL": database_url(),
        "SECRET_KEY": django_settings.SECRET_KEY,
        "DETECTION_BASELINE_START": "2026-01-01T00:00:00Z",
        "PYTHONUNBUFFERED": "1",
        **extra,
    }
    return env


def test_a_run_announces_its_new_alerts_to_each_matching_destination(ingest, receiver):
    webhook(receiver, "evil", as_organizations=["evil*"])
    webhook(receiver, "everything")
    webhook(receiver, "other-account", accounts=[OTHER_ACCOUNT])
    webhook(receiver, "summary", mode="summary")
    ingest(
        principal_invoke(T0, user="alice", source_ip=EVIL_VPS),
        principal_invoke(T0, user="bob", source_ip=OFFICE),
    )
    run_detect()
    ingest(principal_invoke(T0, user="carol", source_ip=OFFICE))
    run_detect()

    assert notify().strip() == "notify: 6 delivered, 0 to retry, 0 failed"
    assert users(receiver, "evil") == [["alice"]]
    assert sorted(users(receiver, "everything")) == [["alice"], ["bob"], ["carol"]]
    assert users(receiver, "other-account") == []
    # One summary per detector run, listing that run's alerts.
    assert sorted(users(receiver, "summary")) == [["alice", "bob"], ["carol"]]


def test_a_run_over_many_pages_announces_each_alert_as_it_stands_at_the_end(
    ingest, receiver, monkeypatch
):
    webhook(receiver, "again", report_joined=True)
    ingest(principal_invoke(T0, user="alice", source_ip=EVIL_VPS))
    run_detect()
    notify()
    # Pages of two events: alice's alert is joined on every page of the next run,
    # bob's opens on its first and is joined on its last.
    monkeypatch.setattr(detector, "PAGE_EVENTS", 2)
    monkeypatch.setattr(detector, "WRITE_BATCH", 1)
    ingest(
        principal_invoke(T0 + timedelta(hours=1), user="bob", source_ip=OFFICE),
        *[
            principal_invoke(T0 + timedelta(hours=n), user="alice", source_ip=EVIL_VPS)
            for n in range(1, 6)
        ],
        principal_invoke(T0 + timedelta(hours=6), user="bob", source_ip=OFFICE),
    )
    run_detect()
    notify()

    news = sorted(
        (
            body["data"]["user"]["name"],
            body["type"],
            body["data"]["kibana.alert.suppression.docs_count"],
        )
        for body in (request.verified() for request in receiver.to("/again"))
    )
    assert news == [
        ("alice", "alert.created", 0),
        ("alice", "alert.updated", 5),
        ("bob", "alert.created", 1),
    ]


def test_a_run_that_fails_after_opening_alerts_leaves_nothing_to_send(
    ingest, receiver, monkeypatch
):
    webhook(receiver, "hook")
    ingest(principal_invoke(T0, user="alice", source_ip=EVIL_VPS))
    enqueue = detector.deliveries_enqueue_for_alerts

    def enqueue_then_lose_the_connection(**arguments):
        enqueue(**arguments)
        raise DatabaseError("server closed the connection unexpectedly")

    monkeypatch.setattr(detector, "deliveries_enqueue_for_alerts", enqueue_then_lose_the_connection)
    with pytest.raises(CommandError):
        run_detect()

    assert not Alert.objects.exists()
    assert not Delivery.objects.exists()
    assert DetectionRun.objects.get().error.startswith("DatabaseError")

    monkeypatch.undo()
    run_detect()
    notify()
    assert users(receiver, "hook") == [["alice"]]


def test_a_broker_that_cannot_be_reached_fails_no_run(ingest, receiver):
    webhook(receiver, "hook")
    ingest(principal_invoke(T0, user="alice", source_ip=EVIL_VPS))

    unreachable = f"redis://127.0.0.1:{free_port()}/0"
    result = manage("detect", env=command_env(CELERY_BROKER_URL=unreachable))

    assert result.returncode == 0, result.stderr
    assert Alert.objects.count() == 1
    assert "could not ask a worker to deliver now" in result.stderr
    # The schedule's next run sends what the detector queued.
    notify()
    assert users(receiver, "hook") == [["alice"]]


@pytest.mark.e2e
@pytest.mark.parametrize("broker", ["redis", "filesystem"])
def test_a_worker_delivers_a_new_alert_as_soon_as_the_detector_commits_it(
    ingest, receiver, geoip_dir, tmp_path: Path, broker
):
    webhook(receiver, "hook")
    if broker == "redis":
        env = command_env(CELERY_BROKER_URL=REDIS_URL)
        redis.Redis.from_url(REDIS_URL).delete(DEFAULT_QUEUE)
    else:  # what `make run` uses: files under the var folder
        env = command_env(ASNWATCH_VAR_DIR=str(tmp_path / "var"))
        env.pop("CELERY_BROKER_URL", None)
    env["GEOIP_ASN_DB"] = str(geoip_dir / "asn.mmdb")
    # No scheduler runs: only the detector's request can make this worker deliver.
    worker = subprocess.Popen(
        worker_command(DEFAULT_QUEUE),
        cwd=PROJECT_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        ingest(principal_invoke(T0, user="alice", source_ip=EVIL_VPS))
        detected = manage("detect", env=env)
        assert detected.returncode == 0, detected.stderr
        deadline = time.monotonic() + 60
        while not receiver.to("/hook"):
            if time.monotonic() > deadline or worker.poll() is not None:
                stop_worker(worker)
                pytest.fail(f"nothing arrived; the worker said:\n{worker.stdout.read()[-4000:]}")
            time.sleep(0.25)
    finally:
        stop_worker(worker)
        if broker == "redis":
            redis.Redis.from_url(REDIS_URL).delete(DEFAULT_QUEUE)

    [request] = receiver.to("/hook")
    body = request.verified()
    assert body["type"] == "alert.created"
    assert body["data"]["user"]["name"] == "alice"
    assert body["data"]["source"]["ip"] == EVIL_VPS
    assert request.headers["webhook-id"] == Delivery.objects.get().webhook_id


def test_destinations_that_report_joined_alerts_hear_of_each_run_that_adds_events(ingest, receiver):
    webhook(receiver, "again", report_joined=True)
    webhook(receiver, "once")
    webhook(receiver, "summary-again", mode="summary", report_joined=True)
    ingest(principal_invoke(T0, user="alice", source_ip=EVIL_VPS))
    run_detect()
    ingest(principal_invoke(T0 + timedelta(hours=1), user="alice", source_ip=EVIL_VPS))
    run_detect()
    notify()
    ingest(
        principal_invoke(T0 + timedelta(hours=2), user="alice", source_ip=EVIL_VPS),
        principal_invoke(T0 + timedelta(hours=3), user="alice", source_ip=EVIL_VPS),
        principal_invoke(T0 + timedelta(hours=2), user="bob", source_ip=OFFICE),
    )
    run_detect()
    notify()

    again = [request.verified() for request in receiver.to("/again")]
    # Messages to one destination go out side by side, but an alert's news never
    # overtakes the message announcing it.
    assert [body["type"] for body in again if body["data"]["user"]["name"] == "alice"] == [
        "alert.created",
        "alert.updated",
        "alert.updated",
    ]
    assert [body["type"] for body in again if body["data"]["user"]["name"] == "bob"] == [
        "alert.created"
    ]
    # The alert as it stood when sent: one event beyond the first, then three.
    assert [
        body["data"]["kibana.alert.suppression.docs_count"]
        for body in again
        if body["type"] == "alert.updated"
    ] == [1, 3]
    updated_ids = {
        request.headers["webhook-id"]
        for request in receiver.to("/again")
        if request.json()["type"] == "alert.updated"
    }
    assert len(updated_ids) == 2, "each run's news of the alert is a message of its own"
    assert [request.json()["type"] for request in receiver.to("/once")] == ["alert.created"] * 2

    summaries = [request.verified() for request in receiver.to("/summary-again")]
    # One summary per run (they may arrive in any order): its new alerts, and those updated.
    assert sorted(
        (
            sorted(d["user"]["name"] for d in body["data"]),
            sorted(d["user"]["name"] for d in body.get("updated", [])),
        )
        for body in summaries
    ) == [([], ["alice"]), (["alice"], []), (["bob"], ["alice"])]
    assert Delivery.objects.filter(event_type="alert.updated").count() == 2
