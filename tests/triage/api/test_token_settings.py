"""Settings → API tokens and `manage.py api_token`: made, shown once, listed, revoked."""

import io
import json
import re

import pytest
from django.core.management import CommandError, call_command

from tests.triage import ui
from triage.api.models import ApiToken

pytestmark = pytest.mark.django_db
PAGE = "/settings/api-tokens/"


def created_token(page: str) -> str:
    return re.search(r'<code id="token" class="mono">(aw_[\w-]+)</code>', page).group(1)


def test_a_user_makes_a_token_sees_it_once_and_it_acts_as_them(people, api):
    analyst = ui.client_for(people.analyst)
    assert 'href="/settings/api-tokens/"' in analyst.get("/alerts/").content.decode()

    answer = analyst.post(PAGE, {"name": "SOAR <playbook>", "expires_days": "30"})
    secret = created_token(answer.content.decode())
    assert "SOAR &lt;playbook&gt;" in answer.content.decode()

    later = analyst.get(PAGE).content.decode()
    assert secret not in later and secret[:8] + "…" in later
    client = api(None)
    client.headers = {"Authorization": f"Bearer {secret}"}
    assert client.get("rules").status_code == 200
    used = analyst.get(PAGE).content.decode()
    assert "127.0.0.1" in used


def test_a_token_revoked_on_the_page_stops_working(people, api):
    analyst = ui.client_for(people.analyst)
    secret = created_token(analyst.post(PAGE, {"name": "script"}).content.decode())
    token = ApiToken.objects.get(name="script")

    # Someone else cannot revoke it; its owner can.
    assert ui.client_for(people.admin).post(f"{PAGE}{token.pk}/revoke/").status_code == 403
    assert analyst.post(f"{PAGE}{token.pk}/revoke/").status_code == 302

    client = api(None)
    client.headers = {"Authorization": f"Bearer {secret}"}
    assert client.get("rules").json()["detail"].endswith("the token was revoked.")
    assert ApiToken.objects.get(pk=token.pk).revoked_by == "ana"


def test_each_user_sees_only_their_tokens_and_a_superuser_sees_every_one(people):
    ui.client_for(people.analyst).post(PAGE, {"name": "ana's"})
    ui.client_for(people.admin).post(PAGE, {"name": "adam's"})

    assert "adam&#x27;s" not in ui.client_for(people.analyst).get(PAGE).content.decode()
    everything = ui.client_for(people.superuser).get(PAGE).content.decode()
    assert "ana&#x27;s" in everything and "adam&#x27;s" in everything
    assert ui.client_for(None).get(PAGE).status_code == 302  # to sign in


def test_the_command_prints_a_token_once_lists_without_it_and_revokes(people, api):
    out, err = io.StringIO(), io.StringIO()
    call_command(
        "api_token", "create", "ana", "--name", "ci", "--expires-days", "7", stdout=out, stderr=err
    )
    secret = out.getvalue().strip()
    assert secret.startswith("aw_") and "shown only now" in err.getvalue()

    listing = io.StringIO()
    call_command("api_token", "list", "--user", "ana", stdout=listing)
    rows = [json.loads(line) for line in listing.getvalue().splitlines()]
    [row] = [row for row in rows if row["name"] == "ci"]
    assert (row["user"], row["name"], row["state"]) == ("ana", "ci", "active")
    assert secret not in listing.getvalue()

    call_command("api_token", "revoke", str(row["id"]), stdout=io.StringIO())
    client = api(None)
    client.headers = {"Authorization": f"Bearer {secret}"}
    assert client.get("rules").status_code == 401
    with pytest.raises(CommandError, match="no user 'nobody'"):
        call_command("api_token", "create", "nobody", "--name", "x", stdout=io.StringIO())
    with pytest.raises(CommandError, match="expires in 1 to 3650 days"):
        call_command(
            "api_token", "create", "ana", "--name", "x", "--expires-days", "0",
            stdout=io.StringIO(), stderr=io.StringIO(),
        )  # fmt: skip
