"""manage.py poll on an SQS queue of CloudTrail notifications, through an SQS/S3 API server."""

import io
import json
import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
from django.core.management import call_command

from ingest import aws
from ingest.models import Event, LogObject, SourceProblem, SourceState
from tests.aws import (
    BUCKET,
    error_response,
    make_bucket,
    make_queue,
    put_log,
    send,
    sqs_client,
)
from tests.cloudtrail import invoke_record, log_key
from tests.ingest.polling import run_poll

pytestmark = pytest.mark.django_db
MOMENT = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)


def stored() -> set[str]:
    return set(Event.objects.values_list("event_id", flat=True))


def messages_left(queue_url: str) -> int:
    attributes = sqs_client().get_queue_attributes(
        QueueUrl=queue_url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return sum(int(value) for value in attributes.values())


@pytest.fixture
def queue(aws_server, settings):
    make_bucket()
    url = make_queue()
    settings.CLOUDTRAIL_SQS_QUEUE_URL = url
    settings.CLOUDTRAIL_SQS_WAIT_SECONDS = 0
    return url


def put(unique: str, event_id: str, *, prefix: str = "") -> str:
    key = prefix + log_key(delivered=MOMENT, unique=unique)
    put_log(key, [invoke_record(when=MOMENT, event_id=event_id)])
    return key


def s3_event(key: str, bucket: str = BUCKET, name: str = "ObjectCreated:Put") -> dict:
    return {
        "Records": [
            {
                "eventVersion": "2.1",
                "eventSource": "aws:s3",
                "awsRegion": "eu-west-1",
                "eventTime": "2026-11-20T12:00:00.000Z",
                "eventName": name,
                "s3": {
                    "s3SchemaVersion": "1.0",
                    "bucket": {"name": bucket, "arn": f"arn:aws:s3:::{bucket}"},
                    # S3 URL-encodes keys in notifications, spaces as '+'.
                    "object": {"key": key.replace(" ", "+"), "size": 100, "eTag": "abc"},
                },
            }
        ]
    }


def sns(message: dict) -> dict:
    return {
        "Type": "Notification",
        "MessageId": "9f5e2a9c-0000-4000-8000-000000000001",
        "TopicArn": "arn:aws:sns:eu-west-1:111122223333:cloudtrail",
        "Subject": "[AWS Notification Message]",
        "Message": json.dumps(message),
        "Timestamp": "2026-11-20T12:00:00.000Z",
    }


def cloudtrail(*keys: str) -> dict:
    return {"s3Bucket": BUCKET, "s3ObjectKey": list(keys)}


def eventbridge(key: str) -> dict:
    return {
        "version": "0",
        "detail-type": "Object Created",
        "source": "aws.s3",
        "detail": {"bucket": {"name": BUCKET}, "object": {"key": key, "size": 100}},
    }


@pytest.mark.parametrize(
    ("form", "build"),
    [
        ("S3 event notification", lambda keys: s3_event(keys[0])),
        ("S3 event through SNS", lambda keys: sns(s3_event(keys[0]))),
        ("CloudTrail notification", lambda keys: cloudtrail(*keys)),
        ("CloudTrail notification through SNS", lambda keys: sns(cloudtrail(*keys))),
        ("EventBridge event", lambda keys: eventbridge(keys[0])),
    ],
)
def test_it_reads_the_objects_each_message_form_names_and_deletes_it(queue, form, build):
    keys = [put("FIRST", "first", prefix="my trail/"), put("SECOND", "second", prefix="my trail/")]
    send(queue, build(keys))

    run = run_poll()

    assert run.error is None, run.stderr
    expected = {"first", "second"} if "CloudTrail" in form else {"first"}
    assert stored() == expected
    assert LogObject.objects.filter(source=f"s3://{BUCKET}", status="done").count() == len(expected)
    assert messages_left(queue) == 0


def test_it_deletes_a_test_event_without_calling_it_a_problem(queue):
    send(queue, {"Service": "Amazon S3", "Event": "s3:TestEvent", "Bucket": BUCKET})
    send(queue, sns({"Service": "Amazon S3", "Event": "s3:TestEvent", "Bucket": BUCKET}))

    run = run_poll()

    assert run.error is None, run.stderr
    assert messages_left(queue) == 0
    assert not SourceProblem.objects.exists()


def test_it_deletes_a_notification_of_something_that_is_not_an_event_log(queue):
    digest = put("DIGEST", "digest").replace("/CloudTrail/", "/CloudTrail-Digest/")
    send(queue, s3_event(digest))
    send(queue, s3_event(put("GONE", "gone"), name="ObjectRemoved:Delete"))

    run = run_poll()

    assert run.error is None, run.stderr
    assert stored() == set()
    assert messages_left(queue) == 0


def test_it_reads_an_object_notified_twice_once(queue):
    key = put("TWICE", "twice")
    send(queue, s3_event(key))
    send(queue, sns(cloudtrail(key)))

    run = run_poll()

    assert run.error is None, run.stderr
    assert stored() == {"twice"}
    assert LogObject.objects.get(key=key).new_events == 1
    assert messages_left(queue) == 0


def test_it_keeps_a_message_until_its_objects_are_stored(queue, hooks, settings):
    settings.CLOUDTRAIL_SQS_VISIBILITY_TIMEOUT = 1
    key = put("SLOWDOWN", "slowed")
    send(queue, cloudtrail(key))

    def unavailable(request, **kwargs):
        return error_response(request, 503, "SlowDown", "Please reduce your request rate.")

    hooks("before-send.s3.GetObject", unavailable)

    run = run_poll()

    assert run.error is not None
    assert stored() == set()
    assert messages_left(queue) == 1
    assert "SlowDown" in run.stderr

    aws.session().events.unregister("before-send.s3.GetObject", unavailable)
    time.sleep(1.2)  # the message becomes visible again
    run = run_poll()

    assert run.error is None, run.stderr
    assert stored() == {"slowed"}
    assert messages_left(queue) == 0
    assert not SourceProblem.objects.exists()


def test_it_extends_the_visibility_of_a_message_while_a_large_object_is_read(
    queue, hooks, settings
):
    settings.CLOUDTRAIL_SQS_VISIBILITY_TIMEOUT = 2
    send(queue, cloudtrail(put("LARGE", "large")))
    seen_by_another_reader = []

    def slow_download(request, **kwargs):
        time.sleep(2.5)  # longer than the visibility timeout
        other = sqs_client().receive_message(QueueUrl=queue, WaitTimeSeconds=0)
        seen_by_another_reader.extend(other.get("Messages", []))

    extended = []
    hooks("before-send.s3.GetObject", slow_download)
    hooks("after-call.sqs.ChangeMessageVisibility", lambda **kwargs: extended.append(1))

    run = run_poll()

    assert run.error is None, run.stderr
    assert extended
    assert seen_by_another_reader == []
    assert stored() == {"large"}
    assert messages_left(queue) == 0


def test_it_leaves_a_poison_message_to_the_dead_letter_queue(aws_server, settings):
    make_bucket()
    dead_letters = make_queue("cloudtrail-dead-letters")
    dead_letters_arn = sqs_client().get_queue_attributes(
        QueueUrl=dead_letters, AttributeNames=["QueueArn"]
    )["Attributes"]["QueueArn"]
    queue = make_queue(
        RedrivePolicy=json.dumps({"deadLetterTargetArn": dead_letters_arn, "maxReceiveCount": 2})
    )
    settings.CLOUDTRAIL_SQS_QUEUE_URL = queue
    settings.CLOUDTRAIL_SQS_WAIT_SECONDS = 0
    settings.CLOUDTRAIL_SQS_VISIBILITY_TIMEOUT = 1
    settings.CLOUDTRAIL_SQS_MAX_RECEIVES = 2
    send(queue, "this is not a notification")
    send(queue, cloudtrail(put("GOOD", "good")))

    for _ in range(3):
        run_poll()
        time.sleep(1.1)

    assert stored() == {"good"}
    assert messages_left(queue) == 0
    assert messages_left(dead_letters) == 1
    problem = SourceState.objects.get().problems.get()
    assert problem.kind == "message"
    assert "the message is not JSON (received 2 times): this is not a notification" in problem.error


def test_it_stops_processing_a_message_received_too_often(queue, settings):
    settings.CLOUDTRAIL_SQS_VISIBILITY_TIMEOUT = 1
    settings.CLOUDTRAIL_SQS_MAX_RECEIVES = 1
    send(queue, {"Records": "not a list"})

    run_poll()
    time.sleep(1.1)
    run = run_poll()

    assert run.error is not None
    assert "received 2 times, more than CLOUDTRAIL_SQS_MAX_RECEIVES=1" in run.stderr
    assert "left to the queue's dead-letter policy" in run.stderr
    assert messages_left(queue) == 1  # not deleted: the queue's policy decides
    assert SourceProblem.objects.get().kind == "message"


def test_it_reports_a_missing_queue_clearly(aws_server, settings):
    settings.CLOUDTRAIL_SQS_QUEUE_URL = f"{aws_server}/123456789012/no-such-queue"
    settings.CLOUDTRAIL_SQS_WAIT_SECONDS = 0

    run = run_poll()

    assert run.error is not None
    assert "no such queue (check CLOUDTRAIL_SQS_QUEUE_URL)" in run.stderr
    assert SourceState.objects.get().problems.get().kind == "source"


@pytest.mark.django_db(transaction=True)
def test_several_readers_share_one_queue_and_store_each_object_once(queue):
    keys = [put(f"SHARED{n}", f"shared-{n}") for n in range(12)]
    for key in keys:
        send(queue, s3_event(key))
    for key in keys[:4]:
        send(queue, cloudtrail(key))  # notified twice
    failures = []

    def reader():
        try:
            call_command("poll", stdout=io.StringIO(), stderr=io.StringIO())
        except Exception as error:
            failures.append(error)
        finally:
            from django.db import connection

            connection.close()

    readers = [threading.Thread(target=reader) for _ in range(3)]
    for thread in readers:
        thread.start()
    for thread in readers:
        thread.join(timeout=60)

    assert failures == []
    assert stored() == {f"shared-{n}" for n in range(12)}
    assert Event.objects.count() == 12
    assert LogObject.objects.filter(status="done").count() == 12
    assert messages_left(queue) == 0
