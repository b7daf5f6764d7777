"""ingest_files: each CloudTrail field lands in the ECS column DESIGN.md section 2 names."""

from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from ingest.models import Event
from tests.cloudtrail import (
    ACCOUNT,
    assumed_role_identity,
    aws_service_identity,
    iam_user_identity,
    invoke_record,
    management_record,
    run_ingest_files,
    write_log,
)

pytestmark = pytest.mark.django_db
T0 = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
OTHER_ACCOUNT = "444455556666"


def stored(tmp_path, record: dict) -> Event:
    write_log(tmp_path / "log.json.gz", [record])
    run = run_ingest_files(tmp_path)
    assert run.error is None, run.stderr
    return Event.objects.get(event_id=record["eventID"])


def test_it_keeps_the_event_id_and_reads_event_time_as_utc(tmp_path, settings):
    # A reader that took eventTime as local time would shift every event here.
    settings.TIME_ZONE = "America/New_York"
    record = invoke_record(when=T0, event_id="3f1c0b0e-8d7a-4c5e-9b1a-2f6e7d8c9a01")

    event = stored(tmp_path, record)

    assert event.event_id == "3f1c0b0e-8d7a-4c5e-9b1a-2f6e7d8c9a01"
    assert event.timestamp == T0
    assert event.timestamp.utcoffset() == timedelta(0)


def test_it_converts_an_event_time_with_an_offset_to_utc(tmp_path):
    record = invoke_record(when=T0, eventTime="2026-11-20T14:00:00+02:00")

    assert stored(tmp_path, record).timestamp == T0


def test_it_sets_event_ingested_when_it_stores_the_event(tmp_path):
    before = timezone.now()
    record = invoke_record(when=T0 - timedelta(days=300))

    event = stored(tmp_path, record)

    # Not eventTime, and not some fixed moment: the time of storage.
    assert before - timedelta(minutes=1) <= event.ingested <= timezone.now()


def test_it_keeps_provider_and_action_exactly_as_cloudtrail_names_them(tmp_path):
    record = management_record(when=T0, event_name="GetFunction20150331")

    event = stored(tmp_path, record)

    assert event.provider == "lambda.amazonaws.com"
    assert event.action == "GetFunction20150331"
    assert event.event_category == "Management"


@pytest.mark.parametrize(
    ("error", "outcome"),
    [
        ({"errorCode": "AccessDenied"}, "failure"),
        ({"errorMessage": "User is not authorized to perform: lambda:InvokeFunction"}, "failure"),
        (
            {"errorCode": "ResourceNotFoundException", "errorMessage": "Function not found"},
            "failure",
        ),
        ({}, "success"),
    ],
    ids=["error-code-only", "error-message-only", "both", "neither"],
)
def test_it_marks_the_outcome_failure_when_an_error_is_present(tmp_path, error, outcome):
    event = stored(tmp_path, invoke_record(when=T0, **error))

    assert event.outcome == outcome
    assert event.error_code == error.get("errorCode")
    assert event.error_message == error.get("errorMessage")


def test_it_takes_the_account_from_the_identity_before_the_recipient(tmp_path):
    # A cross-account call: the caller's account is the one that acted.
    record = invoke_record(
        when=T0, identity=iam_user_identity(account=OTHER_ACCOUNT), recipientAccountId=ACCOUNT
    )

    event = stored(tmp_path, record)

    assert event.account_id == OTHER_ACCOUNT
    assert event.region == "eu-west-1"


def test_it_falls_back_to_the_recipient_account_for_an_aws_service(tmp_path):
    record = invoke_record(
        when=T0,
        identity=aws_service_identity("events.amazonaws.com"),
        source_ip="events.amazonaws.com",
        recipientAccountId=OTHER_ACCOUNT,
        awsRegion="us-east-2",
    )

    event = stored(tmp_path, record)

    assert event.account_id == OTHER_ACCOUNT
    assert event.region == "us-east-2"
    assert event.identity_type == "AWSService"
    assert event.invoked_by == "events.amazonaws.com"
    assert event.user_name is None
    assert event.user_id is None


