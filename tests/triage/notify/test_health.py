"""A destination failing for over 30 minutes shows on the Sources page and fails /sources.json."""

from datetime import timedelta

import pytest
from django.contrib.auth.models import Group
from django.db.models import F
from django.utils import timezone

from config.roles import ANALYST
from ingest.models import SourceState
from tests.aws import BUCKET
from tests.peers import SECRET
from triage.notify.models import Delivery, DeliveryAttempt, Destination
from triage.notify.services import destination_create, destination_disable, notify_due

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("learning_over")]


@pytest.fixture
def signed_in(client, django_user_model):
    analyst = django_user_model.objects.create_user("ana", password="x")
    analyst.groups.add(Group.objects.get_or_create(name=ANALYST)[0])
    client.force_login(analyst)
    return client


@pytest.fixture
def healthy_source(settings):
    settings.CLOUDTRAIL_S3_BUCKET = BUCKET
    settings.CLOUDTRAIL_S3_PREFIX = ""
    now = timezone.now()
    SourceState.objects.create(
        name=f"s3://{BUCKET}/",
        kind="s3",
        last_poll_started_at=now,
        last_poll_finished_at=now,
        last_success_at=now,
    )


def minutes_pass(minutes: int) -> None:
    """As if the attempts so far were made minutes earlier, and retries were due now."""
    DeliveryAttempt.objects.update(at=F("at") - timedelta(minutes=minutes))
    Delivery.objects.filter(status="pending").update(next_attempt_at=timezone.now())


@pytest.mark.usefixtures("healthy_source")
def test_a_destination_failing_for_over_30_minutes_is_shown_and_fails_the_json(
    signed_in, make_alerts, receiver
):
    destination_create(by="ops", name="siem", kind="webhook", target=receiver.url(), secret=SECRET)
    make_alerts()
    receiver.answer(500, 503)
    notify_due(now=timezone.now(), worker="test")
    minutes_pass(20)

    assert signed_in.get("/sources.json").status_code == 200
    assert "siem" not in signed_in.get("/sources/").content.decode()

    notify_due(now=timezone.now(), worker="test")
    minutes_pass(11)

    response = signed_in.get("/sources.json")
    assert response.status_code == 503
    document = response.json()
    assert document["ok"] is False
    assert document["sources"][0]["ok"] is True
    [concern] = document["concerns"]
    assert (concern["kind"], concern["subject"]) == ("notification destination", "siem")
    assert concern["error"] == "every delivery has failed for 31 minutes; the last: HTTP 503"
    page = signed_in.get("/sources/").content.decode()
    assert "siem" in page and "every delivery has failed for 31 minutes" in page

    # The retry gets through: the destination is healthy again.
    notify_due(now=timezone.now(), worker="test")
    assert Delivery.objects.get().status == "delivered"
    assert signed_in.get("/sources.json").status_code == 200
    assert signed_in.get("/sources.json").json()["concerns"] == []


@pytest.mark.usefixtures("healthy_source")
def test_a_disabled_or_recovered_destination_is_not_failing(signed_in, make_alerts, receiver):
    destination_create(by="ops", name="off", kind="webhook", target=receiver.url(), secret=SECRET)
    destination_create(
        by="ops", name="flaky", kind="webhook", target=receiver.url("/flaky"), secret=SECRET
    )
    make_alerts()
    receiver.answer(500, 500)
    notify_due(now=timezone.now(), worker="test")
    destination_disable(destination=Destination.objects.get(name="off"), by="ops")
    minutes_pass(45)
    notify_due(now=timezone.now(), worker="test")  # flaky's retry is delivered

    assert Delivery.objects.get(destination__name="flaky").status == "delivered"
    response = signed_in.get("/sources.json")
    assert response.status_code == 200
    assert response.json()["concerns"] == []


def test_the_json_names_a_failing_destination_also_when_no_source_is_configured(
    signed_in, make_alerts, receiver
):
    destination_create(by="ops", name="siem", kind="webhook", target=receiver.url(), secret=SECRET)
    make_alerts()
    receiver.answer(400)
    notify_due(now=timezone.now(), worker="test")
    minutes_pass(31)

    response = signed_in.get("/sources.json")
    assert response.status_code == 503
    [concern] = response.json()["concerns"]
    assert concern["subject"] == "siem"
    assert concern["error"].endswith("the last: HTTP 400")
