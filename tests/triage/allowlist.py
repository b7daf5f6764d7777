"""What the allowlist tests share: saving an exclusion through the editor as a user
does, preview first, then save."""

import html
import re
from datetime import timedelta

from django.test import Client
from django.utils import timezone

PREVIEWED = re.compile(r'name="previewed" value="([^"]*)"')


def form_data(**fields) -> dict:
    """The editor's fields; the expiry defaults to the form's default, 90 days ahead."""
    data = {
        "as_number": "",
        "as_organization": "",
        "account_id": "",
        "user_name": "",
        "reason": "office egress",
        "expires_on": (timezone.now() + timedelta(days=90)).date().isoformat(),
    }
    data.update({name: "" if value is None else value for name, value in fields.items()})
    return data


def preview(client: Client, data: dict, url: str = "/exclusions/new/"):
    return client.post(url, {**data, "action": "preview"})


def save(client: Client, data: dict, url: str = "/exclusions/new/"):
    """Preview, then confirm with the previewed conditions, as the editor's two buttons do."""
    shown = preview(client, data, url)
    assert shown.status_code == 200, shown.status_code
    previewed = PREVIEWED.search(shown.content.decode())
    assert previewed, "the preview did not remember its conditions"
    return client.post(
        url, {**data, "previewed": html.unescape(previewed.group(1)), "action": "save"}
    )
