"""The S3 and SQS API server fixtures, and botocore hooks for injecting faults."""

import pytest

from ingest import aws
from tests.aws import aws_server, moto_endpoint

__all__ = ["aws_server", "hooks", "moto_endpoint"]


@pytest.fixture
def hooks():
    """Register botocore event handlers on the session the code's clients come from."""
    registered = []

    def register(event: str, handler) -> None:
        aws.session().events.register(event, handler)
        registered.append((event, handler))

    yield register
    for event, handler in registered:
        aws.session().events.unregister(event, handler)
