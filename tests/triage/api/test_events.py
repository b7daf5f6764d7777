"""Event search through the API: each filter, newest-first paging with a cursor, the bound
on what one page examines, and each event as the ECS document export_events writes."""

import io
import json
import tempfile
from datetime import timedelta
from pathlib import Path

import pytest
from django.core.management import call_command
from django.db.models import Q
from django.utils import timezone

from ingest import search
from ingest.ecs import ecs_document
from ingest.models import Event
from tests.cloudtrail import (
    ACCOUNT,
    iam_user_identity,
    management_record,
    run_ingest_files,
    write_log,
)
from tests.triage import ui

pytestmark = pytest.mark.django_db


@pytest.fixture
def elsewhere(story) -> None:
    """A refused call in another account, so that account and outcome filters leave some out."""
    record = management_record(
        when=timezone.now() - timedelta(days=2),
        identity=iam_user_identity(user_name="alice", account="999988887777"),
        errorCode="AccessDenied",
        errorMessage="not authorised",
    )
    with tempfile.TemporaryDirectory() as folder:
        run = run_ingest_files(write_log(Path(folder) / "elsewhere.json.gz", [record]))
        assert run.error is None, run.stderr


def newest_first(condition: Q | None = None) -> list[int]:
    condition = condition if condition is not None else Q()
    return list(Event.objects.filter(condition).order_by("-timestamp", "-id").values_list("id"))


def ids(response) -> list[int]:
    assert response.status_code == 200, response.content
    return [(item["id"],) for item in response.json()["events"]]


def every_page(client, **query) -> tuple[list[tuple[int]], int]:
    """The ids of every page, following next; and how many requests that took."""
    found, requests, cursor = [], 0, None
    while True:
        response = client.get("events", **query, **({"before": cursor} if cursor else {}))
        found += ids(response)
        requests += 1
        cursor = response.json()["next"]
        if cursor is None:
            return found, requests


@pytest.mark.parametrize("persona", ["analyst", "admin", "superuser"])
def test_every_role_may_search_and_read_events(api, story, persona):
    event = story.alice.event

    assert api(persona).get("events").status_code == 200
    assert api(persona).get(f"events/{event.pk}").status_code == 200


@pytest.mark.parametrize(("persona", "status"), [(None, 401), ("outsider", 403)])
def test_it_refuses_anonymous_requests_and_users_without_a_role(api, story, persona, status):
    for path in ("events", f"events/{story.alice.event.pk}"):
        response = api(persona).get(path)
        assert response.status_code == status
        assert response["Content-Type"] == "application/problem+json"
        assert "events" not in response.json()


def test_it_lists_events_newest_first_as_ecs_documents(api, story):
    response = api("analyst").get("events")

    assert ids(response) == newest_first()
    first = response.json()["events"][0]
    assert first["document"] == json.loads(
        json.dumps(ecs_document(Event.objects.get(pk=first["id"])))
    )
    assert response.json()["next"] is None


@pytest.mark.parametrize(
    ("query", "condition"),
    [
        ({"account_id": ACCOUNT, "user_name": "alice"}, Q(account_id=ACCOUNT, user_name="alice")),
        ({"account_id": ACCOUNT}, Q(account_id=ACCOUNT)),
        ({"user_name": "billing-fn-role"}, Q(user_name="billing-fn-role")),
        ({"as_number": 64500}, Q(as_number=64500)),
        ({"as_organization": "evil vps ltd"}, Q(as_organization="Evil VPS Ltd")),
        ({"source_ip": ui.OFFICE}, Q(source_ip=ui.OFFICE)),
        ({"access_key_id": "AKIAEXAMPLEKEY000001"}, Q(access_key_id="AKIAEXAMPLEKEY000001")),
        ({"action": "GetCallerIdentity"}, Q(action="GetCallerIdentity")),
        ({"provider": "sts.amazonaws.com"}, Q(provider="sts.amazonaws.com")),
        ({"outcome": "success"}, Q(outcome="success")),
        ({"outcome": "failure"}, Q(outcome="failure")),
        ({"user_name": "alice"}, Q(user_name="alice")),
        (
            {"access_key_id": "AKIAEXAMPLEKEY000001", "as_number": 64501, "action": "Invoke"},
            Q(access_key_id="AKIAEXAMPLEKEY000001", as_number=64501, action="Invoke"),
        ),
    ],
)
def test_it_finds_events_by_each_filter(api, elsewhere, query, condition):
    expected = newest_first(condition)
    assert 0 < len(expected) < Event.objects.count()

    assert ids(api("analyst").get("events", **query)) == expected


