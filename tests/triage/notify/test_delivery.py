"""Delivering the outbox: signed webhooks, retries and giving up, claims, leases.

notify_due runs in the test's process against the loopback receiver; `now`
is passed in, so a retry due in two hours is tried by saying it is two hours later.
"""

import itertools
import json
import os
import signal
import subprocess
import sys
import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from tests.aws import database_url
from tests.cloudtrail import principal_invoke
from tests.helpers import PROJECT_ROOT, free_port
from tests.peers import SECRET
from tests.triage.notify.conftest import T0
from triage.documents import alert_document
from triage.notify import senders, services
from triage.notify.models import Delivery, Destination
from triage.notify.services import (
    deliveries_enqueue_for_alerts,
    destination_create,
    notify_due,
)

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("learning_over")]
MINUTE = timedelta(minutes=1)


@pytest.fixture(autouse=True)
def short_timeouts(monkeypatch):
    # The receiver's slow answer takes 2 s: past this read timeout.
    monkeypatch.setattr(senders, "CONNECT_TIMEOUT", 1.0)
    monkeypatch.setattr(senders, "READ_TIMEOUT", 1.0)


def webhook(url: str, name: str = "hook", **settings) -> Destination:
    return destination_create(
        by="ops", name=name, kind="webhook", target=url, secret=SECRET, **settings
    )


def deliver(now=None) -> services.Outcome:
    return notify_due(now=now or timezone.now(), worker="test")


def test_it_posts_each_new_alert_signed_with_the_export_document(make_alerts, receiver):
    destination = webhook(receiver.url())
    [alert] = make_alerts()
    deliveries_enqueue_for_alerts(alerts=[alert])

    outcome = deliver()

    assert outcome.summary() == "1 delivered, 0 to retry, 0 failed"
    [request] = receiver.requests
    body = request.verified()
    assert body["type"] == "alert.created"
    assert body["data"] == json.loads(json.dumps(alert_document(alert)))
    assert body["timestamp"].endswith("Z")
    assert request.headers["webhook-id"].startswith("msg_")
    delivery = Delivery.objects.get()
    assert (delivery.destination, delivery.status, delivery.attempts) == (
        destination,
        "delivered",
        1,
    )
    assert list(delivery.tries.values_list("status_code", "outcome")) == [(204, "delivered")]


def test_it_announces_an_alert_once_per_destination_with_its_own_webhook_id(make_alerts, receiver):
    webhook(receiver.url("/one"), name="one")
    webhook(receiver.url("/two"), name="two")
    [alert] = make_alerts()
    deliveries_enqueue_for_alerts(alerts=[alert])
    deliveries_enqueue_for_alerts(alerts=[alert])  # a detector run retried

    deliver()

    assert sorted(request.path for request in receiver.requests) == ["/one", "/two"]
    ids = {request.headers["webhook-id"] for request in receiver.requests}
    assert len(ids) == 2
    assert deliver().summary() == "0 delivered, 0 to retry, 0 failed"


def test_it_retries_a_5xx_with_backoff_and_the_same_webhook_id(make_alerts, receiver):
    webhook(receiver.url())
    deliveries_enqueue_for_alerts(alerts=make_alerts())
    receiver.answer(500)
    now = timezone.now()

    assert deliver(now).summary() == "0 delivered, 1 to retry, 0 failed"
    delivery = Delivery.objects.get()
    assert delivery.status == "pending"
    assert now + 0.8 * MINUTE <= delivery.next_attempt_at <= now + 1.2 * MINUTE
    assert delivery.last_error == "HTTP 500"
    assert deliver(now + 30 * timedelta(seconds=1)).summary().startswith("0 delivered, 0")

    assert deliver(now + 2 * MINUTE).summary() == "1 delivered, 0 to retry, 0 failed"
    first, second = receiver.requests
    assert first.headers["webhook-id"] == second.headers["webhook-id"]
    assert second.verified()["type"] == "alert.created"
    assert list(Delivery.objects.get().tries.values_list("status_code", "outcome")) == [
        (500, "retry"),
        (204, "delivered"),
    ]


def test_it_waits_as_long_as_a_429s_retry_after_says(make_alerts, receiver):
    webhook(receiver.url())
    deliveries_enqueue_for_alerts(alerts=make_alerts())
    receiver.answer((429, {"Retry-After": "7200"}))
    now = timezone.now()

    deliver(now)

    delivery = Delivery.objects.get()
    assert (delivery.status, delivery.next_attempt_at) == ("pending", now + timedelta(hours=2))
    assert deliver(now + timedelta(hours=1)).summary().startswith("0 delivered, 0 to retry")
    assert deliver(now + timedelta(hours=2)).summary().startswith("1 delivered")


