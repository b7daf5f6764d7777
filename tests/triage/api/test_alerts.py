"""/api/v1/alerts: the list, one alert, and the workflow, as the alert pages do them."""

import io
import json
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from tests.triage import ui
from triage import rule, selectors
from triage.models import Alert, AlertStatusChange, AlertTagChange

pytestmark = pytest.mark.django_db


def export(command: str) -> list[dict]:
    stdout = io.StringIO()
    call_command(command, stdout=stdout, stderr=io.StringIO())
    return [json.loads(line) for line in stdout.getvalue().splitlines()]


def ids(response) -> list[int]:
    assert response.status_code == 200, response.content
    return [item["id"] for item in response.json()["alerts"]]


def put(client, path: str, body: dict):
    return client.client.put(
        "/api/v1/" + path, body, content_type="application/json", headers=client.headers
    )


def operations(story) -> list[tuple[str, str, dict | None, int]]:
    """Every operation, with a body it accepts and the status it then answers."""
    alert = story.alice.pk
    return [
        ("get", "alerts", None, 200),
        ("get", f"alerts/{alert}", None, 200),
        ("post", f"alerts/{alert}/status", {"status": "acknowledged"}, 200),
        ("post", f"alerts/{alert}/assign", {"assignee": "ana"}, 200),
        ("post", f"alerts/{alert}/notes", {"text": "looked at it"}, 201),
        ("put", f"alerts/{alert}/checklist/network", {"done": True, "note": ""}, 200),
        ("post", f"alerts/{alert}/tags", {"add": ["vps"]}, 200),
        ("post", "alerts/bulk", {"status": "closed", "reason": "other", "ids": [alert]}, 200),
    ]


def call(client, method: str, path: str, body: dict | None):
    if method == "get":
        return client.get(path)
    if method == "put":
        return put(client, path, body)
    return client.post(path, body)


@pytest.mark.parametrize("persona", ["analyst", "admin", "superuser"])
def test_it_lets_every_triage_role_use_every_operation(api, story, persona):
    client = api(persona)
    for method, path, body, status in operations(story):
        response = call(client, method, path, body)
        assert response.status_code == status, (path, response.content)
        assert response["Content-Type"] == "application/json; charset=utf-8"

    story.alice.refresh_from_db()
    assert story.alice.status == Alert.Status.CLOSED and story.alice.tags == ["vps"]


@pytest.mark.parametrize(("persona", "status"), [(None, 401), ("outsider", 403)])
def test_it_refuses_anonymous_and_roleless_requests_and_changes_nothing(
    api, story, persona, status
):
    client = api(persona)
    for method, path, body, _ in operations(story):
        response = call(client, method, path, body)
        assert response.status_code == status, path
        assert response["Content-Type"] == "application/problem+json"

    story.alice.refresh_from_db()
    assert story.alice.status == Alert.Status.OPEN and story.alice.assignee is None
    assert not story.alice.notes.exists() and not story.alice.checklist.exists()
    assert story.alice.tags == []


def test_it_answers_404_for_no_such_alert_or_step(api, story):
    client = api("analyst")

    assert client.get("alerts/999999").status_code == 404
    assert client.post("alerts/999999/status", {"status": "acknowledged"}).status_code == 404
    response = put(client, f"alerts/{story.alice.pk}/checklist/nonsense", {"done": True})
    assert response.status_code == 404
    assert response.json()["detail"] == "No step 'nonsense' in the investigation guide."


def test_an_alert_is_the_document_export_alerts_writes(api, story):
    exported = {int(doc["kibana.alert.uuid"]): doc for doc in export("export_alerts")}

    listed = api("analyst").get("alerts").json()["alerts"]
    detail = api("analyst").get(f"alerts/{story.role.pk}").json()

    assert {item["id"]: item["document"] for item in listed} == exported
    assert detail["id"] == story.role.pk and detail["document"] == exported[story.role.pk]
    events = {doc["event"]["id"]: doc for doc in export("export_events")}
    assert detail["event"] == events["role-attack"]
    assert detail["episode"] == {"count": 1, "events": [events["role-attack"]]}
    assert [step["key"] for step in detail["checklist"]] == [s.key for s in rule.TRIAGE_STEPS]
    assert detail["notes"] == [] and detail["history"] == []


