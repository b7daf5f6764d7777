"""From an alert to an exclusion: the prefilled editor, closing this alert or every
open alert it matches, and the next detector run honouring it end to end."""

import io
import tempfile
from datetime import timedelta
from pathlib import Path

import pytest
from django.core.management import call_command
from django.utils import timezone

from tests.cloudtrail import ACCOUNT, iam_user_identity, invoke_record, run_ingest_files, write_log
from tests.triage import ui
from tests.triage.allowlist import form_data, save
from triage import detector
from triage.alerts import alert_close
from triage.allowlist import services as exclusions
from triage.models import Alert, AlertStatusChange, DetectionRun, Exclusion

pytestmark = pytest.mark.django_db


def ingest(*records: dict) -> None:
    with tempfile.TemporaryDirectory() as folder:
        run = run_ingest_files(write_log(Path(folder) / "more.json.gz", list(records)))
        assert run.error is None, run.stderr


def invoke(user: str, source_ip: str, *, hours_ago: float, event_id: str) -> dict:
    return invoke_record(
        when=timezone.now() - timedelta(hours=hours_ago),
        source_ip=source_ip,
        identity=iam_user_identity(user_name=user),
        event_id=event_id,
    )


@pytest.fixture
def more_alerts(story, people) -> dict[str, Alert]:
    """bob from Evil VPS (open), carol from Evil VPS (closed as true positive),
    dave from the office network (open). Evil VPS then has 3 of the 11 candidates: an
    exclusion of it needs a confirmation (BROAD, in the form)."""
    ingest(
        invoke("bob", ui.EVIL_VPS, hours_ago=1, event_id="bob"),
        invoke("carol", ui.EVIL_VPS, hours_ago=1, event_id="carol"),
        invoke("dave", ui.OFFICE, hours_ago=1, event_id="dave"),
    )
    detector.detect()
    alerts = {name: Alert.objects.get(event__event_id=name) for name in ("bob", "carol", "dave")}
    alert_close(alert=alerts["carol"], by=people.analyst, reason="true_positive")
    return alerts


def test_it_offers_the_button_to_admins_only(story, people):
    url = f"/alerts/{story.alice.pk}/"

    assert "Add exclusion" in ui.client_for(people.admin).get(url).content.decode()
    assert "Add exclusion" in ui.client_for(people.superuser).get(url).content.decode()
    assert "Add exclusion" not in ui.client_for(people.analyst).get(url).content.decode()


def test_it_prefills_the_network_and_optionally_the_principal(story, people):
    client = ui.client_for(people.admin)

    network = client.get(f"/exclusions/new/?alert={story.alice.pk}").context["form"]
    principal = client.get(f"/exclusions/new/?alert={story.alice.pk}&principal=1").context["form"]

    assert (network["as_organization"].value(), network["as_number"].value()) == (
        "Evil VPS Ltd",
        64500,
    )
    assert (network["account_id"].value(), network["user_name"].value()) == ("", "")
    assert (principal["account_id"].value(), principal["user_name"].value()) == (ACCOUNT, "alice")
    expected = (timezone.now() + timedelta(days=90)).date()
    assert network["expires_on"].value() == expected


BROAD = {"confirm_broad": "on"}


def from_alert(alert: Alert, **fields) -> dict:
    return {
        **form_data(as_organization="Evil VPS Ltd", as_number="64500", reason="pentest VPS"),
        "alert": str(alert.pk),
        **fields,
    }


def test_it_closes_exactly_the_matching_open_alerts(story, people, more_alerts):
    client = ui.client_for(people.admin)
    url = f"/exclusions/new/?alert={story.alice.pk}"
    shown = client.post("/exclusions/new/", {**from_alert(story.alice), "action": "preview"})
    assert shown.context["impact"].open_alerts == 2  # alice and bob; carol is closed

    response = save(
        client, from_alert(story.alice, close_alert="on", close_matching="on", **BROAD), url=url
    )

    exclusion = Exclusion.objects.get()
    assert response.status_code == 302
    statuses = dict(Alert.objects.values_list("event__event_id", "status"))
    assert statuses == {
        "alice-attack": "closed",
        "bob": "closed",
        "carol": "closed",
        "dave": "open",
        "role-attack": "open",
    }
    stamped = AlertStatusChange.objects.filter(closed_by_exclusion=exclusion)
    assert sorted(stamped.values_list("alert__event__event_id", "reason", "changed_by")) == [
        ("alice-attack", "false_positive", people.admin.pk),
        ("bob", "false_positive", people.admin.pk),
    ]
    carol = Alert.objects.get(pk=more_alerts["carol"].pk)
    assert carol.close_reason == "true_positive"  # a closed alert keeps its reason
    page = client.get(f"/exclusions/{exclusion.pk}/").content.decode()
    assert f"#{story.alice.pk}" in page and f"#{more_alerts['bob'].pk}" in page


