"""Who may do what with exclusion requests: anonymous users sign in, users without a
role are refused, analysts propose and withdraw their own, allowlist admins decide;
a GET never changes anything."""

import pytest
from django.test import Client

from tests.triage import ui
from triage.models import Exclusion
from triage.requests import services
from triage.requests.models import ExclusionRequest

pytestmark = pytest.mark.django_db


@pytest.fixture
def waiting(story, people) -> ExclusionRequest:
    return services.exclusion_request_create(
        by=people.analyst, alert=story.alice, reason="pentest VPS", as_organization="Evil VPS Ltd"
    )


PAGES = {
    "queue": lambda story, row: "/exclusions/requests/",
    "decided": lambda story, row: "/exclusions/requests/?state=decided",
    "request": lambda story, row: f"/exclusions/requests/{row.pk}/",
    "propose": lambda story, row: f"/exclusions/requests/new/?alert={story.role.pk}",
}

ACTIONS = {
    "propose": lambda story, row: (
        "/exclusions/requests/new/",
        {
            "alert": story.role.pk,
            "user_name": "billing-fn-role",
            "reason": "the CI runner",
            "never_expires": "on",
            "action": "send",
        },
    ),
    "approve": lambda story, row: (f"/exclusions/requests/{row.pk}/approve/", {}),
    "decline": lambda story, row: (f"/exclusions/requests/{row.pk}/decline/", {"reason": "no"}),
    "withdraw": lambda story, row: (f"/exclusions/requests/{row.pk}/withdraw/", {}),
}


def unchanged(row: ExclusionRequest) -> bool:
    row.refresh_from_db()
    return (
        row.state == "pending"
        and ExclusionRequest.objects.count() == 1
        and not Exclusion.objects.exists()
    )


@pytest.mark.parametrize("page", PAGES)
def test_it_sends_anonymous_users_to_sign_in(story, waiting, page):
    response = Client().get(PAGES[page](story, waiting))

    assert response.status_code == 302
    assert response["Location"].startswith("/login/?next=")


@pytest.mark.parametrize("page", PAGES)
def test_it_refuses_a_user_without_a_role(story, people, waiting, page):
    response = ui.client_for(people.outsider).get(PAGES[page](story, waiting))

    assert response.status_code == 403
    assert "pentest VPS" not in response.content.decode()


@pytest.mark.parametrize("persona", ["analyst", "admin", "superuser"])
@pytest.mark.parametrize("page", ["queue", "request"])
def test_it_shows_requests_to_everyone_who_triages(story, people, waiting, persona, page):
    response = ui.client_for(getattr(people, persona)).get(PAGES[page](story, waiting))

    assert response.status_code == 200
    assert "pentest VPS" in response.content.decode()


def test_it_offers_the_decision_to_admins_only(story, people, waiting):
    url = PAGES["request"](story, waiting)

    analyst = ui.client_for(people.analyst).get(url).content.decode()
    admin = ui.client_for(people.admin).get(url).content.decode()

    assert "/approve/" not in analyst and "/decline/" not in analyst
    assert "Withdraw request" in analyst
    assert "/approve/" in admin and "/decline/" in admin
    assert "Withdraw request" not in admin


@pytest.mark.parametrize("persona", ["admin", "superuser"])
def test_it_sends_admins_from_the_proposal_to_the_editor(story, people, persona):
    response = ui.client_for(getattr(people, persona)).get(PAGES["propose"](story, None))

    assert response.status_code == 302
    assert response["Location"] == f"/exclusions/new/?alert={story.role.pk}"


@pytest.mark.parametrize("persona", [None, "analyst", "admin"])
@pytest.mark.parametrize("action", ["approve", "decline", "withdraw"])
def test_it_answers_405_to_a_get_on_an_action(story, people, waiting, action, persona):
    url, _ = ACTIONS[action](story, waiting)
    client = ui.client_for(getattr(people, persona) if persona else None)

    response = client.get(url)

    assert response.status_code == 405
    assert unchanged(waiting)


@pytest.mark.parametrize("action", ACTIONS)
def test_it_refuses_actions_to_anonymous_users(story, waiting, action):
    url, data = ACTIONS[action](story, waiting)

    response = Client().post(url, data)

    assert response.status_code == 302
    assert response["Location"].startswith("/login/")
    assert unchanged(waiting)


@pytest.mark.parametrize("action", ACTIONS)
def test_it_refuses_actions_to_a_user_without_a_role(story, people, waiting, action):
    url, data = ACTIONS[action](story, waiting)

    response = ui.client_for(people.outsider).post(url, data)

    assert response.status_code == 403
    assert unchanged(waiting)


@pytest.mark.parametrize("action", ["approve", "decline"])
def test_it_refuses_the_decision_to_analysts(story, people, waiting, action):
    url, data = ACTIONS[action](story, waiting)

    response = ui.client_for(people.analyst).post(url, data)

    assert response.status_code == 403
    assert "allowlist-admin" in response.content.decode()
    assert unchanged(waiting)


def test_it_refuses_a_withdrawal_by_anyone_but_the_requester(story, people, waiting):
    url, data = ACTIONS["withdraw"](story, waiting)

    for persona in (people.admin, people.superuser):
        assert ui.client_for(persona).post(url, data).status_code == 403
    assert unchanged(waiting)


def test_it_refuses_a_proposal_by_an_admin(story, people, waiting):
    url, data = ACTIONS["propose"](story, waiting)

    response = ui.client_for(people.admin).post(url, data)

    assert response.status_code == 302
    assert response["Location"].startswith("/exclusions/new/")
    assert ExclusionRequest.objects.count() == 1


@pytest.mark.parametrize(
    ("action", "persona", "state"),
    [
        ("propose", "analyst", "pending"),
        ("approve", "admin", "approved"),
        ("approve", "superuser", "approved"),
        ("decline", "admin", "declined"),
        ("withdraw", "analyst", "withdrawn"),
    ],
)
def test_it_lets_each_role_do_its_part(story, people, waiting, action, persona, state):
    url, data = ACTIONS[action](story, waiting)

    response = ui.client_for(getattr(people, persona)).post(url, data)

    assert response.status_code == 302
    if action == "propose":
        assert ExclusionRequest.objects.get(alert=story.role).state == state
    else:
        waiting.refresh_from_db()
        assert waiting.state == state
