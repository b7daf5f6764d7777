"""The allowlist pages: who may look and who may change, the editor and its audit rows,
the impact preview and the refusal of exclusions that would switch the rule off."""

import re
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.core.management import call_command
from django.test import Client
from django.utils import timezone

from tests.cloudtrail import ACCOUNT, iam_user_identity, invoke_record, run_ingest_files, write_log
from tests.triage import ui
from tests.triage.allowlist import form_data, preview, save
from triage.allowlist import services as exclusions
from triage.models import (
    AlertStatusChange,
    DetectionRun,
    Exclusion,
    ExclusionChange,
    RunSuppression,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def office() -> Exclusion:
    return exclusions.exclusion_create(
        by="cli:sam", reason="headquarters", as_organization="Example Office*"
    )


def pages(exclusion: Exclusion) -> dict[str, str]:
    return {
        "list": "/exclusions/",
        "detail": f"/exclusions/{exclusion.pk}/",
    }


def editor_pages(exclusion: Exclusion) -> dict[str, str]:
    return {"new": "/exclusions/new/", "edit": f"/exclusions/{exclusion.pk}/edit/"}


def actions(exclusion: Exclusion) -> dict[str, tuple[str, dict]]:
    return {
        "new": ("/exclusions/new/", {**form_data(as_number="64500"), "action": "save"}),
        "edit": (f"/exclusions/{exclusion.pk}/edit/", form_data(as_number="64500")),
        "disable": (f"/exclusions/{exclusion.pk}/disable/", {}),
        "enable": (f"/exclusions/{exclusion.pk}/enable/", {}),
    }


def audit() -> list[tuple]:
    return list(
        ExclusionChange.objects.order_by("id").values_list(
            "exclusion_id", "action", "changed_by", "before", "after"
        )
    )


# ---------------------------------------------------------------- who may do what


@pytest.mark.parametrize("page", ["list", "detail"])
@pytest.mark.parametrize("persona", ["analyst", "admin", "superuser"])
def test_it_shows_the_allowlist_to_every_role(story, people, office, persona, page):
    response = ui.client_for(getattr(people, persona)).get(pages(office)[page])

    assert response.status_code == 200
    assert "Example Office*" in response.content.decode()


@pytest.mark.parametrize("page", ["list", "detail", "new", "edit"])
def test_it_refuses_a_user_without_a_role_and_sends_anonymous_users_to_sign_in(
    story, people, office, page
):
    url = {**pages(office), **editor_pages(office)}[page]

    assert ui.client_for(people.outsider).get(url).status_code == 403
    anonymous = Client().get(url)
    assert anonymous.status_code == 302
    assert anonymous["Location"].startswith("/login/?next=")


def test_it_offers_changes_to_admins_only(story, people, office):
    as_analyst = ui.client_for(people.analyst).get(f"/exclusions/{office.pk}/").content.decode()
    as_admin = ui.client_for(people.admin).get(f"/exclusions/{office.pk}/").content.decode()

    assert "/edit/" not in as_analyst and "/disable/" not in as_analyst
    assert f"/exclusions/{office.pk}/edit/" in as_admin and "/disable/" in as_admin
    listing = ui.client_for(people.analyst).get("/exclusions/").content.decode()
    assert "/exclusions/new/" not in listing


@pytest.mark.parametrize("page", ["new", "edit"])
def test_it_refuses_the_editor_to_analysts(story, people, office, page):
    response = ui.client_for(people.analyst).get(editor_pages(office)[page])

    assert response.status_code == 403


@pytest.mark.parametrize("persona", ["analyst", "outsider", None])
@pytest.mark.parametrize("action", ["new", "edit", "disable", "enable"])
def test_it_refuses_changes_to_anyone_but_admins(story, people, office, persona, action):
    url, data = actions(office)[action]
    before = audit()

    response = ui.client_for(getattr(people, persona) if persona else None).post(url, data)

    assert response.status_code == (302 if persona is None else 403)
    assert audit() == before
    assert Exclusion.objects.count() == 1


@pytest.mark.parametrize("action", ["disable", "enable"])
def test_it_answers_405_to_a_get_on_an_action(story, people, office, action):
    url, _ = actions(office)[action]

    response = ui.client_for(people.admin).get(url)

    assert response.status_code == 405
    assert Exclusion.objects.get().enabled


def test_it_changes_nothing_on_a_get_of_the_editor(story, people, office):
    before = audit()
    ui.client_for(people.admin).get("/exclusions/new/?org=Evil+VPS+Ltd&asn=64500")
    ui.client_for(people.admin).get(f"/exclusions/{office.pk}/edit/")

    assert audit() == before


def test_it_refuses_a_post_without_the_csrf_token(story, people, office):
    client = Client(enforce_csrf_checks=True)
    client.force_login(people.admin)

    response = client.post(f"/exclusions/{office.pk}/disable/")

    assert response.status_code == 403
    assert Exclusion.objects.get().enabled


def test_the_services_refuse_a_user_without_the_admin_role(story, people, office):
    with pytest.raises(PermissionDenied):
        exclusions.exclusion_create(by=people.analyst, reason="x", as_number=64500)
    with pytest.raises(PermissionDenied):
        exclusions.exclusion_disable(exclusion=office, by=people.analyst)
    with pytest.raises(PermissionDenied):
        exclusions.exclusion_update(exclusion=office, by=people.outsider, reason="mine now")
    assert len(audit()) == 1


# ---------------------------------------------------------------- the editor


@pytest.mark.parametrize("persona", ["admin", "superuser"])
def test_it_adds_an_exclusion_after_a_preview(story, people, persona):
    client = ui.client_for(getattr(people, persona))
    data = form_data(as_number="64500", as_organization=" Evil VPS* ", reason="pentest")

    shown = preview(client, data)
    assert not Exclusion.objects.exists()  # a preview saves nothing
    assert "Save exclusion" in shown.content.decode()
    response = save(client, data)

    exclusion = Exclusion.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"/exclusions/{exclusion.pk}/"
    user = getattr(people, persona)
    assert (exclusion.as_number, exclusion.as_organization, exclusion.reason) == (
        64500,
        "Evil VPS*",
        "pentest",
    )
    assert exclusion.created_by == user.username
    assert exclusion.expires_at == datetime.combine(
        (timezone.now() + timedelta(days=90)).date(), datetime.min.time(), UTC
    )
    [(_, action, by, before, after)] = audit()
    assert (action, by, before, after["as_organization"]) == (
        "created",
        user.username,
        None,
        "Evil VPS*",
    )


def test_it_saves_only_the_conditions_it_previewed(story, people):
    client = ui.client_for(people.admin)
    shown = preview(client, form_data(as_number="64500"))
    assert shown.status_code == 200

    # Conditions changed after the preview: the save shows a new preview instead.
    response = client.post(
        "/exclusions/new/",
        {**form_data(as_number="64501"), "previewed": "64500|||", "action": "save"},
    )

    assert response.status_code == 200
    assert not Exclusion.objects.exists()
    assert "Impact preview" in response.content.decode()


def test_the_browser_and_the_cli_write_the_same_audit_rows(story, people):
    save(
        ui.client_for(people.admin),
        form_data(as_organization="Evil VPS*", reason="pentest", expires_on="", never_expires="on"),
    )
    call_command(
        "exclusions", "--by", "adam", "add", "--as-org", "Evil VPS*", "--reason", "pentest"
    )

    [(_, *browser), (_, *cli)] = audit()
    assert browser == cli


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"as_number": ""}, "Set at least one condition."),
        ({"expires_on": ""}, "tick “Never expires”"),
        ({"never_expires": "on"}, "not both"),
        ({"as_organization": "**"}, "matches every network"),
        ({"as_organization": " * "}, "matches every network"),
    ],
)
def test_it_explains_what_it_refuses(story, people, fields, message):
    client = ui.client_for(people.admin)
    data = (
        form_data(as_number="64500", **fields) if "as_number" not in fields else form_data(**fields)
    )

    for action in ("preview", "save"):
        response = client.post("/exclusions/new/", {**data, "action": action})
        assert response.status_code == 200
        assert message in response.content.decode()
        assert "Save exclusion" not in response.content.decode()
    assert not Exclusion.objects.exists()


