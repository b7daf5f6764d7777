"""manage.py export_alerts [--since ISO]: alerts as Kibana-style alert documents, one per line."""

import io
import json
from datetime import UTC, datetime, timedelta

import pytest
from django.core.management import CommandError, call_command

from tests.cloudtrail import ACCOUNT, principal_invoke, run_detect
from tests.triage.conftest import EVIL_VPS
from triage.alerts import alert_close
from triage.models import Alert

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("learning_over")]
T0 = datetime(2026, 10, 1, 12, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
FUNCTION = "arn:aws:lambda:eu-west-1:111122223333:function:billing-export"


def export_alerts(*arguments: str) -> tuple[list[dict], str]:
    stdout, stderr = io.StringIO(), io.StringIO()
    call_command("export_alerts", *arguments, stdout=stdout, stderr=stderr)
    return [json.loads(line) for line in stdout.getvalue().splitlines()], stderr.getvalue()


def test_it_writes_an_alert_as_a_kibana_alert_document(ingest):
    ingest(
        principal_invoke(T0, event_id="trigger", userAgent="curl/8.5.0"),
        principal_invoke(T0 + HOUR, event_id="second"),
        principal_invoke(T0 + 2 * HOUR, event_id="third"),
    )
    run_detect()
    alert = Alert.objects.get()

    [document], stderr = export_alerts()

    assert stderr == "export_alerts: 1 alerts\n"
    kibana = {key: value for key, value in document.items() if key.startswith("kibana.")}
    assert kibana.pop("kibana.alert.uuid") == str(alert.pk)
    assert kibana == {
        "kibana.alert.status": "active",
        "kibana.alert.new_terms": ["Evil VPS Ltd", ACCOUNT, "alice"],
        "kibana.alert.original_time": "2026-10-01T12:00:00Z",
        "kibana.alert.reason": (
            f"Lambda Invoke {FUNCTION} by alice from Evil VPS Ltd, a network this principal "
            "has not used in the prior 10 days"
        ),
        "kibana.alert.severity": "medium",
        "kibana.alert.risk_score": 47,
        "kibana.alert.workflow_status": "open",
        "kibana.alert.workflow_tags": [],
        "kibana.alert.rule.name": "AWS Lambda Function Invoked from an Unusual Source ASN",
        "kibana.alert.rule.rule_id": "c8cc8192-f4f5-4ed3-8368-544ca738d506",
        "kibana.alert.rule.type": "new_terms",
        "kibana.alert.rule.version": 1,
        "kibana.alert.rule.tags": [
            "Domain: Cloud",
            "Data Source: AWS",
            "Data Source: Amazon Web Services",
            "Data Source: AWS Lambda",
            "Use Case: Threat Detection",
            "Tactic: Execution",
            "Resources: Investigation Guide",
        ],
        "kibana.alert.suppression.terms": [
            {"field": "source.as.organization.name", "value": ["Evil VPS Ltd"]},
            {"field": "cloud.account.id", "value": [ACCOUNT]},
            {"field": "user.name", "value": ["alice"]},
        ],
        "kibana.alert.suppression.docs_count": 2,
        "kibana.alert.suppression.start": "2026-10-01T12:00:00Z",
        "kibana.alert.suppression.end": "2026-10-01T14:00:00Z",
    }
    # As in Kibana, @timestamp is when the alert was made; the event's time is original_time.
    assert datetime.fromisoformat(document["@timestamp"]) == alert.created_at
    event = document["event"]
    assert datetime.fromisoformat(event.pop("ingested")) == alert.event.ingested
    assert event == {
        "id": "trigger",
        "kind": "signal",
        "module": "aws",
        "dataset": "aws.cloudtrail",
        "provider": "lambda.amazonaws.com",
        "action": "Invoke",
        "outcome": "success",
    }
    assert document["source"] == {
        "address": EVIL_VPS,
        "ip": EVIL_VPS,
        "as": {"number": 64500, "organization": {"name": "Evil VPS Ltd"}},
        "geo": {
            "country_iso_code": "NL",
            "country_name": "Netherlands",
            "city_name": "Amsterdam",
            "location": {"lat": 52.37, "lon": 4.89},
        },
    }
    assert document["user"]["name"] == "alice"
    assert document["cloud"] == {
        "account": {"id": ACCOUNT},
        "region": "eu-west-1",
        "provider": "aws",
    }
    assert document["user_agent"] == {"original": "curl/8.5.0"}
    assert document["aws"]["cloudtrail"]["user_identity"] == {
        "type": "IAMUser",
        "arn": f"arn:aws:iam::{ACCOUNT}:user/alice",
        "access_key_id": "AKIAEXAMPLEKEY000001",
    }
    assert document["aws"]["cloudtrail"]["request_parameters"] == {"functionName": FUNCTION}
    assert document["aws"]["cloudtrail"]["event_category"] == "Data"


def test_it_reports_the_workflow_status_and_close_reason(ingest):
    ingest(principal_invoke(T0))
    run_detect()
    alert_close(alert=Alert.objects.get(), by=None, reason="false_positive")

    [document], _ = export_alerts()

    assert document["kibana.alert.workflow_status"] == "closed"
    assert document["kibana.alert.workflow_reason"] == "false_positive"
    assert document["kibana.alert.suppression.docs_count"] == 0


def test_it_exports_alerts_created_since_a_time_oldest_first(ingest):
    ingest(principal_invoke(T0, user="alice"), principal_invoke(T0, user="bob"))
    run_detect()
    # Made in the order opposite to their ids: the export follows creation time.
    Alert.objects.filter(user_name="alice").update(created_at=datetime(2026, 11, 2, tzinfo=UTC))
    Alert.objects.filter(user_name="bob").update(created_at=datetime(2026, 11, 1, tzinfo=UTC))

    def exported_users(*arguments: str) -> list[str]:
        documents, _ = export_alerts(*arguments)
        return [document["user"]["name"] for document in documents]

    assert exported_users() == ["bob", "alice"]
    assert exported_users("--since", "2026-11-01T12:00:00Z") == ["alice"]
    assert exported_users("--since", "2026-11-02") == ["alice"]
    assert exported_users("--since", "2026-11-02T00:00:01+00:00") == []
    assert export_alerts("--since", "2026-12-01")[1] == "export_alerts: 0 alerts\n"


def test_it_refuses_a_since_that_is_not_a_time():
    with pytest.raises(CommandError, match="not an ISO 8601"):
        export_alerts("--since", "yesterday")


def test_it_spans_the_episode_including_a_late_event_before_the_alert(ingest):
    ingest(principal_invoke(T0, event_id="alerted"))
    run_detect()
    ingest(principal_invoke(T0 - 3 * DAY, event_id="late"))
    run_detect()

    [document], _ = export_alerts()

    assert document["kibana.alert.suppression.docs_count"] == 1
    assert document["kibana.alert.original_time"] == "2026-10-01T12:00:00Z"
    assert document["kibana.alert.suppression.start"] == "2026-09-28T12:00:00Z"
    assert document["kibana.alert.suppression.end"] == "2026-10-01T12:00:00Z"