def test_hostile_text_round_trips_as_data(api, story):
    client = api("analyst")
    hostile = '<script>alert("note")</script> & “quotes” \\ </textarea>'
    note = client.post(f"alerts/{story.role.pk}/notes", {"text": hostile}).json()
    tags = client.post(f"alerts/{story.role.pk}/tags", {"add": [ui.HOSTILE_FUNCTION]}).json()

    detail = client.get(f"alerts/{story.role.pk}").json()

    document = detail["document"]
    assert document["source"]["as"]["organization"]["name"] == ui.HOSTILE_ORG
    assert document["user_agent"]["original"] == ui.HOSTILE_UA
    assert document["kibana.alert.workflow_tags"] == [ui.HOSTILE_FUNCTION]
    assert ui.HOSTILE_FUNCTION in document["kibana.alert.reason"]
    assert note["text"] == hostile and detail["notes"][0]["text"] == hostile
    assert tags == {"tags": [ui.HOSTILE_FUNCTION]}
    assert [entry["text"] for entry in detail["history"] if entry["kind"] == "note"] == [hostile]


def test_the_list_filters_as_the_page_does(api, story, people):
    client = api("analyst")
    alice, role = story.alice.pk, story.role.pk
    client.post(f"alerts/{role}/assign", {"assignee": "ana"})
    client.post(f"alerts/{alice}/status", {"status": "acknowledged"})
    future = (timezone.now() + timedelta(days=1)).isoformat()

    assert sorted(ids(client.get("alerts"))) == sorted([alice, role])
    assert ids(client.get("alerts", status="open")) == [role]
    assert ids(client.get("alerts", status="acknowledged")) == [alice]
    assert ids(client.get("alerts", user_name="alice")) == [alice]
    assert ids(client.get("alerts", organization=ui.HOSTILE_ORG)) == [role]
    assert ids(client.get("alerts", account_id=story.alice.account_id, user_name="x")) == []
    assert ids(client.get("alerts", assignee="ana")) == [role]
    assert ids(client.get("alerts", assignee="me")) == [role]
    assert ids(client.get("alerts", assignee="nobody-by-that-name")) == []
    assert ids(client.get("alerts", unassigned="true")) == [alice]
    assert ids(client.get("alerts", text="Evil VPS")) == [alice]
    assert ids(client.get("alerts", severity=story.alice.severity, user_name="alice")) == [alice]
    assert ids(client.get("alerts", since=future)) == []
    assert sorted(ids(client.get("alerts", until=future))) == sorted([alice, role])
    assert len(ids(client.get("alerts", rule_id=rule.RULE_ID))) == 2
    assert ids(client.get("alerts", rule_id="another-rule")) == []
    assert ids(client.get("alerts", sort="time")) == [alice, role]
    assert ids(client.get("alerts", sort="-time")) == [role, alice]


def test_it_refuses_bad_filters_by_name(api, story):
    response = api("analyst").get("alerts", since="yesterday", until="0.5", sort="sideways")

    assert response.status_code == 422
    assert {error["field"] for error in response.json()["errors"]} == {"since", "until", "sort"}
    response = api("analyst").get("alerts", account_id="a\x00b")
    assert response.status_code == 422 and response.json()["errors"][0]["field"] == "account_id"


def test_it_pages_with_the_next_cursor(api, story, monkeypatch):
    monkeypatch.setattr(selectors, "PAGE_SIZE", 1)
    client = api("analyst")

    first = client.get("alerts", sort="time").json()
    second = client.get("alerts", sort="time", after=first["next"]).json()

    assert [item["id"] for item in first["alerts"]] == [story.alice.pk]
    assert [item["id"] for item in second["alerts"]] == [story.role.pk]
    assert first["next"] and second["next"] is None