def test_it_keeps_an_exclusion_without_expiry_only_when_asked(story, people):
    save(
        ui.client_for(people.admin), form_data(as_number="64500", expires_on="", never_expires="on")
    )

    assert Exclusion.objects.get().expires_at is None


def test_it_edits_disables_and_enables_with_a_history(story, people, office):
    client = ui.client_for(people.admin)

    edited = save(
        client,
        form_data(as_organization="Example Office*", as_number="64501", reason="HQ, AS64501 only"),
        url=f"/exclusions/{office.pk}/edit/",
    )
    assert edited.status_code == 302
    assert client.post(f"/exclusions/{office.pk}/disable/").status_code == 302
    assert not Exclusion.objects.get().enabled
    assert client.post(f"/exclusions/{office.pk}/enable/").status_code == 302
    assert Exclusion.objects.get().enabled

    assert [(action, by) for _, action, by, *_ in audit()] == [
        ("created", "cli:sam"),
        ("changed", "adam"),
        ("disabled", "adam"),
        ("enabled", "adam"),
    ]
    changed = ExclusionChange.objects.get(action="changed")
    assert (changed.before["as_number"], changed.after["as_number"]) == (None, 64501)
    assert (changed.before["reason"], changed.after["reason"]) == (
        "headquarters",
        "HQ, AS64501 only",
    )
    page = client.get(f"/exclusions/{office.pk}/").content.decode()
    for text in ("Created", "Changed", "Disabled", "Enabled", "HQ, AS64501 only", "headquarters"):
        assert text in page


