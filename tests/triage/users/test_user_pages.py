"""Settings → Users: only superusers see it; create a user with roles (a generated
password shown once, or one set), change roles, deactivate, each change recorded."""

import re

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from tests.triage import ui
from triage.users.models import UserChange

pytestmark = pytest.mark.django_db

LIST = "/settings/users/"


@pytest.fixture
def people() -> ui.People:
    return ui.people()


@pytest.fixture
def root(people) -> Client:
    return ui.client_for(people.superuser)


def test_it_refuses_everyone_but_superusers(people):
    target = people.analyst.pk
    pages = [LIST, f"{LIST}{target}/"]
    posts = [LIST, f"{LIST}{target}/", f"{LIST}{target}/deactivate/", f"{LIST}{target}/activate/"]
    for persona in (people.analyst, people.admin, people.outsider):
        client = ui.client_for(persona)
        for page in pages:
            assert client.get(page).status_code == 403, (persona, page)
        for page in posts:
            data = {"username": "mallory", "roles": ["allowlist-admin"]}
            assert client.post(page, data).status_code == 403, (persona, page)
    anonymous = Client()
    for page in pages:
        response = anonymous.get(page)
        assert response.status_code == 302
        assert response.url.startswith("/login/?next=")
    assert anonymous.post(f"{LIST}{target}/deactivate/").status_code == 302
    for page in pages:
        assert ui.client_for(people.superuser).get(page).status_code == 200, page
    assert not get_user_model().objects.filter(username="mallory").exists()
    assert list(people.analyst.groups.values_list("name", flat=True)) == ["analyst"]
    assert get_user_model().objects.get(pk=target).is_active
    assert not UserChange.objects.exists()


def test_it_links_the_page_in_the_navigation_for_superusers_only(people, root):
    assert f'href="{LIST}"' in root.get("/settings/api-tokens/").content.decode()
    analyst_page = ui.client_for(people.analyst).get("/settings/api-tokens/").content.decode()
    assert f'href="{LIST}"' not in analyst_page


def test_it_lists_users_with_roles_state_and_last_sign_in(people, root):
    assert Client().login(username="ana", password=ui.PASSWORD)

    page = root.get(LIST).content.decode()

    row = re.search(r'<tr>\s*<td><a href="/settings/users/\d+/">ana</a></td>.*?</tr>', page, re.S)
    assert row and "analyst" in row.group(0) and "active" in row.group(0)
    assert "never" not in row.group(0)
    olga = re.search(r'">olga</a></td>.*?</tr>', page, re.S).group(0)
    assert "no role" in olga and "never" in olga
    assert "superuser" in re.search(r'">root</a></td>.*?</tr>', page, re.S).group(0)


def test_it_creates_a_user_with_a_password_shown_once(people, root):
    response = root.post(LIST, {"username": "nina", "roles": ["analyst", "integrations-admin"]})

    assert response.status_code == 200
    password = re.search(
        r'<code id="password" class="mono">([^<]+)</code>', response.content.decode()
    )
    assert password
    again = root.get(LIST).content.decode()
    assert password.group(1) not in again
    assert 'id="password"' not in again
    nina = Client()
    assert nina.login(username="nina", password=password.group(1))
    assert nina.get("/alerts/").status_code == 200
    assert nina.get("/settings/notifications/").status_code == 200
    assert nina.get("/exclusions/new/").status_code == 403
    change = UserChange.objects.get(user__username="nina")
    assert (change.action, change.changed_by, change.before) == ("created", "root", None)
    assert change.after == {"roles": ["analyst", "integrations-admin"], "active": True}


def test_it_creates_a_user_with_the_password_given_and_refuses_a_weak_one(people, root):
    weak = root.post(LIST, {"username": "weak", "password": "123", "roles": ["analyst"]})
    assert weak.status_code == 200
    assert "too short" in weak.content.decode()
    assert not get_user_model().objects.filter(username="weak").exists()

    response = root.post(LIST, {"username": "ben", "password": "a long enough pass phrase"})
    assert 'id="password"' not in response.content.decode()
    assert Client().login(username="ben", password="a long enough pass phrase")
    assert (
        ui.client_for(get_user_model().objects.get(username="ben")).get("/alerts/").status_code
        == 403
    )


def test_it_refuses_a_name_already_taken(people, root):
    response = root.post(LIST, {"username": "ANA", "roles": ["allowlist-admin"]})

    assert "There is already a user ANA." in response.content.decode()
    assert get_user_model().objects.filter(username__iexact="ana").count() == 1


def test_it_changes_roles_and_shows_who_changed_what(people, root):
    url = f"{LIST}{people.analyst.pk}/"

    response = root.post(url, {"roles": ["allowlist-admin"]})

    assert response.status_code == 302
    assert list(people.analyst.groups.values_list("name", flat=True)) == ["allowlist-admin"]
    assert ui.client_for(people.analyst).get("/exclusions/new/").status_code == 200
    change = UserChange.objects.get(user=people.analyst)
    assert (change.action, change.changed_by) == ("roles", "root")
    assert change.before == {"roles": ["analyst"], "active": True}
    assert change.after == {"roles": ["allowlist-admin"], "active": True}
    page = root.get(url).content.decode()
    assert "Roles</strong> by root" in page
    roles = re.search(r"roles</td><td[^>]*>([^<]*)</td><td[^>]*>([^<]*)</td>", page)
    assert "analyst" in roles.group(1) and "allowlist-admin" in roles.group(2)

    root.post(url, {"roles": ["allowlist-admin"]})  # the same roles again: nothing recorded
    root.post(url, {})  # no role at all
    assert UserChange.objects.filter(user=people.analyst).count() == 2
    assert ui.client_for(people.analyst).get("/alerts/").status_code == 403


def test_it_deactivates_and_activates_but_not_oneself(people, root):
    url = f"{LIST}{people.analyst.pk}/"
    signed_in = ui.client_for(people.analyst)
    assert root.get(f"{url}deactivate/").status_code == 405

    root.post(f"{url}deactivate/")

    assert not get_user_model().objects.get(pk=people.analyst.pk).is_active
    assert signed_in.get("/alerts/").status_code == 302  # the session no longer counts
    assert not Client().login(username="ana", password=ui.PASSWORD)
    assert "Deactivated" in root.get(url).content.decode()

    root.post(f"{url}activate/")
    assert Client().login(username="ana", password=ui.PASSWORD)
    assert [c.action for c in UserChange.objects.order_by("id")] == ["deactivated", "activated"]

    response = root.post(f"{LIST}{people.superuser.pk}/deactivate/", follow=True)
    assert "You cannot deactivate yourself." in response.content.decode()
    assert get_user_model().objects.get(pk=people.superuser.pk).is_active
