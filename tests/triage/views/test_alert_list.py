"""/alerts/: counts, filters, sorting, pages, bulk actions, new alerts and the banners."""

import re
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from ingest.models import Event
from tests.triage import ui
from triage import selectors
from triage.alerts import bulk_confirmation_token
from triage.models import Alert, AlertStatusChange, DetectionRun

pytestmark = pytest.mark.django_db


def listed(response) -> list[int]:
    """The alert ids in the list, in order."""
    return [int(pk) for pk in re.findall(r'name="alerts" value="(\d+)"', response.content.decode())]


def test_it_lists_open_alerts_with_their_principal_network_and_function(story, client):
    response = client.get("/alerts/")

    text = response.content.decode()
    assert response.status_code == 200
    assert listed(response) == [story.role.pk, story.alice.pk]  # newest detected first
    assert "billing-export" in text  # the function name, not its ARN
    assert "AS64500" in text
    assert "111122223333" in text
    assert 'href="/principals/?account=111122223333&amp;user=alice"' in text
    assert 'href="/networks/?org=Evil+VPS+Ltd"' in text


def test_it_counts_alerts_per_status(story, people, client):
    Alert.objects.filter(pk=story.alice.pk).update(status="closed")

    text = client.get("/alerts/").content.decode()

    assert re.search(r'Open <span class="count">1</span>', text)
    assert re.search(r'Acknowledged <span class="count">0</span>', text)
    assert re.search(r'Closed <span class="count">1</span>', text)
    assert re.search(r'All <span class="count">2</span>', text)


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("", ["role", "alice"]),
        ("?status=closed", []),
        ("?status=", ["role", "alice"]),
        ("?severity=medium", ["role", "alice"]),
        ("?severity=high", []),
        ("?range=1h", []),
        ("?range=24h", ["role", "alice"]),
        ("?account=111122223333", ["role", "alice"]),
        ("?account=999999999999", []),
        ("?principal=alice", ["alice"]),
        ("?org=Evil+VPS+Ltd", ["alice"]),
        ("?q=billing-export", ["alice"]),  # the function name, in the reason
        ("?q=VPS", ["alice"]),
        ("?q=fn-ROLE", ["role"]),  # case-insensitive
        ("?assignee=unassigned", ["role", "alice"]),
        ("?assignee=me", []),
        ("?sort=time", ["alice", "role"]),
        ("?sort=-time", ["role", "alice"]),
        ("?range=nonsense&principal=alice", ["alice"]),  # a bad filter is ignored, not fatal
    ],
)
def test_it_filters_and_sorts(story, client, query, expected):
    response = client.get(f"/alerts/{query}")

    assert response.status_code == 200
    assert listed(response) == [getattr(story, name).pk for name in expected]


def test_it_filters_by_time_range_with_dates(story, client):
    today = timezone.now().date()

    inside = client.get(f"/alerts/?since={today - timedelta(days=1)}&until={today}")
    before = client.get(f"/alerts/?until={today - timedelta(days=2)}")

    assert len(listed(inside)) == 2
    assert listed(before) == []


def test_it_filters_by_assignee(story, people, client):
    Alert.objects.filter(pk=story.alice.pk).update(assignee=people.analyst)
    Alert.objects.filter(pk=story.role.pk).update(assignee=people.admin)

    assert listed(client.get("/alerts/?assignee=me")) == [story.alice.pk]
    assert listed(client.get(f"/alerts/?assignee={people.admin.pk}")) == [story.role.pk]
    assert listed(client.get("/alerts/?assignee=unassigned")) == []


def test_it_keeps_the_filters_in_links_it_offers(story, client):
    text = client.get("/alerts/?principal=alice&sort=time").content.decode()

    assert 'href="/alerts/?principal=alice&amp;sort=time&amp;status=closed"' in text
    assert 'value="alice"' in text


def test_it_pages_through_many_alerts_without_gaps_or_repeats(story, client):
    ui.stored_alerts(120)

    seen, url, pages = [], "/alerts/", 0
    while url:
        response = client.get(url)
        seen += listed(response)
        pages += 1
        match = re.search(r'href="(/alerts/\?[^"]*after=[^"]*)"', response.content.decode())
        url = match.group(1).replace("&amp;", "&") if match else None

    assert pages == 3
    assert len(seen) == len(set(seen)) == 122


def test_it_makes_the_same_queries_however_many_alerts_there_are(story, client):
    def queries(url: str) -> int:
        with CaptureQueriesContext(connection) as captured:
            assert client.get(url).status_code == 200
        return len(captured)

    client.get("/alerts/")  # the session's first visit is written once
    few = queries("/alerts/?status=")
    ui.stored_alerts(120)

    # The list's own, the new-alerts notice's (newest id, open count) and the saved views'.
    assert queries("/alerts/?status=") == few <= 15
    assert queries("/alerts/?status=&q=user") <= 15


def test_it_answers_an_htmx_filter_with_the_results_only(story, client):
    response = ui.htmx(client, "get", "/alerts/?principal=alice", target="alert-results")

    text = response.content.decode()
    assert text.lstrip().startswith('<div id="alert-results"')
    assert "<html" not in text
    assert "HX-Request" in response["Vary"]


def test_it_highlights_alerts_that_are_new(story, client):
    Alert.objects.filter(pk=story.alice.pk).update(created_at=timezone.now() - timedelta(hours=3))

    text = client.get("/alerts/").content.decode()

    rows = dict(
        re.findall(
            r'<tr class="([^"]*)" data-alert="\d+">\s*<td class="select"><input[^>]*value="(\d+)"',
            text,
        )
    )
    assert {int(pk): css for css, pk in rows.items()} == {
        story.role.pk: "is-new",
        story.alice.pk: "",
    }