def test_it_keeps_the_exact_expiry_of_an_unchanged_date(story, people):
    moment = timezone.now() + timedelta(days=20, hours=5, minutes=7)
    exclusion = exclusions.exclusion_create(
        by="cli:sam", reason="hq", as_number=64501, expires_at=moment
    )

    save(
        ui.client_for(people.admin),
        form_data(as_number="64501", reason="hq office", expires_on=moment.date().isoformat()),
        url=f"/exclusions/{exclusion.pk}/edit/",
    )

    exclusion.refresh_from_db()
    assert (exclusion.reason, exclusion.expires_at) == ("hq office", moment)


def test_it_lists_states_and_suppressed_events_in_one_query(
    story, people, office, django_assert_max_num_queries
):
    now = timezone.now()
    expired = exclusions.exclusion_create(
        by="cli:sam", reason="old vpn", as_number=64999, expires_at=now - timedelta(days=1)
    )
    disabled = exclusions.exclusion_create(by="cli:sam", reason="retired", as_number=64998)
    exclusions.exclusion_disable(exclusion=disabled, by="cli:sam")
    for days_ago, events in ((1, 5), (6, 2), (8, 7), (29, 1), (31, 100)):
        run = DetectionRun.objects.create(started_at=now - timedelta(days=days_ago))
        RunSuppression.objects.create(run=run, exclusion=office, events=events)
    run = DetectionRun.objects.create(started_at=now - timedelta(days=2))
    RunSuppression.objects.create(run=run, exclusion=expired, events=3)
    client = ui.client_for(people.analyst)
    client.get("/exclusions/")  # sessions and roles warmed up

    # One of them counts the pending exclusion requests, for the Requests tab.
    with django_assert_max_num_queries(7):
        response = client.get("/exclusions/")

    rows = {row.exclusion.pk: row for row in response.context["rows"]}
    assert (
        rows[office.pk].state,
        rows[office.pk].suppressed_7d,
        rows[office.pk].suppressed_30d,
    ) == (
        "active",
        7,
        15,
    )
    assert (rows[expired.pk].state, rows[expired.pk].suppressed_7d) == ("expired", 3)
    assert (rows[disabled.pk].state, rows[disabled.pk].suppressed_30d) == ("disabled", 0)
    assert [row.state for row in response.context["rows"]] == ["active", "expired", "disabled"]