@pytest.mark.parametrize("status", [400, 401, 404, 410, 301])
def test_it_fails_at_once_on_a_4xx_other_than_429(make_alerts, receiver, status):
    webhook(receiver.url())
    deliveries_enqueue_for_alerts(alerts=make_alerts())
    receiver.answer(status)
    now = timezone.now()

    assert deliver(now).summary() == "0 delivered, 0 to retry, 1 failed"
    assert deliver(now + timedelta(days=1)).summary() == "0 delivered, 0 to retry, 0 failed"
    assert len(receiver.requests) == 1
    assert Delivery.objects.get().last_error.startswith(f"HTTP {status}")


def test_it_retries_an_answer_slower_than_the_read_timeout(make_alerts, receiver):
    webhook(receiver.url())
    deliveries_enqueue_for_alerts(alerts=make_alerts())
    receiver.answer("slow")

    assert deliver().summary() == "0 delivered, 1 to retry, 0 failed"
    assert "timed out" in Delivery.objects.get().last_error


def test_it_retries_when_the_connection_is_refused(make_alerts):
    webhook(f"http://127.0.0.1:{free_port()}/hook")
    deliveries_enqueue_for_alerts(alerts=make_alerts())

    assert deliver().summary() == "0 delivered, 1 to retry, 0 failed"
    [attempt] = Delivery.objects.get().tries.all()
    assert attempt.status_code is None
    assert "refused" in attempt.error.lower()


def test_it_gives_up_after_backing_off_up_to_six_hours(make_alerts, receiver):
    webhook(receiver.url())
    deliveries_enqueue_for_alerts(alerts=make_alerts())
    receiver.answer(*[503] * 20)
    now = timezone.now()
    waits = []

    while Delivery.objects.get().status == "pending":
        deliver(now)
        delivery = Delivery.objects.get()
        waits.append(delivery.next_attempt_at - now)
        now = delivery.next_attempt_at

    assert delivery.status == "failed"
    assert len(receiver.requests) == services.MAX_ATTEMPTS
    assert 0.8 * MINUTE <= waits[0] <= 1.2 * MINUTE
    assert all(later > earlier for earlier, later in itertools.pairwise(waits[:9]))
    assert max(waits) == timedelta(hours=6)
    assert deliver(now + timedelta(days=2)).summary() == "0 delivered, 0 to retry, 0 failed"


def test_a_destination_that_does_not_answer_does_not_hold_up_the_others(
    make_alerts, receiver, monkeypatch
):
    # Each destination answers only once the other has its message, and the read
    # timeout is long: a sender that waited on one before sending to the other
    # would time out and retry instead.
    monkeypatch.setattr(senders, "READ_TIMEOUT", 20.0)
    webhook(receiver.url("/one"), name="one")
    webhook(receiver.url("/two"), name="two")
    deliveries_enqueue_for_alerts(alerts=make_alerts())
    receiver.answer_by_path = {"/one": ("hold until", "/two"), "/two": ("hold until", "/one")}

    outcome = deliver()

    assert outcome.summary() == "2 delivered, 0 to retry, 0 failed"


def test_a_slow_receiver_has_several_messages_in_flight_not_one_at_a_time(make_alerts, receiver):
    webhook(receiver.url())
    alerts = make_alerts(*(principal_invoke(T0, user=f"user{number}") for number in range(6)))
    deliveries_enqueue_for_alerts(alerts=alerts)
    receiver.answer(*["hold"] * 6)
    outcome = {}

    def send() -> None:
        try:
            outcome["done"] = deliver()
        finally:
            connection.close()

    sender = threading.Thread(target=send)
    sender.start()

    # Sent one at a time, the first held message would keep the others from leaving.
    receiver.wait_for(services.LANES, seconds=20)
    receiver.release.set()
    sender.join(30)

    assert outcome["done"].summary() == "6 delivered, 0 to retry, 0 failed"
    assert len({request.headers["webhook-id"] for request in receiver.requests}) == 6


