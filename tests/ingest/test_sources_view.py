"""The Sources page and its JSON twin for monitoring: each source's polls, progress and problems."""

import contextlib
import io
from datetime import UTC, date, datetime, timedelta

import pytest
from django.contrib.auth.models import Group
from django.core.management import CommandError, call_command
from django.utils import timezone

from config.roles import ANALYST
from ingest import aws
from ingest.models import SourceProblem, SourceState
from tests.aws import BUCKET, error_response, make_bucket, put_log
from tests.cloudtrail import invoke_record, log_key

pytestmark = pytest.mark.django_db
TOKEN = "monitoring-token-0123456789"


@pytest.fixture
def analyst(django_user_model):
    user = django_user_model.objects.create_user("ana", password="x")
    user.groups.add(Group.objects.get_or_create(name=ANALYST)[0])
    return user


@pytest.fixture
def signed_in(client, analyst):
    client.force_login(analyst)
    return client


@pytest.fixture
def bucket_configured(settings):
    settings.CLOUDTRAIL_S3_BUCKET = BUCKET
    settings.CLOUDTRAIL_S3_PREFIX = ""
    return f"s3://{BUCKET}/"


def poll() -> None:
    with contextlib.suppress(CommandError):
        call_command("poll", stdout=io.StringIO(), stderr=io.StringIO())


def test_it_asks_a_visitor_to_sign_in(client, bucket_configured):
    response = client.get("/sources/")

    assert response.status_code == 302
    assert response["Location"].startswith("/login/")


def test_it_refuses_a_user_without_a_role(client, django_user_model, bucket_configured):
    client.force_login(django_user_model.objects.create_user("nobody", password="x"))

    assert client.get("/sources/").status_code == 403
    assert client.get("/sources.json").status_code == 401


def test_it_changes_nothing_on_post(signed_in, bucket_configured):
    assert signed_in.post("/sources/").status_code == 405
    assert signed_in.post("/sources.json").status_code == 405


def test_it_says_when_no_source_is_configured(signed_in):
    page = signed_in.get("/sources/").content.decode()

    assert "No CloudTrail source is configured" in page


def test_it_says_a_configured_source_was_never_polled(signed_in, bucket_configured):
    page = signed_in.get("/sources/").content.decode()

    assert f'<code class="wrap">{bucket_configured}</code>' in page
    assert "never polled: is the worker running?" in page


def test_it_shows_what_the_polls_of_a_bucket_read(signed_in, aws_server, bucket_configured):
    make_bucket()
    moment = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=20)
    put_log(
        log_key(delivered=moment), [invoke_record(when=moment, event_id=f"e{n}") for n in range(3)]
    )
    poll()

    page = signed_in.get("/sources/").content.decode()

    assert '<span class="badge">ok</span>' in page
    assert "1 objects, 3 new events" in page
    assert f"{moment:%Y-%m-%d %H:%M:%S} UTC" in page  # the newest event, its zone named
    assert "complete: every day folder from" in page
    assert "None." in page  # no problems


def test_it_shows_access_denied_with_what_it_concerns(signed_in, aws_server, bucket_configured):
    make_bucket()

    def denied(request, **kwargs):
        return error_response(request, 403, "AccessDenied", "Access Denied")

    aws.session().events.register("before-send.s3.ListObjectsV2", denied)
    try:
        poll()
    finally:
        aws.session().events.unregister("before-send.s3.ListObjectsV2", denied)

    page = signed_in.get("/sources/").content.decode()

    assert "cannot be read" in page
    assert f"s3://{BUCKET}/AWSLogs/" in page
    assert "AccessDenied: Access Denied; the credentials in use are not allowed" in page


def test_it_shows_backfill_progress(signed_in, bucket_configured):
    today = timezone.now().date()
    SourceState.objects.create(
        name=bucket_configured,
        kind="s3",
        last_poll_started_at=timezone.now(),
        backfill_from=today - timedelta(days=10),
        backfill_next_day=today - timedelta(days=6),
    )

    page = signed_in.get("/sources/").content.decode()

    assert f"in progress: 4 of 11 day folders from {today - timedelta(days=10)} read" in page