def test_it_says_what_the_new_badge_means(story, client):
    text = client.get("/alerts/").content.decode()

    badge = re.search(r'<span class="badge badge-new" title="([^"]+)">new', text)
    assert badge.group(1) == "Open, and detected since your previous visit or within the last hour"
    assert re.search(r'<p class="legend[^>]*>.*badge-new.*since your previous visit', text)


def test_it_explains_no_badge_when_no_alert_is_new(story, client):
    Alert.objects.update(created_at=timezone.now() - timedelta(hours=3))

    assert 'class="legend' not in client.get("/alerts/").content.decode()


def test_it_highlights_what_arrived_since_the_previous_visit(story, client):
    Alert.objects.filter(pk=story.alice.pk).update(created_at=timezone.now() - timedelta(hours=3))
    session = client.session
    session["alerts_last_view"] = (timezone.now() - timedelta(hours=5)).isoformat()
    session.save()

    text = client.get("/alerts/").content.decode()

    assert text.count('class="is-new"') == 2


@pytest.mark.parametrize("action", ["acknowledge", "assign", "close"])
def test_it_applies_a_bulk_action_to_the_selected_alerts(story, people, client, action):
    response = client.post(
        "/alerts/bulk/",
        {
            "alerts": [story.alice.pk, story.role.pk],
            "action": action,
            "assignee": people.admin.pk,
            "reason": "false_positive",
            "comment": "pen test",
            # Closing two asks first (test_alert_bulk.py); this is the answer to that question.
            "confirm": bulk_confirmation_token(
                [story.alice.pk, story.role.pk], "close::false_positive"
            ),
            "next": "/alerts/?principal=alice",
        },
        follow=True,
    )

    assert response.redirect_chain[0] == ("/alerts/?principal=alice", 302)
    alerts = Alert.objects.filter(pk__in=[story.alice.pk, story.role.pk])
    if action == "acknowledge":
        assert {a.status for a in alerts} == {"acknowledged"}
    elif action == "assign":
        assert {a.assignee for a in alerts} == {people.admin}
    else:
        assert {(a.status, a.close_reason) for a in alerts} == {("closed", "false_positive")}
        assert set(AlertStatusChange.objects.values_list("comment", "changed_by")) == {
            ("pen test", people.analyst.pk)
        }
    done = {
        "acknowledge": "2 acknowledged.",
        "assign": f"2 assigned to {people.admin.username}.",
        "close": "2 closed as false positive.",
    }
    assert done[action] in response.content.decode()


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"action": "close"}, "Closing needs a reason."),
        ({"action": "acknowledge", "alerts": []}, "Select at least one alert."),
        ({"action": "explode"}, "Select a valid choice."),
    ],
)
def test_it_refuses_a_bulk_action_it_cannot_do(story, client, data, message):
    data = {"alerts": [story.alice.pk], **data}

    response = client.post("/alerts/bulk/", data, follow=True)

    assert message in response.content.decode()
    assert not AlertStatusChange.objects.exists()


def test_it_never_redirects_a_bulk_action_off_site(story, client):
    response = client.post(
        "/alerts/bulk/",
        {"alerts": [story.alice.pk], "action": "acknowledge", "next": "https://evil.example/"},
    )

    assert response["Location"] == "/alerts/"


def test_it_says_when_the_detector_is_learning(story, settings, client):
    settings.DETECTION_BASELINE_START = timezone.now() - timedelta(days=2)

    assert "The detector is learning until" in client.get("/alerts/").content.decode()


def test_it_says_when_the_last_run_was_deferred_past_the_cap(story, client):
    DetectionRun.objects.create(started_at=timezone.now(), alerts_created=100, deferred=True)

    assert "reached the cap of 100 alerts" in client.get("/alerts/").content.decode()


def test_it_says_when_the_last_run_failed(story, client):
    DetectionRun.objects.create(started_at=timezone.now(), error="OperationalError: boom")

    assert "The last detection run failed: OperationalError: boom" in (
        client.get("/alerts/").content.decode()
    )


def test_it_says_when_ingestion_lags(story, client):
    quiet = client.get("/alerts/").content.decode()
    Event.objects.update(ingested=timezone.now() - timedelta(hours=3))

    lagging = client.get("/alerts/").content.decode()

    assert "Ingestion is lagging" not in quiet
    assert "Ingestion is lagging: the newest event was stored 3 hours ago" in lagging


def test_it_says_when_nothing_was_ever_stored():
    text = ui.client_for(ui.people().analyst).get("/alerts/").content.decode()

    assert "No CloudTrail events have been stored yet." in text
    assert "No open alerts match these filters." in text


def test_it_shows_hostile_fields_as_text(story, client):
    ui.assert_inert(client.get("/alerts/").content.decode(), ui.ESCAPED_ORG, ui.ESCAPED_FUNCTION)


def test_it_counts_up_to_a_cap_and_says_so(story, client, monkeypatch):
    monkeypatch.setattr(selectors, "COUNT_CAP", 1)

    text = client.get("/alerts/").content.decode()

    assert re.search(r'Open <span class="count">1\+</span>', text)
    assert re.search(r'Closed <span class="count">0</span>', text)


def test_it_counts_filtered_alerts_in_one_pass_up_to_a_cap(story, client, monkeypatch):
    monkeypatch.setattr(selectors, "FILTERED_COUNT_CAP", 1)

    text = client.get("/alerts/?account=111122223333").content.decode()

    # The pass stopped after the cap: what it found is a lower bound.
    assert re.search(r'Open <span class="count">2\+</span>', text)


@pytest.mark.parametrize("text", ["%", "_", "\\"])
def test_it_searches_for_wildcard_characters_literally(story, client, text):
    assert listed(client.get("/alerts/", {"q": text})) == []