def test_two_workers_at_once_never_send_a_row_twice(make_alerts, receiver):
    webhook(receiver.url())
    users = [f"user{number}" for number in range(12)]
    alerts = make_alerts(*(principal_invoke(T0, user=user) for user in users))
    deliveries_enqueue_for_alerts(alerts=alerts)
    now = timezone.now()
    outcomes = {}

    def worker(name: str) -> None:
        try:
            outcomes[name] = notify_due(now=now, worker=name)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(name,)) for name in ("a", "b")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    ids = [request.headers["webhook-id"] for request in receiver.requests]
    assert sorted(ids) == sorted(set(ids))
    assert len(ids) == len(users)
    assert outcomes["a"].delivered + outcomes["b"].delivered == len(users)
    assert set(Delivery.objects.values_list("status", flat=True)) == {"delivered"}


def test_a_row_a_killed_worker_held_is_sent_again_with_the_same_webhook_id(
    make_alerts, receiver, geoip_dir
):
    webhook(receiver.url())
    deliveries_enqueue_for_alerts(alerts=make_alerts())
    receiver.answer("hold")
    worker = subprocess.Popen(
        [sys.executable, "manage.py", "notify"],
        cwd=PROJECT_ROOT,
        env={
            **os.environ,
            "DATABASE_URL": database_url(),
            "GEOIP_ASN_DB": str(geoip_dir / "asn.mmdb"),
        },
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    receiver.wait_for(1)
    worker.send_signal(signal.SIGKILL)
    worker.wait()
    now = timezone.now()

    assert deliver(now).summary() == "0 delivered, 0 to retry, 0 failed"  # still leased
    assert Delivery.objects.get().status == "sending"
    assert deliver(now + services.LEASE).summary() == "1 delivered, 0 to retry, 0 failed"
    first, second = receiver.requests
    assert first.headers["webhook-id"] == second.headers["webhook-id"]
    assert Delivery.objects.get().attempts == 2


def test_a_throttled_destination_sends_what_it_held_back_as_one_summary(make_alerts, receiver):
    webhook(receiver.url(), throttle_minutes=30)
    [alice] = make_alerts(principal_invoke(T0, user="alice"))
    deliveries_enqueue_for_alerts(alerts=[alice])
    now = timezone.now()
    assert deliver(now).summary() == "1 delivered, 0 to retry, 0 failed"
    later = make_alerts(principal_invoke(T0, user="bob"), principal_invoke(T0, user="carol"))
    deliveries_enqueue_for_alerts(alerts=later)

    held = deliver(now + 29 * MINUTE).summary()
    opened = deliver(now + 30 * MINUTE).summary()

    assert held == "0 delivered, 0 to retry, 0 failed, 2 held back by a throttle"
    assert opened == "1 delivered, 0 to retry, 0 failed"
    first, summary = (request.verified() for request in receiver.requests)
    assert first["type"] == "alert.created"
    assert summary["type"] == "alerts.summary"
    assert sorted(document["user"]["name"] for document in summary["data"]) == ["bob", "carol"]
    assert sorted(Delivery.objects.values_list("status", flat=True)) == [
        "delivered",
        "delivered",
        "summarised",
        "summarised",
    ]
    assert deliver(now + 31 * MINUTE).summary() == "0 delivered, 0 to retry, 0 failed"


def test_a_throttle_folds_new_and_joined_alerts_into_one_summary_listing_each_apart(
    make_alerts, receiver
):
    webhook(receiver.url(), throttle_minutes=30, report_joined=True)
    make_alerts(principal_invoke(T0, user="alice"))
    now = timezone.now()
    assert deliver(now).summary() == "1 delivered, 0 to retry, 0 failed"
    # The detector announces bob's new alert and the event that joined alice's.
    make_alerts(principal_invoke(T0 + MINUTE, user="alice"), principal_invoke(T0, user="bob"))

    assert deliver(now + 30 * MINUTE).summary() == "1 delivered, 0 to retry, 0 failed"
    first, summary = (request.verified() for request in receiver.requests)
    assert first["type"] == "alert.created"
    assert summary["type"] == "alerts.summary"
    assert [document["user"]["name"] for document in summary["data"]] == ["bob"]
    assert [document["user"]["name"] for document in summary["updated"]] == ["alice"]


def test_a_throttled_destination_sends_a_lone_alert_as_itself(make_alerts, receiver):
    webhook(receiver.url(), throttle_minutes=30)
    deliveries_enqueue_for_alerts(alerts=make_alerts(principal_invoke(T0, user="alice")))
    now = timezone.now()
    deliver(now)
    deliveries_enqueue_for_alerts(alerts=make_alerts(principal_invoke(T0, user="bob")))

    assert deliver(now + 45 * MINUTE).summary() == "1 delivered, 0 to retry, 0 failed"
    assert [request.verified()["type"] for request in receiver.requests] == [
        "alert.created",
        "alert.created",
    ]