def test_it_describes_an_iam_user(tmp_path):
    event = stored(tmp_path, invoke_record(when=T0, identity=iam_user_identity("alice")))

    assert event.user_name == "alice"
    assert event.user_id == "AIDAEXAMPLEALICE0001"
    assert event.identity_type == "IAMUser"
    assert event.identity_arn == f"arn:aws:iam::{ACCOUNT}:user/alice"
    assert event.access_key_id == "AKIAEXAMPLEKEY000001"
    assert event.invoked_by is None
    assert event.session_issuer_arn is None


def test_it_names_an_assumed_role_by_its_role_not_its_session(tmp_path):
    # Sessions are named per instance or per run; the rule's terms need a stable name.
    identity = assumed_role_identity(role="billing-fn-role", session="i-0abc123")

    event = stored(tmp_path, invoke_record(when=T0, identity=identity))

    assert event.user_name == "billing-fn-role"
    assert event.user_id == "AROAEXAMPLEROLE00001:i-0abc123"
    assert event.identity_type == "AssumedRole"
    assert event.identity_arn == f"arn:aws:sts::{ACCOUNT}:assumed-role/billing-fn-role/i-0abc123"
    assert event.access_key_id == "ASIAEXAMPLESESSION01"
    assert event.session_issuer_arn == f"arn:aws:iam::{ACCOUNT}:role/billing-fn-role"


def test_it_prefers_the_identitys_own_user_name_to_the_issuers(tmp_path):
    identity = assumed_role_identity(role="billing-fn-role")
    identity["userName"] = "federated-bob"

    assert stored(tmp_path, invoke_record(when=T0, identity=identity)).user_name == "federated-bob"


@pytest.mark.parametrize(
    ("address", "ip"),
    [
        ("203.0.113.10", "203.0.113.10"),
        ("2001:db8::1", "2001:db8::1"),
        ("2001:DB8:0:0::1", "2001:db8::1"),
        ("lambda.amazonaws.com", None),
        ("AWS Internal", None),
    ],
)
def test_it_keeps_the_source_address_as_given_and_an_ip_only_when_it_is_one(tmp_path, address, ip):
    event = stored(tmp_path, invoke_record(when=T0, source_ip=address))

    assert event.source_address == address
    assert event.source_ip == ip


def test_it_keeps_a_record_whose_address_has_a_zone_index(tmp_path):
    event = stored(tmp_path, invoke_record(when=T0, source_ip="fe80::1%eth0"))

    assert event.source_address == "fe80::1%eth0"


def test_it_keeps_the_user_agent(tmp_path):
    agent = "Boto3/1.34.0 md/Botocore#1.34.0 ua/2.0 os/linux#6.1 lang/python#3.12.1"

    assert stored(tmp_path, invoke_record(when=T0, userAgent=agent)).user_agent == agent


@pytest.mark.parametrize(
    "function_name",
    [f"arn:aws:lambda:eu-west-1:{ACCOUNT}:function:billing-export", "billing-export"],
    ids=["arn", "bare-name"],
)
def test_it_keeps_the_request_parameters_as_an_object(tmp_path, function_name):
    parameters = {"functionName": function_name, "qualifier": "$LATEST"}

    event = stored(tmp_path, management_record(when=T0, requestParameters=parameters))

    assert event.request_parameters == parameters
    assert event.request_parameters["functionName"] == function_name


def test_it_leaves_absent_request_parameters_empty(tmp_path):
    event = stored(tmp_path, management_record(when=T0, requestParameters=None))

    assert event.request_parameters is None


def test_it_keeps_the_raw_record_intact(tmp_path):
    # Fields without a column (additionalEventData, tlsDetails, …) are still
    # what an analyst reads when investigating.
    record = invoke_record(
        when=T0,
        additionalEventData={"functionVersion": "$LATEST", "nested": {"list": [1, 2.5, None]}},
        tlsDetails={"tlsVersion": "TLSv1.3", "clientProvidedHostHeader": "lambda.eu-west-1"},
        sharedEventID="c1b3f6e8-0000-4000-8000-000000000001",
    )

    assert stored(tmp_path, record).raw == record