def test_an_instant_with_any_offset_iso_8601_allows_is_read(api, story):
    # PostgreSQL itself refuses offsets beyond 15:59.
    response = api("analyst").get("events", until="2200-07-18T08:18:38-22:35")

    assert ids(response) == newest_first()


def test_it_finds_events_in_a_time_range(api, story):
    attack = story.alice.event.timestamp
    since, until = attack - timedelta(minutes=5), attack + timedelta(minutes=30)

    found = ids(api("analyst").get("events", since=since.isoformat(), until=until.isoformat()))

    # since is inclusive (GetCallerIdentity, 5 minutes before), until exclusive (role-attack).
    assert found == newest_first(Q(timestamp__gte=since, timestamp__lt=until))
    assert len(found) == 3
    assert story.role.event.pk not in {pk for (pk,) in found}


def test_it_pages_with_a_cursor_through_events_sharing_a_timestamp(api, story):
    client = api("analyst")
    assert Event.objects.values("timestamp").distinct().count() < Event.objects.count()

    found, requests = every_page(client, limit=5)

    assert found == newest_first()
    assert requests == -(-len(found) // 5)
    filtered, _ = every_page(client, limit=2, account_id=ACCOUNT, user_name="alice")
    assert filtered == newest_first(Q(account_id=ACCOUNT, user_name="alice"))


def test_a_page_examines_a_bounded_stretch_and_says_where_to_go_on(api, story, monkeypatch):
    monkeypatch.setattr(search, "SCAN_ROWS", 4)
    client = api("analyst")

    first = client.get("events", as_number=64501)
    found, requests = every_page(client, as_number=64501)

    # The office's events are days old, not among the newest four: an empty page, with a next.
    assert first.json()["events"] == [] and first.json()["next"] is not None
    assert found == newest_first(Q(as_number=64501)) and len(found) == 6
    # Each request examines four events; the one examining fewer is the last.
    assert requests == Event.objects.count() // 4 + 1


def test_a_source_ip_is_searched_on_its_index_however_old_its_events(api, story, monkeypatch):
    monkeypatch.setattr(search, "SCAN_ROWS", 4)

    page = api("analyst").get("events", source_ip=ui.OFFICE).json()

    # The office's events are days old, behind the newest four: found in one page all the same.
    assert [(item["id"],) for item in page["events"]] == newest_first(Q(source_ip=ui.OFFICE))
    assert len(page["events"]) == 6 and page["next"] is None


def test_one_event_is_the_document_export_events_writes(api, story):
    event = story.role.event
    out = io.StringIO()
    call_command("export_events", stdout=out, stderr=io.StringIO())
    exported = {
        document["event"]["id"]: document
        for document in map(json.loads, out.getvalue().split("\n")[:-1])
    }

    response = api("analyst").get(f"events/{event.pk}")

    assert response.status_code == 200
    assert response.json() == exported["role-attack"]
    listed = api("analyst").get("events", source_ip=ui.HOSTILE).json()["events"]
    assert [item["document"] for item in listed] == [exported["role-attack"]]


def test_hostile_text_round_trips_as_data(api, story):
    document = api("analyst").get(f"events/{story.role.event.pk}").json()

    assert document["source"]["as"]["organization"]["name"] == ui.HOSTILE_ORG
    assert document["user_agent"]["original"] == ui.HOSTILE_UA
    found = api("analyst").get("events", as_organization=ui.HOSTILE_ORG).json()["events"]
    assert [item["id"] for item in found] == [story.role.event.pk]


def test_a_missing_event_is_404(api, story):
    assert api("analyst").get("events/999999999").status_code == 404


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"before": "not-a-cursor"}, "before"),
        ({"before": "2026-01-01T00:00:00_5"}, "before"),
        ({"since": "0.5"}, "since"),
        ({"until": "yesterday"}, "until"),
        ({"until": "0001-01-01T00:00:00+05:00"}, "until"),
        ({"source_ip": "203.0.113"}, "source_ip"),
        ({"as_number": "AS64500"}, "as_number"),
        ({"as_number": str(2**32)}, "as_number"),
        ({"limit": "0"}, "limit"),
        ({"limit": "201"}, "limit"),
        ({"action": "Invoke\x00"}, "action"),
    ],
)
def test_bad_filters_are_422_naming_the_field(api, story, query, field):
    response = api("analyst").get("events", **query)

    assert response.status_code == 422
    assert [error["field"] for error in response.json()["errors"]] == [field]
