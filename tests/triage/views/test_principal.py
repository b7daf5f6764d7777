"""/principals/?account=…&user=…: a principal's networks, alerts and recent events."""

from urllib.parse import urlencode

import pytest

from tests.triage import ui

pytestmark = pytest.mark.django_db


def principal_page(client, user: str, account: str = "111122223333") -> str:
    response = client.get("/principals/?" + urlencode({"account": account, "user": user}))
    assert response.status_code == 200
    return response.content.decode()


def test_it_shows_the_principals_networks_alerts_and_events(story, client):
    text = principal_page(client, "alice")

    assert "arn:aws:iam::111122223333:user/alice" in text
    assert "Example Office Networks" in text
    assert "Evil VPS Ltd" in text
    assert '<svg class="timeline"' in text
    assert f'href="/alerts/{story.alice.pk}/"' in text
    assert "GetCallerIdentity" in text
    assert 'href="/alerts/?status=&amp;account=111122223333&amp;principal=alice"' in text


def test_it_is_linked_from_the_list_the_alert_and_the_events(story, client):
    link = 'href="/principals/?account=111122223333&amp;user=alice"'

    assert link in client.get("/alerts/").content.decode()
    assert link in client.get(f"/alerts/{story.alice.pk}/").content.decode()
    assert link in client.get("/events/").content.decode()


def test_it_answers_404_without_a_principal(client):
    assert client.get("/principals/").status_code == 404
    assert client.get("/principals/?account=111122223333").status_code == 404


def test_it_shows_an_unknown_principal_as_empty(client):
    text = principal_page(client, "nobody")

    assert "No stored events" in text
    assert "No network history." in text


def test_it_shows_hostile_fields_as_text(story, client):
    text = principal_page(client, "billing-fn-role")

    ui.assert_inert(text, ui.ESCAPED_ORG, ui.ESCAPED_UA)


def test_it_encodes_a_hostile_user_name_in_links(story, client):
    hostile = 'x&user=alice"><script>'

    text = principal_page(client, hostile)

    assert "<script>" not in text
    assert "x&amp;user=alice&quot;&gt;&lt;script&gt;" in text
