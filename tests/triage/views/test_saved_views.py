"""Saved views: a user names the list's filters, lands on a default one, and keeps them apart
from everyone else's."""

import pytest

from tests.triage import ui
from triage.models import SavedView

pytestmark = pytest.mark.django_db
HOSTILE_NAME = '<img src=x onerror=alert("view")>'


def save(client, name: str, query: str):
    return client.post("/alerts/views/", {"name": name, "query": query})


def test_a_user_saves_the_filters_and_opens_them_again(story, client, people):
    answer = save(client, "Evil VPS, any status", "status=&org=Evil+VPS+Ltd&after=2026_7")

    view = SavedView.objects.get(user=people.analyst)
    assert view.query == "status=&org=Evil+VPS+Ltd"  # a page position is not part of a view
    assert answer.status_code == 302 and answer["Location"] == (
        f"/alerts/?view={view.pk}&status=&org=Evil+VPS+Ltd"
    )
    page = client.get(answer["Location"]).content.decode()
    assert (
        f'href="/alerts/?view={view.pk}&amp;status=&amp;org=Evil+VPS+Ltd" aria-current="true"'
        in page
    )
    assert "Evil VPS, any status" in page
    assert (
        f'href="/alerts/{story.alice.pk}/"' in page
        and f'href="/alerts/{story.role.pk}/"' not in page
    )

    # Saving the same name again replaces its filters.
    save(client, "Evil VPS, any status", "status=closed&org=Evil+VPS+Ltd")
    assert SavedView.objects.get(pk=view.pk).query == "status=closed&org=Evil+VPS+Ltd"
    assert SavedView.objects.count() == 1


def test_the_bare_list_is_the_default_view_until_the_user_lands_on_open_alerts_again(story, client):
    save(client, "Mine", "status=&assignee=me")
    view = SavedView.objects.get()
    assert client.get("/alerts/").status_code == 200

    client.post(f"/alerts/views/{view.pk}/default/")
    landed = client.get("/alerts/")
    assert (
        landed.status_code == 302
        and landed["Location"] == f"/alerts/?view={view.pk}&status=&assignee=me"
    )
    # Reset leaves the default view for the open alerts.
    assert (
        'href="/alerts/?status=open">Reset</a>' in client.get(landed["Location"]).content.decode()
    )

    client.post("/alerts/views/no-default/")
    assert client.get("/alerts/").status_code == 200
    client.post(f"/alerts/views/{view.pk}/delete/")
    assert not SavedView.objects.exists()


def test_views_are_their_owners_own_and_names_are_shown_as_text(story, client, people):
    save(client, HOSTILE_NAME, "status=")
    view = SavedView.objects.get()

    page = client.get("/alerts/?status=").content.decode()
    assert "&lt;img src=x onerror=alert(&quot;view&quot;)&gt;" in page and HOSTILE_NAME not in page
    admin = ui.client_for(people.admin)
    assert "alert(&quot;view&quot;)" not in admin.get("/alerts/?status=").content.decode()
    assert admin.post(f"/alerts/views/{view.pk}/default/").status_code == 404
    assert admin.post(f"/alerts/views/{view.pk}/delete/").status_code == 404
    assert SavedView.objects.filter(pk=view.pk, is_default=False).exists()
    assert ui.client_for(people.outsider).post("/alerts/views/", {"name": "x"}).status_code == 403


def test_a_view_without_a_name_is_refused_and_the_filters_kept(story, client):
    answer = save(client, "  ", "status=closed")

    assert answer["Location"] == "/alerts/?status=closed"
    assert "A saved view needs a name." in client.get(answer["Location"]).content.decode()
    assert not SavedView.objects.exists()