def test_acknowledging_a_closed_alert_is_a_409(api, story):
    client = api("analyst")
    path = f"alerts/{story.alice.pk}/status"
    closed = client.post(path, {"status": "closed", "reason": "true_positive", "comment": "c"})

    response = client.post(path, {"status": "acknowledged"})

    assert closed.json()["document"]["kibana.alert.workflow_reason"] == "true_positive"
    assert response.status_code == 409
    assert response.json()["detail"] == "An alert that is closed cannot become acknowledged."
    story.alice.refresh_from_db()
    assert story.alice.status == Alert.Status.CLOSED
    reopened = client.post(path, {"status": "open", "comment": "not done"})
    assert reopened.json()["document"]["kibana.alert.workflow_status"] == "open"


def test_closing_without_a_reason_is_a_422_naming_the_field(api, story):
    response = api("analyst").post(f"alerts/{story.alice.pk}/status", {"status": "closed"})

    assert response.status_code == 422
    assert response.json()["errors"] == [
        {"field": "reason", "message": "Choose a reason to close."}
    ]
    story.alice.refresh_from_db()
    assert story.alice.status == Alert.Status.OPEN
    assert not AlertStatusChange.objects.exists()


def test_bad_input_is_a_422_naming_the_field(api, story):
    client = api("analyst")
    alert = story.alice.pk

    def fields(response) -> list[str]:
        assert response.status_code == 422, response.content
        return [error["field"] for error in response.json()["errors"]]

    assert fields(client.post(f"alerts/{alert}/notes", {"text": "  "})) == ["text"]
    assert fields(client.post(f"alerts/{alert}/assign", {"assignee": "olga"})) == ["assignee"]
    assert fields(client.post(f"alerts/{alert}/tags", {"add": [" "]})) == ["add"]
    assert fields(client.post(f"alerts/{alert}/tags", {"add": ["x" * 65]})) == ["add"]
    assert fields(client.post(f"alerts/{alert}/tags", {"remove": ["a\x00"]})) == ["remove"]
    assert fields(client.post(f"alerts/{alert}/tags", {"add": ["a"], "remove": ["a"]})) == [
        "remove"
    ]
    many = [f"tag-{n}" for n in range(21)]
    assert fields(client.post(f"alerts/{alert}/tags", {"add": many})) == ["add"]
    assert fields(put(client, f"alerts/{alert}/checklist/network", {"note": "x" * 4001})) == [
        "note"
    ]
    story.alice.refresh_from_db()
    assert story.alice.tags == [] and story.alice.assignee is None
    assert not story.alice.notes.exists() and not AlertTagChange.objects.exists()


def test_changes_join_the_history_under_the_tokens_user(api, story, people):
    client = api("admin")
    alert = story.alice.pk
    client.post(f"alerts/{alert}/status", {"status": "acknowledged"})
    client.post(f"alerts/{alert}/assign", {"assignee": "ana"})
    client.post(f"alerts/{alert}/tags", {"add": ["vps", "keys"]})
    client.post(f"alerts/{alert}/tags", {"add": ["vps"], "remove": ["keys"]})
    client.post(f"alerts/{alert}/notes", {"text": "rotated the key"})
    step = put(client, f"alerts/{alert}/checklist/credential", {"done": True, "note": "one key"})
    client.post(f"alerts/{alert}/status", {"status": "closed", "reason": "true_positive"})

    detail = client.get(f"alerts/{alert}").json()

    history = [(entry["kind"], entry["by"]) for entry in detail["history"]]
    assert history == [
        ("status", "adam"),
        ("assignment", "adam"),
        ("tags", "adam"),
        ("tags", "adam"),
        ("note", "adam"),
        ("status", "adam"),
    ]
    tags = [entry for entry in detail["history"] if entry["kind"] == "tags"]
    assert [(t["tags_added"], t["tags_removed"]) for t in tags] == [
        (["vps", "keys"], []),
        ([], ["keys"]),
    ]
    assert detail["history"][-1]["reason"] == "True positive"
    assert detail["document"]["kibana.alert.workflow_tags"] == ["vps"]
    assert step.json()["updated_by"] == "adam" and step.json()["done"] is True
    [credential] = [s for s in detail["checklist"] if s["key"] == "credential"]
    assert credential["note"] == "one key" and credential["updated_by"] == "adam"
    assert AlertStatusChange.objects.filter(alert=alert, changed_by=people.admin).count() == 2
    # The browser's page shows the same history, tags included.
    page = ui.client_for(people.analyst).get(f"/alerts/{alert}/").content.decode()
    assert "Tags added: vps, keys" in page and "removed: keys" in page