def test_it_shows_hostile_names_and_reasons_as_text(story, people):
    exclusion = exclusions.exclusion_create(
        by="cli:<b>sam</b>", reason=ui.HOSTILE_UA, as_organization=ui.HOSTILE_ORG
    )
    client = ui.client_for(people.admin)

    for url in (
        "/exclusions/",
        f"/exclusions/{exclusion.pk}/",
        f"/exclusions/{exclusion.pk}/edit/",
    ):
        html = client.get(url).content.decode()
        ui.assert_inert(html, ui.ESCAPED_ORG, ui.ESCAPED_UA)
    shown = preview(client, form_data(as_organization=ui.HOSTILE_ORG)).content.decode()
    ui.assert_inert(shown, ui.ESCAPED_ORG)


# ---------------------------------------------------------------- impact preview


def test_it_previews_the_events_and_alerts_an_exclusion_would_match(story, people):
    ui.client_for(people.analyst).post(
        f"/alerts/{story.alice.pk}/close/", {"reason": "false_positive"}
    )
    client = ui.client_for(people.admin)

    evil = preview(client, form_data(as_organization="evil vps*")).context["impact"]
    principal = preview(client, form_data(account_id=ACCOUNT, user_name="alice")).context["impact"]
    office = preview(client, form_data(as_number="64501")).context["impact"]
    hostile = preview(client, form_data(as_number="64666")).context["impact"]

    # 8 candidates in 30 days: alice's 6 office invocations, her attack, the role's attack
    # (the role's routine calls come from AWS and are no candidates).
    assert (evil.candidates, evil.events, evil.open_alerts, evil.closed_alerts) == (8, 1, 0, 1)
    assert (principal.events, principal.open_alerts, principal.closed_alerts) == (7, 0, 1)
    assert (office.events, office.open_alerts, office.closed_alerts) == (6, 0, 0)
    assert (hostile.events, hostile.open_alerts, hostile.closed_alerts) == (1, 1, 0)
    assert [alert.pk for alert in evil.example_alerts] == [story.alice.pk]
    assert [event.event_id for event in evil.example_events] == ["alice-attack"]


def test_it_refuses_an_exclusion_that_matches_every_candidate(story, people, ingest_more):
    ingest_more(12)
    client = ui.client_for(people.admin)

    shown = preview(client, form_data(account_id=ACCOUNT)).content.decode()
    saved = client.post("/exclusions/new/", {**form_data(account_id=ACCOUNT), "action": "save"})

    assert "all 20 events the rule saw" in shown
    assert "Save exclusion" not in shown
    assert "would switch the rule off" in saved.content.decode()
    assert not Exclusion.objects.exists()
    with pytest.raises(Exception, match="would switch the rule off"):
        call_command("exclusions", "add", "--account", ACCOUNT, "--reason", "everything")
    narrower = save(client, form_data(account_id=ACCOUNT, user_name="alice", confirm_broad="on"))
    assert narrower.status_code == 302


@pytest.fixture
def ingest_more():
    def ingest(count: int) -> None:
        now = timezone.now()
        records = [
            invoke_record(
                when=now - timedelta(hours=3 + n),
                source_ip=ui.OFFICE,
                identity=iam_user_identity(user_name=f"ci-{n}"),
            )
            for n in range(count)
        ]
        with tempfile.TemporaryDirectory() as folder:
            run = run_ingest_files(write_log(Path(folder) / "more.json.gz", records))
            assert run.error is None, run.stderr

    return ingest


