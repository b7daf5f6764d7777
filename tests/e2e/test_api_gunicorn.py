"""The README's API examples through real HTTP: gunicorn (two workers) on the test
database, driven with requests as a playbook would drive it."""

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import requests
from django.conf import settings as django_settings
from django.utils import timezone

from tests.aws import database_url
from tests.helpers import PROJECT_ROOT, free_port, wait_until_serving
from tests.triage import ui
from triage.api.tokens import token_create
from triage.models import Alert, AlertStatusChange, ExclusionChange

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]
RATE_LIMIT = 30


@pytest.fixture(scope="session")
def geoip_dir(tmp_path_factory):
    return ui.write_geoip(tmp_path_factory.mktemp("geoip-api-e2e"))


@pytest.fixture
def base(tmp_path: Path) -> Iterator[str]:
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": database_url(),
        "SECRET_KEY": django_settings.SECRET_KEY,
        "SECURE_COOKIES": "false",
        "API_RATE_LIMIT_PER_MINUTE": str(RATE_LIMIT),
    }
    log = tmp_path / "gunicorn.log"
    with log.open("w") as output:
        server = subprocess.Popen(
            [Path(sys.executable).parent / "gunicorn", "config.wsgi", "--workers", "2",
             "--bind", f"127.0.0.1:{port}"],
            cwd=PROJECT_ROOT, env=env, stdout=output, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        wait_until_serving(f"http://127.0.0.1:{port}/login/", time.monotonic() + 60)
        yield f"http://127.0.0.1:{port}/api/v1"
    finally:
        server.terminate()
        server.wait(timeout=30)


def session(token: str) -> requests.Session:
    api = requests.Session()
    api.headers["Authorization"] = f"Bearer {token}"
    return api


def test_a_playbook_lists_open_alerts_closes_one_and_adds_an_exclusion(settings, base):
    story = ui.stories(settings)
    people = ui.people()
    analyst = session(token_create(user=people.analyst, name="soar").secret)
    admin = session(token_create(user=people.admin, name="tuning").secret)

    page = analyst.get(f"{base}/alerts", params={"status": "open"}, timeout=30)
    assert page.status_code == 200
    listed = {alert["id"]: alert["document"] for alert in page.json()["alerts"]}
    assert set(listed) == {story.alice.pk, story.role.pk}
    # Hostile text is data: exactly what CloudTrail said, no markup added or removed.
    assert listed[story.role.pk]["source"]["as"]["organization"]["name"] == ui.HOSTILE_ORG
    assert page.headers["Content-Type"] == "application/json; charset=utf-8"

    closed = analyst.post(
        f"{base}/alerts/{story.alice.pk}/status",
        json={"status": "closed", "reason": "false_positive", "comment": "office VPN"},
        timeout=30,
    )
    assert closed.status_code == 200
    change = AlertStatusChange.objects.filter(alert=story.alice).latest("id")
    assert (change.changed_by, change.to_status, change.reason) == (
        people.analyst,
        "closed",
        "false_positive",
    )
    again = analyst.post(
        f"{base}/alerts/{story.alice.pk}/status", json={"status": "acknowledged"}, timeout=30
    )
    assert again.status_code == 409
    assert again.headers["Content-Type"] == "application/problem+json"

    exclusion = {
        "as_organization": "Evil VPS*",
        "account_id": story.alice.account_id,
        "user_name": story.alice.user_name,
        "reason": "CI runners",
        "expires_at": (timezone.now() + timedelta(days=90)).isoformat(),
    }
    assert analyst.post(f"{base}/exclusions", json=exclusion, timeout=30).status_code == 403
    created = admin.post(f"{base}/exclusions", json=exclusion, timeout=30)
    assert created.status_code == 201, created.text
    assert ExclusionChange.objects.get(action="created").changed_by == "adam"
    assert Alert.objects.get(pk=story.alice.pk).status == "closed"


def test_the_rate_limit_holds_across_web_workers(settings, base):
    people = ui.people()
    api = session(token_create(user=people.analyst, name="busy").secret)

    answers = [api.get(f"{base}/rules", timeout=30) for _ in range(RATE_LIMIT + 5)]

    assert [answer.status_code for answer in answers].count(200) == RATE_LIMIT
    refused = answers[-1]
    assert refused.status_code == 429 and 1 <= int(refused.headers["Retry-After"]) <= 60
