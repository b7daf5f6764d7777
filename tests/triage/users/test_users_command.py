"""manage.py users: add with roles (a password printed once), list, set roles,
deactivate and activate, each change recorded under the shell's user."""

import getpass
import re
from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.test import Client

from tests.helpers import manage
from triage.users.models import UserChange

pytestmark = pytest.mark.django_db


def users(*args: str) -> str:
    out = StringIO()
    call_command("users", *args, stdout=out)
    return out.getvalue()


def test_it_adds_a_user_with_roles_who_signs_in_with_the_printed_password():
    out = users("add", "nina", "--role", "analyst", "--role", "integrations-admin")

    password = re.fullmatch(
        r"users: sign in as nina \(analyst, integrations-admin\) with password (\S+)\n", out
    ).group(1)
    client = Client()
    assert client.login(username="nina", password=password)
    assert client.get("/alerts/").status_code == 200
    assert client.get("/settings/notifications/").status_code == 200
    nina = get_user_model().objects.get(username="nina")
    assert not nina.is_superuser and not nina.is_staff
    change = UserChange.objects.get(user=nina)
    assert (change.action, change.changed_by) == ("created", f"cli:{getpass.getuser()}")


def test_it_sets_roles_lists_and_deactivates():
    users("add", "ana", "--role", "analyst")
    users("add", "olga")

    assert users("--by", "cli:sam", "roles", "ana", "--role", "allowlist-admin") == (
        "users: ana has allowlist-admin\n"
    )
    assert users("roles", "ana", "--role", "allowlist-admin").endswith("(unchanged)\n")
    assert users("deactivate", "olga") == "users: olga deactivated\n"

    listed = users("list").splitlines()
    assert listed == ["ana\tactive\tallowlist-admin\tnever", "olga\tdeactivated\t-\tnever"]
    roles = UserChange.objects.get(user__username="ana", action="roles")
    assert roles.changed_by == "cli:sam"
    assert roles.before["roles"] == ["analyst"] and roles.after["roles"] == ["allowlist-admin"]

    assert users("roles", "ana") == "users: ana has no role\n"
    assert users("activate", "olga") == "users: olga activated\n"
    assert get_user_model().objects.get(username="olga").is_active


def test_it_names_what_is_wrong():
    users("add", "ana")
    with pytest.raises(CommandError, match="There is already a user ana"):
        users("add", "ana")
    with pytest.raises(CommandError, match="there is no user bob"):
        users("deactivate", "bob")
    with pytest.raises(CommandError, match="invalid choice: 'root'"):
        users("add", "carl", "--role", "root")
    assert not get_user_model().objects.filter(username="carl").exists()


def test_its_help_names_every_role_and_what_it_may_do():
    result = manage("users", "add", "--help", env={"COLUMNS": "500"})

    assert result.returncode == 0, result.stderr
    text = " ".join(result.stdout.split())
    for role in ("analyst", "allowlist-admin", "integrations-admin"):
        assert f"{role}:" in text