def test_the_admin_site_offers_no_way_to_change_audit_rows(rf, people):
    request = rf.get("/admin/")
    request.user = people.superuser

    for model in (ExclusionChange, AlertStatusChange):
        model_admin = admin.site._registry.get(model)
        if model_admin is not None:
            assert not model_admin.has_add_permission(request)
            assert not model_admin.has_change_permission(request)
            assert not model_admin.has_delete_permission(request)


def test_it_explains_a_refusal_found_only_at_save_time(story, people, ingest_more):
    client = ui.client_for(people.admin)
    data = form_data(account_id=ACCOUNT)
    shown = preview(client, data)
    assert "Save exclusion" in shown.content.decode()  # 8 candidates: too few to judge
    ingest_more(12)  # meanwhile, more events arrive, all from this account

    response = client.post(
        "/exclusions/new/", {**data, "previewed": f"||{ACCOUNT}|", "action": "save"}
    )

    assert response.status_code == 200
    assert "would switch the rule off" in response.content.decode()
    assert not Exclusion.objects.exists()


def test_it_previews_without_a_reason_and_saves_only_with_one(story, people):
    client = ui.client_for(people.admin)
    data = form_data(as_organization="Evil VPS*", reason="")

    shown = preview(client, data)
    saved = save(client, data)

    assert shown.context["impact"].events == 1
    assert "Save exclusion" in shown.content.decode()
    assert saved.status_code == 200
    assert "An exclusion needs a reason." in saved.content.decode()
    assert saved.context["impact"].events == 1  # the preview stays beside the refusal
    assert not Exclusion.objects.exists()


# ---------------------------------------------------------------- broad exclusions


CONFIRM_BOX = 'name="confirm_broad"'


def test_it_shows_the_share_an_exclusion_would_hide(story, people):
    client = ui.client_for(people.admin)

    shown = preview(client, form_data(as_organization="Evil VPS*"))

    # 8 candidates: 1 from Evil VPS; too few to ask for a confirmation.
    page = shown.content.decode()
    assert shown.context["impact"].share_text == "12 %"
    assert "Share it would hide" in page and "<strong>12 %</strong>" in page
    assert CONFIRM_BOX not in page


def test_it_saves_a_broad_exclusion_only_when_confirmed_and_records_it(story, people, ingest_more):
    ingest_more(12)  # 20 candidates, alice's 7 of them
    client = ui.client_for(people.admin)
    data = form_data(account_id=ACCOUNT, user_name="alice")

    shown = preview(client, data).content.decode()
    refused = save(client, data)
    confirmed = save(client, {**data, "confirm_broad": "on"})

    assert "<strong>35 %</strong>" in shown and "above 20 %" in shown
    assert CONFIRM_BOX in shown and "Save although it is broad" in shown
    assert refused.status_code == 200
    text = refused.content.decode()
    assert "would hide 35 % of the rule&#x27;s candidate events of the last 30 days" in text
    assert "(7 of 20)" in text and "Tick “Save although it is broad”" in text
    assert confirmed.status_code == 302
    exclusion = Exclusion.objects.get()
    [(_, action, _, _, after)] = audit()
    assert action == "created"
    assert after["confirmed_broad"] == {
        "share_percent": 35.0,
        "events": 7,
        "candidates": 20,
        "days": 30,
        "threshold_percent": 20,
    }
    history = client.get(f"/exclusions/{exclusion.pk}/").content.decode()
    assert "Saved as a broad exclusion, confirmed: it hid 35 %" in history


