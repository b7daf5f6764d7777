"""/networks/?org=…: who used a network (AS organisation), its alerts and recent events."""

from urllib.parse import urlencode

import pytest

from tests.triage import ui

pytestmark = pytest.mark.django_db


def network_page(client, **query) -> str:
    response = client.get("/networks/?" + urlencode(query))
    assert response.status_code == 200
    return response.content.decode()


def test_it_shows_who_used_the_network_its_alerts_and_events(story, client):
    text = network_page(client, org="Evil VPS Ltd")

    assert "AS64500" in text
    assert 'href="/principals/?account=111122223333&amp;user=alice"' in text
    assert f'href="/alerts/{story.alice.pk}/"' in text
    assert "ListFunctions20150331" in text
    assert "billing-fn-role" not in text  # never used this network


def test_it_finds_a_network_by_as_number(story, client):
    text = network_page(client, asn="64501")

    assert "Example Office Networks" not in text.split("<h1>")[0]
    assert "AS64501" in text
    assert "alice" in text


def test_it_marks_aws_networks(story, client):
    text = network_page(client, org="AMAZON-02")

    assert "the rule ignores AWS networks" in text
    assert "billing-fn-role" in text


def test_it_answers_404_without_a_network(client):
    assert client.get("/networks/").status_code == 404


def test_it_answers_400_naming_an_as_number_it_cannot_read(client):
    response = client.get("/networks/?asn=AS1")

    assert response.status_code == 400
    assert "<code>asn</code>: Enter a whole number." in response.content.decode()


def test_it_is_linked_from_the_list_the_alert_and_the_events(story, client):
    link = 'href="/networks/?org=Evil+VPS+Ltd"'

    assert link in client.get("/alerts/").content.decode()
    assert link in client.get(f"/alerts/{story.alice.pk}/").content.decode()
    assert link in client.get("/events/").content.decode()


def test_it_follows_an_encoded_hostile_organisation_name(story, client):
    listing = client.get("/alerts/").content.decode()
    encoded = "/networks/?" + urlencode({"org": ui.HOSTILE_ORG})

    text = network_page(client, org=ui.HOSTILE_ORG)

    assert f'href="{encoded.replace("&", "&amp;")}"' in listing
    ui.assert_inert(text, ui.ESCAPED_ORG, ui.ESCAPED_UA)
    assert "billing-fn-role" in text