def test_bulk_changes_the_alerts_named_by_id(api, story):
    client = api("analyst")
    both = [story.alice.pk, story.role.pk]
    client.post(f"alerts/{story.role.pk}/status", {"status": "closed", "reason": "other"})

    response = client.post("alerts/bulk", {"status": "acknowledged", "ids": [*both, 999999]})

    assert response.json() == {"changed": 1, "skipped": 1, "not_found": 1, "more": False}
    assert dict(Alert.objects.values_list("pk", "status")) == {
        story.alice.pk: "acknowledged",
        story.role.pk: "closed",
    }
    change = AlertStatusChange.objects.get(alert=story.alice, to_status="acknowledged")
    assert change.changed_by.username == "ana"
    reopened = client.post("alerts/bulk", {"status": "open", "ids": both, "comment": "again"})
    assert reopened.json()["changed"] == 2


def test_bulk_changes_the_alerts_a_filter_matches(api, story):
    client = api("analyst")
    body = {"status": "closed", "reason": "false_positive", "filter": {"user_name": "alice"}}

    response = client.post("alerts/bulk", body)

    assert response.status_code == 200
    assert response.json() == {"changed": 1, "skipped": 0, "not_found": 0, "more": False}
    story.alice.refresh_from_db()
    story.role.refresh_from_db()
    assert (story.alice.status, story.alice.close_reason) == ("closed", "false_positive")
    assert story.role.status == "open"
    nothing = client.post("alerts/bulk", {**body, "filter": {"rule_id": "another-rule"}})
    assert nothing.json()["changed"] == 0


def test_bulk_stops_at_its_bound_and_says_so(api, story, monkeypatch):
    from triage.api import alerts

    monkeypatch.setattr(alerts, "BULK_LIMIT", 1)

    response = api("analyst").post("alerts/bulk", {"status": "acknowledged", "filter": {}})

    assert response.json() == {"changed": 1, "skipped": 0, "not_found": 0, "more": True}
    assert Alert.objects.filter(status="acknowledged").get().pk == min(
        story.alice.pk, story.role.pk
    )


def test_bulk_refuses_what_the_single_change_refuses(api, story):
    client = api("analyst")

    no_reason = client.post("alerts/bulk", {"status": "closed", "ids": [story.alice.pk]})
    both = client.post("alerts/bulk", {"status": "open", "ids": [1], "filter": {}})
    neither = client.post("alerts/bulk", {"status": "open"})

    assert no_reason.status_code == 422 and no_reason.json()["errors"][0]["field"] == "reason"
    assert both.status_code == 422 and neither.status_code == 422
    assert not AlertStatusChange.objects.exists()


def test_every_operation_declares_the_codes_it_answers(api):
    schema = api("analyst").client.get("/api/v1/openapi.json").json()
    alerts = {path: ops for path, ops in schema["paths"].items() if "/alerts" in path}

    assert set(alerts["/api/v1/alerts/{id}/status"]["post"]["responses"]) >= {
        "200", "401", "403", "404", "409", "422", "429",
    }  # fmt: skip
    assert "at most 10,000 a request" in json.dumps(alerts["/api/v1/alerts/bulk"])
    for ops in alerts.values():
        for operation in ops.values():
            assert {"401", "403", "422"} <= set(operation["responses"])
            assert operation["description"]