def test_a_confirmation_is_of_the_conditions_it_was_shown(story, people, ingest_more):
    ingest_more(12)
    client = ui.client_for(people.admin)
    narrow = form_data(account_id=ACCOUNT, user_name="alice", confirm_broad="on")
    preview(client, narrow)

    # Ticked for alice's conditions (35 %), then they change to the office's (90 %) before Save.
    wider = {**narrow, "user_name": "", "as_number": "64501"}
    response = client.post(
        "/exclusions/new/", {**wider, "previewed": f"||{ACCOUNT}|alice", "action": "save"}
    )

    page = response.content.decode()
    assert response.status_code == 200
    assert not Exclusion.objects.exists()
    assert "<strong>90 %</strong>" in page
    assert CONFIRM_BOX in page and 'id="id_confirm_broad" checked' not in page


def test_the_threshold_is_a_setting(story, people, ingest_more, settings):
    settings.EXCLUSION_CONFIRM_SHARE_PERCENT = 40
    ingest_more(12)
    client = ui.client_for(people.admin)

    shown = preview(client, form_data(account_id=ACCOUNT, user_name="alice"))
    saved = save(client, form_data(account_id=ACCOUNT, user_name="alice"))

    assert CONFIRM_BOX not in shown.content.decode()
    assert saved.status_code == 302
    [(_, _, _, _, after)] = audit()
    assert "confirmed_broad" not in after


def test_editing_an_exclusion_into_a_broad_one_needs_a_confirmation(
    story, people, office, ingest_more
):
    ingest_more(12)
    client = ui.client_for(people.admin)
    url = f"/exclusions/{office.pk}/edit/"
    office_wide = form_data(as_number="64501", reason="all of the office")

    refused = save(client, office_wide, url=url)
    confirmed = save(client, {**office_wide, "confirm_broad": "on"}, url=url)
    # The reason alone changes: the conditions were confirmed already.
    reworded = save(client, {**office_wide, "reason": "the whole office"}, url=url)

    assert "would hide 90 %" in refused.content.decode()  # 18 of 20: alice's 6 and the 12 new
    assert confirmed.status_code == 302 and reworded.status_code == 302
    [_, changed, reworded_row] = audit()
    assert changed[1] == "changed" and changed[4]["confirmed_broad"]["events"] == 18
    assert "confirmed_broad" not in reworded_row[4]


# ---------------------------------------------------------------- how the pages read


def test_the_history_shows_labels_times_and_yes_no(story, people, office):
    exclusions.exclusion_update(
        exclusion=office,
        by="cli:sam",
        account_id=ACCOUNT,
        expires_at=datetime(2027, 3, 1, 9, 30, tzinfo=UTC),
    )
    exclusions.exclusion_disable(exclusion=office, by="cli:sam")

    page = ui.client_for(people.analyst).get(f"/exclusions/{office.pk}/").content.decode()

    assert "<td>AS organisation</td>" in page and "<td>Account</td>" in page
    assert "<td>Expires</td>" in page and "2027-03-01 09:30 UTC" in page
    assert '<td>Enabled</td><td class="wrap">yes</td><td class="wrap">no</td>' in page
    history = page[page.index('<ol class="changes">') :]
    shown = re.sub(r'<time datetime="[^"]*"', "<time", history)  # machine-readable, not shown
    for raw in ("as_organization", "account_id", "expires_at", "+00:00", "True", "False"):
        assert raw not in shown, raw


def test_the_allowlist_page_explains_exclusions_in_words(story, people):
    page = ui.client_for(people.analyst).get("/exclusions/").content.decode()

    assert "DESIGN" not in page
    assert "raises no alert" in page


@pytest.mark.parametrize("page", ["new", "edit"])
def test_it_names_the_role_an_analyst_refused_the_editor_lacks(story, people, office, page):
    response = ui.client_for(people.analyst).get(editor_pages(office)[page])

    text = response.content.decode()
    assert response.status_code == 403
    assert "with the <code>analyst</code> role" in text
    assert "it needs the <code>allowlist-admin</code> role" in text
    assert "add you to the <code>allowlist-admin</code> group" in text
    assert "<code>analyst</code> group" not in text
