"""Reading CloudTrail objects named by SQS notifications.

A message may be an S3 event notification, the same wrapped by SNS (its
Message is a JSON string), CloudTrail's own {"s3Bucket": …, "s3ObjectKey": […]}
notification (raw or through SNS), an EventBridge "Object Created" event, or
S3's s3:TestEvent. A message is deleted only once every object it names is
stored; while a large object is read its visibility timeout is extended. One
that keeps failing is left to the queue's dead-letter policy once received
CLOUDTRAIL_SQS_MAX_RECEIVES times. Any number of workers can share a queue:
SQS hands each message to one of them at a time, and an object read twice is
stored once.
"""

import json
import logging
import threading
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote_plus

import botocore.exceptions

from ingest import aws
from ingest.models import SourceProblem
from ingest.polls import SourcePoll
from ingest.s3 import read_object

logger = logging.getLogger(__name__)

_AWS_ERRORS = (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError)


class NotANotification(ValueError):
    """A message that names no S3 object in any form this reader knows."""


@dataclass(frozen=True)
class QueueSource:
    queue_url: str
    wait_seconds: int
    visibility_timeout: int
    max_receives: int

    @property
    def name(self) -> str:
        return self.queue_url


@dataclass
class Notification:
    objects: list[tuple[str, str]] = field(default_factory=list)  # (bucket, key)
    test_event: bool = False


def parse_notification(body: str) -> Notification:
    """The S3 objects a message names."""
    try:
        message = json.loads(body)
    except ValueError:
        raise NotANotification("the message is not JSON") from None
    return _parse(message, depth=0)


def _parse(message: Any, *, depth: int) -> Notification:
    if not isinstance(message, dict):
        raise NotANotification("the message is not a JSON object")
    if message.get("Type") == "Notification" and isinstance(message.get("Message"), str):
        if depth > 0:
            raise NotANotification("an SNS notification inside an SNS notification")
        try:
            inner = json.loads(message["Message"])
        except ValueError:
            raise NotANotification("the SNS Message is not JSON") from None
        return _parse(inner, depth=depth + 1)
    if message.get("Event") == "s3:TestEvent":
        return Notification(test_event=True)
    if "s3Bucket" in message and "s3ObjectKey" in message:
        keys = message["s3ObjectKey"]
        if isinstance(keys, str):
            keys = [keys]
        if not isinstance(keys, list) or not all(isinstance(key, str) for key in keys):
            raise NotANotification("s3ObjectKey is not a list of keys")
        return Notification(objects=[(str(message["s3Bucket"]), key) for key in keys])
    if isinstance(message.get("Records"), list):
        return Notification(objects=_s3_event_objects(message["Records"]))
    if message.get("source") == "aws.s3" and isinstance(message.get("detail"), dict):
        detail = message["detail"]
        try:
            return Notification(objects=[(detail["bucket"]["name"], detail["object"]["key"])])
        except (KeyError, TypeError):
            raise NotANotification("an EventBridge S3 event without bucket and key") from None
    raise NotANotification("not an S3, SNS, CloudTrail or EventBridge notification")


def _s3_event_objects(records: list[Any]) -> list[tuple[str, str]]:
    objects = []
    for record in records:
        if not isinstance(record, dict) or record.get("eventSource") != "aws:s3":
            raise NotANotification("Records holds something other than S3 events")
        if not str(record.get("eventName", "")).startswith("ObjectCreated:"):
            continue  # a removal or restore names nothing to read
        try:
            bucket = record["s3"]["bucket"]["name"]
            key = unquote_plus(record["s3"]["object"]["key"])  # keys arrive URL-encoded
        except (KeyError, TypeError):
            raise NotANotification("an S3 event without bucket and key") from None
        objects.append((bucket, key))
    return objects


class VisibilityKeeper:
    """Keeps a message invisible to other readers while it is being processed."""

    def __init__(self, client: Any, queue_url: str, receipt: str, timeout: int) -> None:
        self.client = client
        self.request = {
            "QueueUrl": queue_url,
            "ReceiptHandle": receipt,
            "VisibilityTimeout": timeout,
        }
        self.timeout = timeout
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sqs-visibility", daemon=True)

    def __enter__(self) -> "VisibilityKeeper":
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        # Extend at half-time: one late extension must not let the message reappear.
        while not self._stop.wait(self.timeout / 2):
            try:
                self.client.change_message_visibility(**self.request)
            except _AWS_ERRORS as error:
                logger.warning("could not extend a message's visibility: %s", aws.describe(error))


def poll_queue(poll: SourcePoll, source: QueueSource) -> None:
    """Receive and process messages until the queue has none to give."""
    sqs = aws.client("sqs")
    s3 = aws.client("s3")
    handled: set[str] = set()
    while True:
        poll.check()
        try:
            response = sqs.receive_message(
                QueueUrl=source.queue_url,
                MaxNumberOfMessages=10,
                WaitTimeSeconds=source.wait_seconds,
                VisibilityTimeout=source.visibility_timeout,
                MessageSystemAttributeNames=["ApproximateReceiveCount"],
            )
        except _AWS_ERRORS as error:
            poll.source_error(source.queue_url, aws.describe(error))
            return
        # A message back within the same poll failed moments ago: it waits for the next poll.
        messages = [m for m in response.get("Messages", []) if m["MessageId"] not in handled]
        if not messages:
            return
        for message in messages:
            poll.check()
            handled.add(message["MessageId"])
            _handle(poll, sqs, s3, source, message)


def _handle(poll: SourcePoll, sqs: Any, s3: Any, source: QueueSource, message: dict) -> None:
    subject = f"message {message['MessageId']}"
    receives = int(message.get("Attributes", {}).get("ApproximateReceiveCount", "1"))
    if receives > source.max_receives:
        # Not processed again: the queue's redrive policy moves it to the dead-letter queue.
        poll.left(
            subject,
            f"received {receives} times, more than CLOUDTRAIL_SQS_MAX_RECEIVES="
            f"{source.max_receives}: left to the queue's dead-letter policy; "
            f"message: {message.get('Body', '')[:500]}",
            kind=SourceProblem.Kind.MESSAGE,
        )
        return
    try:
        notification = parse_notification(message.get("Body", ""))
    except NotANotification as error:
        poll.left(
            subject,
            f"{error} (received {receives} times): {message.get('Body', '')[:500]}",
            kind=SourceProblem.Kind.MESSAGE,
        )
        return
    complete = True
    receipt = message["ReceiptHandle"]
    with VisibilityKeeper(sqs, source.queue_url, receipt, source.visibility_timeout):
        for bucket, key in notification.objects:
            complete &= read_object(poll, s3, bucket, key)
            poll.check()
    if not complete:
        poll.problem(
            SourceProblem.Kind.MESSAGE,
            subject,
            f"not every object it names could be read (received {receives} times); "
            "it is received again after its visibility timeout",
        )
        return
    try:
        sqs.delete_message(QueueUrl=source.queue_url, ReceiptHandle=receipt)
    except _AWS_ERRORS as error:
        # Received again later, it finds its objects already read.
        logger.warning("could not delete message %s: %s", message["MessageId"], aws.describe(error))
        return
    poll.resolve(subject)
