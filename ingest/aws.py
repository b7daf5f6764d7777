"""boto3 clients for the CloudTrail readers, and what their errors mean.

Credentials, region and endpoint come from boto3's own chain (AWS_PROFILE,
AWS_REGION, AWS_ENDPOINT_URL, instance roles, …). Throttling, 5xx answers and
dropped connections are retried by botocore's standard retry mode with
backoff; an error that remains is either transient (the object is left for the
next poll) or needs a person (access denied, no such bucket or queue).
"""

import functools
from typing import Any

import boto3
import botocore.exceptions
from botocore.config import Config
from django.conf import settings

# Clients may be used by several threads at once (object downloads overlap).
MAX_POOL_CONNECTIONS = 10

_TRANSIENT_CODES = {
    "SlowDown", "Throttling", "ThrottlingException", "RequestThrottled",
    "RequestThrottledException", "TooManyRequestsException", "ProvisionedThroughputExceeded",
    "RequestLimitExceeded", "BandwidthLimitExceeded", "RequestTimeout", "RequestTimeoutException",
    "InternalError", "InternalFailure", "ServiceUnavailable", "PriorRequestNotComplete",
    "AWS.SimpleQueueService.ServiceUnavailable", "KMS.ThrottlingException",
}  # fmt: skip
_TRANSIENT_EXCEPTIONS = (
    botocore.exceptions.ConnectionError,  # includes endpoint, proxy and timeout errors
    botocore.exceptions.ReadTimeoutError,
    botocore.exceptions.ResponseStreamingError,
    botocore.exceptions.IncompleteReadError,
)
_HINTS = {
    "AccessDenied": "the credentials in use are not allowed to do this (check the IAM policy, "
    "the bucket policy and, for SSE-KMS trails, kms:Decrypt)",
    "AccessDeniedException": "the credentials in use are not allowed to do this",
    "AllAccessDisabled": "all access to this bucket has been disabled",
    "NoSuchBucket": "no such bucket (check CLOUDTRAIL_S3_BUCKET)",
    "AWS.SimpleQueueService.NonExistentQueue": "no such queue (check CLOUDTRAIL_SQS_QUEUE_URL)",
    "QueueDoesNotExist": "no such queue (check CLOUDTRAIL_SQS_QUEUE_URL)",
    "InvalidAccessKeyId": "the access key is not valid",
    "InvalidClientTokenId": "the access key is not valid",
    "SignatureDoesNotMatch": "the secret key does not match the access key",
    "ExpiredToken": "the session credentials have expired",
}
MISSING_SOURCE_CODES = {
    "NoSuchBucket",
    "AWS.SimpleQueueService.NonExistentQueue",
    "QueueDoesNotExist",
}


@functools.cache
def _session() -> boto3.Session:
    return boto3.Session()


def reset_clients() -> None:
    """Forget the session, so new clients see the current environment (tests, forks)."""
    _session.cache_clear()


def session() -> boto3.Session:
    return _session()


def client(service: str) -> Any:
    config = Config(
        retries={"mode": "standard", "max_attempts": settings.AWS_MAX_ATTEMPTS},
        connect_timeout=10,
        read_timeout=60,
        max_pool_connections=MAX_POOL_CONNECTIONS,
    )
    return _session().client(service, config=config)


def error_code(error: Exception) -> str | None:
    if isinstance(error, botocore.exceptions.ClientError):
        return error.response.get("Error", {}).get("Code")
    return None


def is_transient(error: Exception) -> bool:
    """True when the same request may well succeed later without anyone's help."""
    if isinstance(error, _TRANSIENT_EXCEPTIONS):
        return True
    if isinstance(error, botocore.exceptions.ClientError):
        status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0
        return error_code(error) in _TRANSIENT_CODES or status >= 500
    return False


def describe(error: Exception) -> str:
    """One line an operator can act on."""
    code = error_code(error)
    if code is None:
        return f"{type(error).__name__}: {error}"
    message = error.response.get("Error", {}).get("Message") or ""
    hint = _HINTS.get(code)
    if is_transient(error):
        hint = f"still failing after {settings.AWS_MAX_ATTEMPTS} attempts; retried at the next poll"
    parts = [f"{code}: {message}".rstrip(": ")]
    if hint:
        parts.append(hint)
    return "; ".join(parts)