def test_it_escapes_what_it_shows(signed_in, bucket_configured):
    state = SourceState.objects.create(name=bucket_configured, kind="s3")
    now = timezone.now()
    SourceProblem.objects.create(
        source=state,
        kind="message",
        subject="message <b>1</b>",
        error="<script>alert(1)</script>",
        first_seen=now,
        last_seen=now,
    )

    page = signed_in.get("/sources/").content.decode()

    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "message &lt;b&gt;1&lt;/b&gt;" in page


def test_the_json_needs_a_sign_in_or_the_monitoring_token(client, settings, bucket_configured):
    settings.MONITORING_TOKEN = TOKEN

    assert client.get("/sources.json").status_code == 401
    wrong = client.get("/sources.json", headers={"Authorization": "Bearer wrong"})
    assert wrong.status_code == 401
    right = client.get("/sources.json", headers={"Authorization": f"Bearer {TOKEN}"})
    assert right.status_code == 503  # answered: the source was never polled
    assert right.json()["sources"][0]["status"] == "never polled: is the worker running?"


def test_the_json_has_no_token_to_match_when_none_is_configured(client, settings):
    settings.MONITORING_TOKEN = None

    assert client.get("/sources.json", headers={"Authorization": "Bearer "}).status_code == 401
    assert client.get("/sources.json", headers={"Authorization": "Bearer None"}).status_code == 401


def test_the_json_reports_each_source_and_answers_200_when_all_are_healthy(
    signed_in, bucket_configured
):
    now = timezone.now()
    SourceState.objects.create(
        name=bucket_configured,
        kind="s3",
        last_poll_started_at=now - timedelta(minutes=3),
        last_poll_finished_at=now - timedelta(minutes=2),
        last_success_at=now - timedelta(minutes=2),
        last_summary="4 objects, 100 new events",
        objects_read=40,
        events_read=1000,
        newest_event_at=now - timedelta(minutes=9),
        backfill_from=date(2026, 1, 1),
        backfill_next_day=now.date() - timedelta(days=1),
    )

    response = signed_in.get("/sources.json")

    assert response.status_code == 200
    document = response.json()
    assert document["ok"] is True
    [source] = document["sources"]
    assert source["name"] == bucket_configured
    assert source["kind"] == "S3 bucket"
    assert (source["objects_read"], source["events_read"]) == (40, 1000)
    assert 540 <= source["lag_seconds"] <= 600
    assert source["backfill"].startswith("complete")
    assert source["problems"] == []


def test_the_json_answers_503_for_a_stale_source_or_a_poison_message(signed_in, bucket_configured):
    now = timezone.now()
    state = SourceState.objects.create(
        name=bucket_configured,
        kind="s3",
        last_poll_started_at=now - timedelta(minutes=40),
        last_success_at=now - timedelta(minutes=40),
    )

    response = signed_in.get("/sources.json")
    assert response.status_code == 503
    assert response.json()["sources"][0]["status"] == (
        "no successful poll for 40 minutes: is the worker running?"
    )

    SourceState.objects.filter(pk=state.pk).update(last_success_at=now)
    SourceProblem.objects.create(
        source=state,
        kind="message",
        subject="message 42",
        error="received 6 times; left to the queue's dead-letter policy",
        first_seen=now,
        last_seen=now,
    )
    response = signed_in.get("/sources.json")

    assert response.status_code == 503
    [problem] = response.json()["sources"][0]["problems"]
    assert problem["subject"] == "message 42"
    assert "dead-letter" in problem["error"]


NO_SOURCE = (
    "no source is configured: set CLOUDTRAIL_S3_BUCKET, CLOUDTRAIL_SQS_QUEUE_URL"
    " or CLOUDTRAIL_INBOX_DIR"
)


def test_the_json_answers_503_when_no_source_is_configured(client, settings):
    """A worker with a mistyped variable reads nothing: a monitor must not see it healthy."""
    settings.MONITORING_TOKEN = TOKEN

    response = client.get("/sources.json", headers={"Authorization": f"Bearer {TOKEN}"})

    assert response.status_code == 503
    document = response.json()
    assert (document["ok"], document["error"], document["sources"]) == (False, NO_SOURCE, [])


def test_the_json_answers_503_to_a_signed_in_analyst_when_no_source_is_configured(signed_in):
    response = signed_in.get("/sources.json")

    assert response.status_code == 503
    assert response.json()["error"] == NO_SOURCE
