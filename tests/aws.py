"""An S3 and SQS API server (moto's, over HTTP) and helpers to fill it.

The code under test talks to it through real boto3 clients: AWS_ENDPOINT_URL
points boto3 at the server, with fake credentials.
"""

import gzip
import json
import urllib.request
from collections.abc import Iterator

import boto3
import pytest
from botocore.awsrequest import AWSResponse
from moto.server import ThreadedMotoServer

from ingest import aws
from tests.cloudtrail import log_document
from tests.helpers import free_port

BUCKET = "trail-bucket"
AWS_REGION = "eu-west-1"


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


def aws_environment(endpoint: str) -> dict[str, str]:
    return {
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": AWS_REGION,
        "AWS_REGION": AWS_REGION,
    }


@pytest.fixture
def aws_server(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch, settings) -> Iterator[str]:
    """An empty S3/SQS server, and boto3 pointed at it."""
    request = urllib.request.Request(f"{moto_endpoint}/moto-api/reset", method="POST")
    urllib.request.urlopen(request).read()
    for name, value in aws_environment(moto_endpoint).items():
        monkeypatch.setenv(name, value)
    for name in ("AWS_PROFILE", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE"):
        monkeypatch.delenv(name, raising=False)
    # Fewer attempts keep a test of "still failing after retries" quick.
    settings.AWS_MAX_ATTEMPTS = 3
    aws.reset_clients()
    yield moto_endpoint
    aws.reset_clients()


def s3_client():
    """A client of the test's own, not the code's: hooks on the code's session don't touch it."""
    return boto3.client("s3")


def sqs_client():
    return boto3.client("sqs")


def make_bucket(name: str = BUCKET) -> None:
    s3_client().create_bucket(
        Bucket=name, CreateBucketConfiguration={"LocationConstraint": AWS_REGION}
    )


def put_log(key: str, records: list, *, bucket: str = BUCKET, compress: bool = True) -> None:
    content = log_document(records)
    s3_client().put_object(
        Bucket=bucket, Key=key, Body=gzip.compress(content) if compress else content
    )


def put_raw(key: str, content: bytes, *, bucket: str = BUCKET) -> None:
    s3_client().put_object(Bucket=bucket, Key=key, Body=content)


def make_queue(name: str = "cloudtrail-notifications", **attributes: str) -> str:
    return sqs_client().create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]


def send(queue_url: str, body: dict | str) -> None:
    sqs_client().send_message(
        QueueUrl=queue_url, MessageBody=body if isinstance(body, str) else json.dumps(body)
    )


def error_response(request, status: int, code: str, message: str) -> AWSResponse:
    """What a botocore 'before-send' hook returns to answer a request with an S3 error."""
    body = (
        f"<?xml version='1.0' encoding='UTF-8'?><Error><Code>{code}</Code>"
        f"<Message>{message}</Message><RequestId>TEST</RequestId></Error>"
    ).encode()
    return AWSResponse(request.url, status, {"Content-Type": "application/xml"}, _Raw(body))


class _Raw:
    def __init__(self, body: bytes) -> None:
        self.body = body

    def stream(self, **kwargs):
        yield self.body

    def read(self, *args):
        body, self.body = self.body, b""
        return body


def database_url() -> str:
    """The test database as a URL, for processes the test starts (manage.py, a worker)."""
    from django.conf import settings

    database = settings.DATABASES["default"]
    password = f":{database['PASSWORD']}" if database.get("PASSWORD") else ""
    return (
        f"postgres://{database['USER']}{password}@{database['HOST'] or '127.0.0.1'}:"
        f"{database['PORT'] or 5432}/{database['NAME']}"
    )
