"""Upgrading a database an earlier version filled keeps every event and alert as it read."""

from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from ingest.ecs import ecs_document
from ingest.models import CredentialNetwork, Event, with_details
from triage.models import Alert, AlertEvent, DetectorState, Exclusion

pytestmark = pytest.mark.django_db
# Events held their records as JSON, in one table; the alerts referred to them as they were.
BEFORE_BLOCKS = [("ingest", "0009_event_source_ip"), ("triage", "0011_saved_view")]
NOW = datetime.now(UTC).replace(hour=12, minute=0, second=0, microsecond=0) - timedelta(days=3)
GEO = {"country_iso_code": "BR", "country_name": "Brazil", "city_name": "São Paulo"}


def old_record(index: int) -> dict:
    return {
        "eventVersion": "1.09",
        "eventID": f"old-{index}",
        "eventTime": (NOW + timedelta(minutes=index)).isoformat().replace("+00:00", "Z"),
        "eventSource": "lambda.amazonaws.com",
        "eventName": "Invoke",
        "awsRegion": "sa-east-1",
        "sourceIPAddress": "198.51.100.7",
        "userAgent": f"<b>agent {index}</b>",
        "userIdentity": {
            "type": "IAMUser",
            "accountId": "111122223333",
            "userName": "bob",
            "principalId": "AIDAEXAMPLE",
            "arn": "arn:aws:iam::111122223333:user/bob",
            "accessKeyId": "AKIAEXAMPLE",
        },
        "requestParameters": {"functionName": f"fn-{index % 3}", "big": 2**70 + index},
        "eventCategory": "Data",
    }


def migrate(*targets: tuple[str, str]) -> MigrationExecutor:
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(list(targets) or executor.loader.graph.leaf_nodes())
    return executor


def fill_the_earlier_schema(apps) -> None:
    """As the earlier version stored them: one file's events, one without a file, an alert."""
    LogObject = apps.get_model("ingest", "LogObject")
    OldEvent = apps.get_model("ingest", "Event")
    OldAlert = apps.get_model("triage", "Alert")
    OldAlertEvent = apps.get_model("triage", "AlertEvent")
    OldExclusion = apps.get_model("triage", "Exclusion")
    log = LogObject.objects.create(source="file", key="a.json.gz", version="v", status="done")
    events = []
    for index in range(300):  # more than a block
        record = old_record(index)
        events.append(
            OldEvent.objects.create(
                event_id=record["eventID"],
                timestamp=NOW + timedelta(minutes=index),
                ingested=NOW,
                provider="lambda.amazonaws.com",
                action="Invoke",
                outcome="success",
                account_id="111122223333",
                region="sa-east-1",
                user_name="bob",
                user_id="AIDAEXAMPLE",
                identity_type="IAMUser",
                identity_arn="arn:aws:iam::111122223333:user/bob",
                access_key_id="AKIAEXAMPLE",
                source_address="198.51.100.7",
                source_ip="198.51.100.7",
                as_number=64500,
                as_organization="Evil VPS Ltd",
                geo=GEO,
                user_agent=record["userAgent"],
                request_parameters=record["requestParameters"],
                event_category="Data",
                raw=record,
                log_object=log if index else None,  # the first one came without a file
            )
        )
    alert = OldAlert.objects.create(
        event=events[0],
        as_organization="Evil VPS Ltd",
        account_id="111122223333",
        user_name="bob",
        as_number=64500,
        original_time=events[0].timestamp,
        episode_start=events[0].timestamp,
        episode_end=events[1].timestamp,
        event_count=2,
        severity="medium",
        risk_score=47,
        reason="Lambda Invoke fn-0 by bob from Evil VPS Ltd",
    )
    OldAlertEvent.objects.create(alert=alert, event=events[0])
    OldAlertEvent.objects.create(alert=alert, event=events[1])
    OldExclusion.objects.create(as_number=64501, reason="office", created_by="adam")
    # The detector had evaluated the first 200 events.
    apps.get_model("triage", "DetectorState").objects.create(pk=1, cursor=events[199].pk)


def test_upgrading_keeps_every_event_and_alert_and_reads_each_record_back():
    executor = migrate(*BEFORE_BLOCKS)
    fill_the_earlier_schema(executor.loader.project_state(BEFORE_BLOCKS).apps)
    with connection.cursor() as cursor:  # as if committed: the test runs in one transaction
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")

    migrate()

    events = list(with_details(Event.objects.order_by("timestamp")))
    assert [event.event_id for event in events] == [f"old-{index}" for index in range(300)]
    for index, event in enumerate(events):
        record = old_record(index)
        assert event.raw == record
        assert event.user_agent == f"<b>agent {index}</b>"
        assert event.geo == GEO
        assert event.function_name == f"fn-{index % 3}"
        document = ecs_document(event)
        assert document["source"]["geo"] == GEO
        assert document["aws"]["cloudtrail"]["request_parameters"]["big"] == 2**70 + index
        assert document["cloud"]["region"] == "sa-east-1"
    assert events[0].log_object.source == "migration"  # the event that came without a file
    alert = Alert.objects.get()
    assert alert.event.event_id == "old-0"
    assert alert.event.user_agent == "<b>agent 0</b>"
    links = AlertEvent.objects.filter(alert=alert).order_by("event__timestamp")
    assert [link.event.event_id for link in links] == ["old-0", "old-1"]
    assert Exclusion.objects.get().as_number == 64501
    # Where the key was used, made from the events.
    [used] = CredentialNetwork.objects.all()
    assert (used.access_key_id, used.as_number, used.as_organization, used.event_count) == (
        "AKIAEXAMPLE",
        64500,
        "Evil VPS Ltd",
        300,
    )
    assert (used.first_seen, used.last_seen) == (events[0].timestamp, events[-1].timestamp)
    # What the detector had evaluated stays evaluated; the rest comes next (ingest.watermark).
    assert [event.stored_xid for event in events] == [0] * 200 + [1] * 100
    assert DetectorState.objects.get().cursor == 1
    with connection.cursor() as cursor:  # each in the partition of its day
        cursor.execute("SELECT DISTINCT tableoid::regclass::text FROM ingest_event")
        assert {name for (name,) in cursor.fetchall()} == {f"ingest_event_{NOW:%Y%m%d}"}
