"""Build CloudTrail records and log files for tests, in the shapes AWS writes them."""

import gzip
import io
import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from django.core.management import CommandError, call_command

ACCOUNT = "111122223333"
REGION = "eu-west-1"


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def iam_user_identity(user_name: str = "alice", account: str = ACCOUNT, **extra: Any) -> dict:
    return {
        "type": "IAMUser",
        "principalId": "AIDAEXAMPLEALICE0001",
        "arn": f"arn:aws:iam::{account}:user/{user_name}",
        "accountId": account,
        "accessKeyId": "AKIAEXAMPLEKEY000001",
        "userName": user_name,
        **extra,
    }


def assumed_role_identity(
    role: str = "billing-fn-role", session: str = "i-0abc123", account: str = ACCOUNT
) -> dict:
    return {
        "type": "AssumedRole",
        "principalId": f"AROAEXAMPLEROLE00001:{session}",
        "arn": f"arn:aws:sts::{account}:assumed-role/{role}/{session}",
        "accountId": account,
        "accessKeyId": "ASIAEXAMPLESESSION01",
        "sessionContext": {
            "sessionIssuer": {
                "type": "Role",
                "principalId": "AROAEXAMPLEROLE00001",
                "arn": f"arn:aws:iam::{account}:role/{role}",
                "accountId": account,
                "userName": role,
            },
            "attributes": {"creationDate": "2026-11-01T00:00:00Z", "mfaAuthenticated": "false"},
        },
    }


def invoke_record(
    *,
    when: datetime,
    source_ip: str = "203.0.113.10",
    identity: dict | None = None,
    event_id: str | None = None,
    function: str = "billing-export",
    **overrides: Any,
) -> dict:
    """A Lambda Invoke data event as CloudTrail delivers it."""
    record = {
        "eventVersion": "1.09",
        "userIdentity": identity if identity is not None else iam_user_identity(),
        "eventTime": iso(when),
        "eventSource": "lambda.amazonaws.com",
        "eventName": "Invoke",
        "awsRegion": REGION,
        "sourceIPAddress": source_ip,
        "userAgent": "aws-cli/2.15.0 Python/3.11.6 Linux/6.1 botocore/1.34.0",
        "requestParameters": {
            "functionName": f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{function}"
        },
        "responseElements": None,
        "requestID": str(uuid.uuid4()),
        "eventID": event_id or str(uuid.uuid4()),
        "readOnly": False,
        "resources": [
            {"accountId": ACCOUNT, "type": "AWS::Lambda::Function",
             "ARN": f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{function}"},
        ],
        "eventType": "AwsApiCall",
        "managementEvent": False,
        "recipientAccountId": ACCOUNT,
        "eventCategory": "Data",
    }  # fmt: skip
    record.update(overrides)
    return record


def log_key(
    *,
    account: str = ACCOUNT,
    region: str = REGION,
    delivered: datetime,
    unique: str = "A1B2",
    org: str | None = None,
) -> str:
    """An S3 key in CloudTrail's layout."""
    org_part = f"{org}/" if org else ""
    return (
        f"AWSLogs/{org_part}{account}/CloudTrail/{region}/{delivered:%Y/%m/%d}/"
        f"{account}_CloudTrail_{region}_{delivered:%Y%m%dT%H%MZ}_{unique}.json.gz"
    )


def log_document(records: list[Any]) -> bytes:
    return json.dumps({"Records": records}).encode()


def write_log(path: Path, records: list[Any], *, compress: bool | None = None) -> Path:
    """Write a log file; gzip-compressed when the name ends in .gz."""
    path.parent.mkdir(parents=True, exist_ok=True)
    content = log_document(records)
    if compress if compress is not None else path.name.endswith(".gz"):
        content = gzip.compress(content)
    path.write_bytes(content)
    return path


def aws_service_identity(service: str = "events.amazonaws.com") -> dict:
    """An AWS service acting on its own behalf: no account, no user name."""
    return {"type": "AWSService", "invokedBy": service}


def management_record(
    *,
    when: datetime,
    event_name: str = "GetFunction20150331",
    identity: dict | None = None,
    event_id: str | None = None,
    function: str = "billing-export",
    **overrides: Any,
) -> dict:
    """A Lambda management event, naming its function by bare name as the console does."""
    record = invoke_record(when=when, identity=identity, event_id=event_id, function=function)
    record.update(
        {
            "eventName": event_name,
            "requestParameters": {"functionName": function},
            "eventCategory": "Management",
            "managementEvent": True,
            "readOnly": True,
            "resources": None,
        }
    )
    record.update(overrides)
    return record


@dataclass
class IngestRun:
    """What `manage.py ingest_files` printed, and the CommandError it ended with, if any."""

    stdout: str
    stderr: str
    error: CommandError | None

    @property
    def summary(self) -> str:
        [line] = [line for line in self.stdout.splitlines() if line.startswith("ingest_files:")]
        return line

    def problem_lines(self, needle: str) -> list[str]:
        return [line for line in self.stderr.splitlines() if needle in line]


def run_ingest_files(*paths: Path | str) -> IngestRun:
    stdout, stderr = io.StringIO(), io.StringIO()
    try:
        call_command("ingest_files", *map(str, paths), stdout=stdout, stderr=stderr)
    except CommandError as error:
        return IngestRun(stdout.getvalue(), stderr.getvalue(), error)
    return IngestRun(stdout.getvalue(), stderr.getvalue(), None)


def principal_invoke(
    when: datetime,
    *,
    user: str = "alice",
    account: str = ACCOUNT,
    source_ip: str = "203.0.113.10",
    **overrides: Any,
) -> dict:
    """A direct Invoke by an IAM user: the rule's terms are its network, account and user name."""
    return invoke_record(
        when=when, source_ip=source_ip, identity=iam_user_identity(user, account), **overrides
    )


@dataclass
class DetectOutput:
    """What `manage.py detect` printed."""

    stdout: str

    @property
    def summary(self) -> str:
        [line] = [line for line in self.stdout.splitlines() if line.startswith("detect:")]
        return line


def run_detect() -> DetectOutput:
    stdout = io.StringIO()
    call_command("detect", stdout=stdout)
    return DetectOutput(stdout.getvalue())
