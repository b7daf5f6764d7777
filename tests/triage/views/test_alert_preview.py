"""/alerts/<id>/preview/: the list's side panel (to htmx) and the same content as a page:
the reason, highlighted fields, network timeline, prevalence of the network and source
IP among other principals and accounts, the other open alerts, and the workflow."""

import html
import re
import tempfile
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from tests.cloudtrail import iam_user_identity, invoke_record, run_ingest_files, write_log
from tests.triage import ui
from triage import detector, rule
from triage.models import Alert

pytestmark = pytest.mark.django_db

BOB_ACCOUNT = "444455556666"


def preview(client, alert, *, htmx: bool = True):
    url = f"/alerts/{alert.pk}/preview/"
    response = ui.htmx(client, "get", url, target="alert-preview") if htmx else client.get(url)
    assert response.status_code == 200
    return response


def text_of(fragment: str) -> str:
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", "", fragment))).strip()


def prevalence_line(page: str, label: str) -> str:
    block = page[page.index('<dl class="kv prevalence">') :]
    block = block[block.index(f"<dt>{label}</dt>") :]
    return text_of(block[: block.index("</dd>")])


def ingest(records) -> None:
    with tempfile.TemporaryDirectory() as folder:
        run = run_ingest_files(write_log(Path(folder) / "more.json.gz", records))
        assert run.error is None, run.stderr
    detector.detect()


@pytest.fixture
def neighbours(story):
    """Others on alice's attacking network in the 30 days before her alert: bob (another
    account) from her very IP, twice (an alert); carol (her account) from another IP of
    the same AS, while the detector was still learning; dave from her IP, but 40 days
    before her alert."""
    attack = story.alice.original_time
    bob = iam_user_identity("bob", account=BOB_ACCOUNT, accessKeyId="AKIAEXAMPLEBOB000001")
    carol = iam_user_identity("carol", accessKeyId="AKIAEXAMPLECAROL0001")
    dave = iam_user_identity("dave", accessKeyId="AKIAEXAMPLEDAVE00001")
    day, vps = timedelta(days=1), "203.0.113.10"
    ingest(
        [
            invoke_record(when=attack - 2 * day, source_ip=vps, identity=bob),
            invoke_record(when=attack - timedelta(hours=1), source_ip=vps, identity=bob),
            invoke_record(when=attack - 20 * day, source_ip="203.0.113.99", identity=carol),
            invoke_record(when=attack - 40 * day, source_ip=vps, identity=dave),
        ]
    )
    return Alert.objects.get(user_name="bob")


def test_htmx_gets_the_panel_and_anyone_else_a_page(story, client):
    panel = preview(client, story.alice).content.decode()
    page = preview(client, story.alice, htmx=False)

    assert "<html" not in panel
    assert html.escape(story.alice.reason) in panel
    assert page.content.decode().startswith("<!doctype html>")
    assert html.escape(story.alice.reason) in page.content.decode()
    assert "Preview of #" in page.content.decode()
    assert "HX-Request" in page["Vary"]


def test_it_shows_the_reason_fields_timeline_and_workflow(story, client):
    panel = preview(client, story.alice).content.decode()

    for name in rule.INVESTIGATION_FIELDS:
        assert f'<dt class="mono">{name}</dt>' in panel
    assert "AKIAEXAMPLEKEY000001" in panel
    assert '<svg class="timeline"' in panel and "AS64500 Evil VPS Ltd" in panel
    assert f'action="/alerts/{story.alice.pk}/acknowledge/"' in panel
    assert f'action="/alerts/{story.alice.pk}/close/"' in panel
    assert f'href="/alerts/{story.alice.pk}/">Open the alert' in panel


def test_prevalence_counts_other_principals_and_accounts_in_the_30_days(story, client, neighbours):
    panel = preview(client, story.alice).content.decode()

    # bob (2 events) and carol (1) used AS64500; dave's use is older than 30 days.
    assert prevalence_line(panel, "Network") == (
        "Network Evil VPS Ltd: 2 other principals in 2 accounts, 3 events"
    )
    # Only bob used alice's very address.
    assert prevalence_line(panel, "Source IP") == (
        "Source IP 203.0.113.10: 1 other principal in 1 account, 2 events"
    )


def test_prevalence_says_when_nobody_else_used_the_network(story, client):
    panel = preview(client, story.alice).content.decode()

    assert prevalence_line(panel, "Network") == "Network Evil VPS Ltd: no other principal"
    assert prevalence_line(panel, "Source IP") == "Source IP 203.0.113.10: no other principal"


def test_it_lists_the_other_open_alerts_of_the_network(story, client, neighbours, people):
    panel = preview(client, story.alice).content.decode()
    assert "From this network: 1" in text_of(panel)
    assert f'href="/alerts/{neighbours.pk}/">#{neighbours.pk}</a>' in panel
    assert "Of this principal: 0" in text_of(panel)

    neighbours.status = Alert.Status.CLOSED
    neighbours.save(update_fields=["status"])
    panel = preview(client, story.alice).content.decode()
    assert "From this network: 0" in text_of(panel)
    assert f"#{neighbours.pk}</a>" not in panel


def test_it_shows_hostile_fields_as_text(story, client):
    panel = preview(client, story.role).content.decode()

    ui.assert_inert(panel, ui.ESCAPED_ORG, ui.ESCAPED_UA, ui.ESCAPED_FUNCTION)


def test_an_action_in_the_panel_answers_with_the_workflow_for_the_row(story, client):
    response = ui.htmx(
        client, "post", f"/alerts/{story.alice.pk}/acknowledge/", target="alert-workflow"
    )

    assert response.status_code == 200
    content = response.content.decode()
    assert f'data-alert="{story.alice.pk}"' in content
    assert 'data-status="acknowledged"' in content
    assert 'data-status-label="Acknowledged"' in content


def test_the_list_links_each_row_to_its_preview(story, client):
    listing = client.get("/alerts/?status=open").content.decode()

    assert f'href="/alerts/{story.alice.pk}/preview/"' in listing
    assert 'id="alert-preview"' in listing


def test_an_unknown_alert_is_not_found(story, client):
    assert client.get("/alerts/999999/preview/").status_code == 404


def test_old_alerts_have_their_30_days_before_them(story, client, neighbours):
    # Prevalence ends at the alert: bob's uses after alice's alert do not count.
    later = story.alice.original_time + timedelta(days=1)
    bob = iam_user_identity("bob", account=BOB_ACCOUNT, accessKeyId="AKIAEXAMPLEBOB000001")
    ingest([invoke_record(when=min(later, timezone.now()), source_ip="203.0.113.10", identity=bob)])

    panel = preview(client, story.alice).content.decode()

    assert prevalence_line(panel, "Source IP").endswith("1 other principal in 1 account, 2 events")
