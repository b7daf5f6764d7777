"""Who sees what: the two roles, anonymous users, users in no group; GET never changes anything."""

import importlib

import pytest
from django.apps import apps
from django.contrib.auth.models import Group
from django.test import Client

from tests.triage import ui
from triage.models import Alert, AlertNote, AlertStatusChange, ChecklistStep

pytestmark = pytest.mark.django_db


PAGES = {
    "alert list": lambda story: "/alerts/",
    "alert": lambda story: f"/alerts/{story.alice.pk}/",
    "alert preview": lambda story: f"/alerts/{story.alice.pk}/preview/",
    "principal": lambda story: "/principals/?account=111122223333&user=alice",
    "network": lambda story: "/networks/?org=Evil+VPS+Ltd",
    "events": lambda story: "/events/",
    "grouped alert list": lambda story: "/alerts/?group=network",
}

ACTIONS = {
    "acknowledge": lambda story: (f"/alerts/{story.alice.pk}/acknowledge/", {}),
    "assign": lambda story: (f"/alerts/{story.alice.pk}/assign/", {"assignee": "me"}),
    "close": lambda story: (
        f"/alerts/{story.alice.pk}/close/",
        {"reason": "true_positive", "comment": "x"},
    ),
    "reopen": lambda story: (f"/alerts/{story.alice.pk}/reopen/", {}),
    "note": lambda story: (f"/alerts/{story.alice.pk}/notes/", {"text": "seen"}),
    "checklist": lambda story: (f"/alerts/{story.alice.pk}/checklist/network/", {"done": "on"}),
    "bulk": lambda story: ("/alerts/bulk/", {"action": "acknowledge", "alerts": story.alice.pk}),
    "group action": lambda story: (
        "/alerts/groups/action/",
        {
            "action": "acknowledge",
            "by": "principal",
            "account": "111122223333",
            "principal": "alice",
            "upto": story.alice.pk,
            "shown": 1,
        },
    ),
}


def unchanged(story: ui.Story) -> bool:
    alert = Alert.objects.get(pk=story.alice.pk)
    return (
        alert.status == "open"
        and alert.assignee is None
        and not AlertStatusChange.objects.exists()
        and not AlertNote.objects.exists()
        and not ChecklistStep.objects.exists()
    )


def test_it_creates_both_roles_in_a_data_migration():
    migration = importlib.import_module("triage.migrations.0002_roles")
    Group.objects.filter(name__in=["analyst", "allowlist-admin"]).delete()

    migration.create_roles(apps, None)
    migration.create_roles(apps, None)  # and again, as a re-run migration would

    assert set(Group.objects.values_list("name", flat=True)) >= {"analyst", "allowlist-admin"}


def test_it_sends_home_to_the_alert_list(people):
    response = ui.client_for(people.analyst).get("/")

    assert response.status_code == 302
    assert response["Location"] == "/alerts/"


@pytest.mark.parametrize("page", PAGES)
def test_it_sends_anonymous_users_to_sign_in(story, page):
    url = PAGES[page](story)

    response = Client().get(url)

    assert response.status_code == 302
    assert response["Location"].startswith("/login/?next=")


@pytest.mark.parametrize("page", PAGES)
def test_it_tells_a_user_without_a_role_to_ask_an_admin(story, people, page):
    response = ui.client_for(people.outsider).get(PAGES[page](story))

    assert response.status_code == 403
    text = response.content.decode()
    assert "Ask an asnwatch admin" in text
    assert "Evil VPS Ltd" not in text
    assert "alice" not in text


@pytest.mark.parametrize("persona", ["analyst", "admin", "superuser"])
@pytest.mark.parametrize("page", PAGES)
def test_it_shows_every_page_to_analysts_admins_and_superusers(story, people, persona, page):
    response = ui.client_for(getattr(people, persona)).get(PAGES[page](story))

    assert response.status_code == 200
    assert "Evil VPS Ltd" in response.content.decode()


def test_it_refuses_an_inactive_user_with_a_role(story, people):
    client = ui.client_for(people.analyst)
    people.analyst.is_active = False
    people.analyst.save()

    response = client.get("/alerts/")

    assert response.status_code == 302  # the session no longer signs anyone in


@pytest.mark.parametrize("persona", [None, "analyst"])
@pytest.mark.parametrize("action", ACTIONS)
def test_it_answers_405_to_a_get_on_an_action(story, people, action, persona):
    url, _ = ACTIONS[action](story)
    client = ui.client_for(getattr(people, persona) if persona else None)

    response = client.get(url)

    assert response.status_code == 405
    assert unchanged(story)


@pytest.mark.parametrize("action", ACTIONS)
def test_it_refuses_actions_to_a_user_without_a_role(story, people, action):
    url, data = ACTIONS[action](story)

    response = ui.client_for(people.outsider).post(url, data)

    assert response.status_code == 403
    assert unchanged(story)


@pytest.mark.parametrize("action", ACTIONS)
def test_it_refuses_actions_to_anonymous_users(story, action):
    url, data = ACTIONS[action](story)

    response = Client().post(url, data)

    assert response.status_code == 302
    assert response["Location"].startswith("/login/")
    assert unchanged(story)


@pytest.mark.parametrize("persona", ["analyst", "admin"])
@pytest.mark.parametrize("action", ACTIONS)
def test_it_lets_analysts_and_admins_act(story, people, persona, action):
    url, data = ACTIONS[action](story)
    if action == "reopen":
        Alert.objects.filter(pk=story.alice.pk).update(status="acknowledged")

    response = ui.client_for(getattr(people, persona)).post(url, data)

    assert response.status_code == 302
    assert not unchanged(story)


def test_it_refuses_a_post_without_the_csrf_token(story, people):
    client = Client(enforce_csrf_checks=True)
    client.force_login(people.analyst)

    refused = client.post(f"/alerts/{story.alice.pk}/acknowledge/")
    page = client.get(f"/alerts/{story.alice.pk}/")
    token = client.cookies["csrftoken"].value
    accepted = client.post(f"/alerts/{story.alice.pk}/acknowledge/", headers={"X-CSRFToken": token})

    assert refused.status_code == 403
    assert page.status_code == 200
    assert accepted.status_code == 302
    assert Alert.objects.get(pk=story.alice.pk).status == "acknowledged"


def test_it_puts_the_csrf_token_on_the_body_for_htmx(story, people):
    client = Client(enforce_csrf_checks=True)
    client.force_login(people.analyst)

    page = client.get(f"/alerts/{story.alice.pk}/").content.decode()

    assert "<body hx-headers='{&quot;x-csrftoken&quot;: &quot;" not in page
    assert '<body hx-headers=\'{"x-csrftoken": "' in page
