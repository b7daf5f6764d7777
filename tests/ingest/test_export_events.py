"""export_events: stored events as nested ECS JSON documents, one per line."""

import io
import json
from datetime import UTC, datetime, timedelta

import pytest
from django.core.management import CommandError, call_command

from tests.cloudtrail import assumed_role_identity, invoke_record, log_key, write_log

pytestmark = pytest.mark.django_db
T0 = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


def export(*args: str) -> list[dict]:
    out, err = io.StringIO(), io.StringIO()
    call_command("export_events", *args, stdout=out, stderr=err)
    assert err.getvalue().startswith("export_events:")
    return [json.loads(line) for line in out.getvalue().splitlines()]


def ingest(tmp_path, records) -> None:
    write_log(tmp_path / log_key(delivered=T0), records)
    call_command("ingest_files", str(tmp_path), stdout=io.StringIO())


def test_it_writes_every_present_field_nested_as_elasticsearch_would(tmp_path):
    record = invoke_record(
        when=T0,
        identity=assumed_role_identity(role="billing-fn-role", session="i-0abc"),
        event_id="e-1",
        errorCode="AccessDenied",
        errorMessage="not allowed",
    )
    ingest(tmp_path, [record])

    [document] = export()

    assert document["@timestamp"] == "2026-11-20T12:00:00Z"
    assert document["event"]["id"] == "e-1"
    assert document["event"]["provider"] == "lambda.amazonaws.com"
    assert document["event"]["action"] == "Invoke"
    assert document["event"]["outcome"] == "failure"
    assert document["event"]["ingested"].endswith("Z")
    assert document["cloud"] == {
        "account": {"id": "111122223333"},
        "region": "eu-west-1",
        "provider": "aws",
    }
    assert document["user"]["name"] == "billing-fn-role"
    assert document["user"]["id"] == "AROAEXAMPLEROLE00001:i-0abc"
    identity = document["aws"]["cloudtrail"]["user_identity"]
    assert identity["type"] == "AssumedRole"
    assert identity["access_key_id"] == "ASIAEXAMPLESESSION01"
    assert identity["session_context"]["session_issuer"]["arn"] == (
        "arn:aws:iam::111122223333:role/billing-fn-role"
    )
    assert document["source"]["ip"] == "203.0.113.10"
    assert document["source"]["address"] == "203.0.113.10"
    assert document["source"]["as"] == {"number": 64500, "organization": {"name": "Evil VPS Ltd"}}
    assert document["source"]["geo"]["country_name"] == "Netherlands"
    assert document["user_agent"]["original"].startswith("aws-cli/")
    cloudtrail = document["aws"]["cloudtrail"]
    assert cloudtrail["request_parameters"]["functionName"].endswith(":function:billing-export")
    assert cloudtrail["error_code"] == "AccessDenied"
    assert cloudtrail["error_message"] == "not allowed"
    assert cloudtrail["event_category"] == "Data"


def test_it_leaves_out_absent_fields(tmp_path):
    ingest(tmp_path, [invoke_record(when=T0, source_ip="lambda.amazonaws.com")])

    [document] = export()

    assert "ip" not in document["source"]
    assert "as" not in document["source"]
    assert "error_code" not in document["aws"]["cloudtrail"]
    assert "invoked_by" not in document["aws"]["cloudtrail"]["user_identity"]


def test_it_filters_by_since_and_until_oldest_first(tmp_path):
    records = [invoke_record(when=T0 + timedelta(hours=h), event_id=f"e-{h}") for h in (3, 0, 1, 2)]
    ingest(tmp_path, records)

    window = export("--since", "2026-11-20T13:00:00Z", "--until", "2026-11-20T15:00:00+00:00")

    assert [d["event"]["id"] for d in window] == ["e-1", "e-2"]
    assert [d["event"]["id"] for d in export()] == ["e-0", "e-1", "e-2", "e-3"]


def test_it_refuses_a_bad_since():
    with pytest.raises(CommandError, match="yesterday"):
        call_command("export_events", "--since", "yesterday")
