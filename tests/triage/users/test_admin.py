"""The Django admin shows users and groups but changes neither: roles and sign-in change on
Settings → Users, which records each change."""

import pytest
from django.contrib.auth.models import Group

from tests.triage import ui
from triage.users.models import UserChange

pytestmark = pytest.mark.django_db


@pytest.fixture
def people() -> ui.People:
    return ui.people()


def test_a_superuser_reads_a_user_in_the_admin_but_cannot_change_their_roles(people):
    root = ui.client_for(people.superuser)
    admins = Group.objects.get(name="allowlist-admin")
    page = root.get(f"/admin/auth/user/{people.analyst.pk}/change/")

    assert page.status_code == 200
    assert 'name="_save"' not in page.content.decode()
    refused = root.post(
        f"/admin/auth/user/{people.analyst.pk}/change/",
        {"username": "ana", "groups": [admins.pk], "is_active": "on"},
    )

    assert refused.status_code == 403
    assert not people.analyst.groups.filter(pk=admins.pk).exists()
    assert not UserChange.objects.exists()


@pytest.mark.parametrize(
    "path",
    ["/admin/auth/user/add/", "/admin/auth/group/add/", "/admin/auth/group/{group}/delete/"],
)
def test_the_admin_adds_and_removes_neither_users_nor_groups(people, path):
    root = ui.client_for(people.superuser)
    group = Group.objects.get(name="analyst")

    assert root.get(path.format(group=group.pk)).status_code == 403
    assert root.post(path.format(group=group.pk), {"post": "yes"}).status_code == 403
    assert Group.objects.filter(pk=group.pk).exists()
