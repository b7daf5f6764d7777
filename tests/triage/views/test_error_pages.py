"""The error pages: 400, 404 and 500 in the page layout, with the navigation.

The 500 page is drawn without the database: the failure may be the database.
"""

import pytest

from ingest import views as ingest_views

pytestmark = pytest.mark.django_db
TOKEN = "monitoring-token-0123456789"
NAVIGATION = '<nav aria-label="Main">'


def test_it_answers_an_unknown_address_with_the_404_page(client):
    response = client.get("/nowhere/")

    text = response.content.decode()
    assert response.status_code == 404
    assert "<h1>Not found</h1>" in text
    assert "There is no page at this address." in text
    assert NAVIGATION in text
    assert '<span class="who">ana</span>' in text  # still signed in, and shown so


def test_it_says_what_was_not_found(story, client):
    response = client.get("/alerts/999999/")

    assert response.status_code == 404
    assert "<p>No such alert</p>" in response.content.decode()


def test_it_answers_a_request_it_cannot_read_with_the_400_page(client):
    response = client.get("/alerts/", headers={"Host": "attacker.example"})

    text = response.content.decode()
    assert response.status_code == 400
    assert "<h1>Bad request</h1>" in text
    assert "asnwatch could not read this request." in text


def test_the_500_page_needs_no_database(client, settings, monkeypatch, django_db_blocker):
    """A bug answers the 500 page in the layout; drawing it reads nothing, not even who asked."""
    settings.MONITORING_TOKEN = TOKEN

    def broken(**kwargs):
        raise RuntimeError("a bug in the sources page")

    monkeypatch.setattr(ingest_views, "source_overview", broken)
    client.raise_request_exception = False

    with django_db_blocker.block():  # any query now raises, as with the database gone
        response = client.get("/sources.json", headers={"Authorization": f"Bearer {TOKEN}"})

    text = response.content.decode()
    assert response.status_code == 500
    assert "<h1>Something went wrong</h1>" in text
    assert NAVIGATION in text
    assert 'class="who"' not in text  # the session (in the database) was not read