def test_it_closes_only_this_alert_when_asked(story, people, more_alerts):
    save(ui.client_for(people.admin), from_alert(story.alice, close_alert="on", **BROAD))

    assert Alert.objects.get(pk=story.alice.pk).close_reason == "false_positive"
    assert Alert.objects.get(pk=more_alerts["bob"].pk).status == "open"


def test_it_closes_nothing_unless_asked(story, people, more_alerts):
    save(ui.client_for(people.admin), from_alert(story.alice, **BROAD))

    assert Exclusion.objects.count() == 1
    assert not AlertStatusChange.objects.filter(closed_by_exclusion__isnull=False).exists()


def test_it_closes_nothing_until_a_broad_exclusion_is_confirmed(story, people, more_alerts):
    client = ui.client_for(people.admin)

    response = save(client, from_alert(story.alice, close_alert="on", close_matching="on"))

    assert response.status_code == 200
    assert "would hide 27 %" in response.content.decode()
    assert not Exclusion.objects.exists()
    assert Alert.objects.get(pk=story.alice.pk).status == "open"


def test_it_adds_nothing_and_closes_nothing_when_the_exclusion_is_refused(story, people):
    client = ui.client_for(people.admin)

    response = client.post(
        "/exclusions/new/",
        {
            **from_alert(story.alice, as_organization="*", as_number="", close_matching="on"),
            "action": "save",
        },
    )

    assert "matches every network" in response.content.decode()
    assert not Exclusion.objects.exists()
    assert Alert.objects.get(pk=story.alice.pk).status == "open"


def test_it_refuses_the_analyst_closing_through_an_exclusion(story, people):
    response = ui.client_for(people.analyst).post(
        "/exclusions/new/", {**from_alert(story.alice, close_matching="on"), "action": "save"}
    )

    assert response.status_code == 403
    assert Alert.objects.get(pk=story.alice.pk).status == "open"


# ---------------------------------------------------------------- detection honours it


def test_an_exclusion_added_in_the_browser_suppresses_the_next_runs_events(story, people):
    save(ui.client_for(people.admin), form_data(as_organization="evil vps*", reason="pentest"))
    exclusion = Exclusion.objects.get()
    ingest(
        invoke("erin", ui.EVIL_VPS, hours_ago=0.5, event_id="erin-evil"),
        invoke("erin", ui.EVIL_VPS, hours_ago=0.4, event_id="erin-evil-2"),
        invoke("frank", ui.OFFICE, hours_ago=0.5, event_id="frank-office"),
    )

    call_command("detect", stdout=io.StringIO())

    run = DetectionRun.objects.order_by("-id").first()
    assert dict(run.suppressions.values_list("exclusion_id", "events")) == {exclusion.pk: 2}
    alerted = set(Alert.objects.values_list("event__event_id", flat=True))
    assert "frank-office" in alerted
    assert not alerted & {"erin-evil", "erin-evil-2"}
    listing = ui.client_for(people.analyst).get("/exclusions/")
    [row] = listing.context["rows"]
    assert (row.suppressed_7d, row.suppressed_30d) == (2, 2)


@pytest.mark.parametrize("how", ["disabled", "expired"])
def test_a_disabled_or_expired_exclusion_stops_suppressing(story, people, how):
    client = ui.client_for(people.admin)
    save(client, form_data(as_organization="evil vps*", reason="pentest"))
    exclusion = Exclusion.objects.get()
    if how == "disabled":
        client.post(f"/exclusions/{exclusion.pk}/disable/")
    else:
        exclusions.exclusion_update(
            exclusion=exclusion, by=people.admin, expires_at=timezone.now() - timedelta(minutes=1)
        )
    ingest(invoke("erin", ui.EVIL_VPS, hours_ago=0.5, event_id="erin-evil"))

    call_command("detect", stdout=io.StringIO())

    run = DetectionRun.objects.order_by("-id").first()
    assert not run.suppressions.exists()
    assert Alert.objects.filter(event__event_id="erin-evil").exists()
