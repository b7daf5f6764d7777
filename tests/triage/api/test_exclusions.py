"""The allowlist through the API: who may read and change it, the audit rows changes leave
(the same as the browser's), the impact preview and the refusals the browser gives."""

import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from tests.cloudtrail import ACCOUNT, iam_user_identity, invoke_record, run_ingest_files, write_log
from tests.triage import ui
from tests.triage.allowlist import form_data, save
from triage.allowlist import services as exclusions
from triage.models import Alert, Exclusion, ExclusionChange

pytestmark = pytest.mark.django_db

NEXT_YEAR = datetime(timezone.now().year + 1, 1, 1, tzinfo=UTC)


@pytest.fixture
def office(story) -> Exclusion:
    return exclusions.exclusion_create(
        by="cli:sam", reason="headquarters", as_organization="Example Office*"
    )


def ingest_more(count: int) -> None:
    """More of the rule's candidates, all from ACCOUNT: enough to judge an exclusion too broad."""
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


def audit() -> list[tuple]:
    return list(
        ExclusionChange.objects.order_by("id").values_list(
            "exclusion_id", "action", "changed_by", "before", "after"
        )
    )


def reads(office: Exclusion) -> list[tuple[str, str, dict | None]]:
    return [
        ("get", "exclusions", None),
        ("get", f"exclusions/{office.pk}", None),
        ("get", f"exclusions/{office.pk}/impact", None),
        ("post", "exclusions/impact", {"as_number": 64500}),
    ]


def changes(office: Exclusion) -> list[tuple[str, str, dict | None]]:
    created = {"as_number": 64500, "reason": "VPS we rent", "expires_at": NEXT_YEAR.isoformat()}
    return [
        ("post", "exclusions", created),
        ("patch", f"exclusions/{office.pk}", {"reason": "the new office"}),
        ("post", f"exclusions/{office.pk}/disable", None),
        ("post", f"exclusions/{office.pk}/enable", None),
    ]


def call(client, method: str, path: str, body: dict | None):
    return client.get(path) if method == "get" else getattr(client, method)(path, body)


# ---------------------------------------------------------------- who may do what


@pytest.mark.parametrize("persona", ["analyst", "admin", "superuser"])
def test_it_lets_every_role_read(api, office, persona):
    for method, path, body in reads(office):
        response = call(api(persona), method, path, body)
        assert response.status_code == 200, (path, response.content)


@pytest.mark.parametrize(("persona", "status"), [(None, 401), ("outsider", 403)])
def test_it_refuses_anonymous_requests_and_users_without_a_role(api, office, persona, status):
    for method, path, body in reads(office) + changes(office):
        response = call(api(persona), method, path, body)
        assert response.status_code == status, path
        assert response["Content-Type"] == "application/problem+json"
    assert len(audit()) == 1


def test_it_refuses_an_analyst_every_change(api, office):
    for method, path, body in changes(office):
        response = call(api("analyst"), method, path, body)
        assert response.status_code == 403, path
    assert len(audit()) == 1
    assert Exclusion.objects.get().reason == "headquarters"


def test_a_missing_exclusion_is_404(api, story):
    assert api("analyst").get("exclusions/999999").status_code == 404
    assert api("analyst").get("exclusions/999999/impact").status_code == 404
    assert api("admin").post("exclusions/999999/disable").status_code == 404
    assert api("admin").patch("exclusions/999999", {"reason": "x"}).status_code == 404


# ---------------------------------------------------------------- reading


def test_it_lists_exclusions_with_their_state_as_the_allowlist_page_does(api, office):
    expired = exclusions.exclusion_create(
        by="cli:sam", reason="old VPS", as_number=64500, expires_at=timezone.now() + timedelta(1)
    )
    Exclusion.objects.filter(pk=expired.pk).update(expires_at=timezone.now() - timedelta(1))
    disabled = exclusions.exclusion_create(by="cli:sam", reason="gone", user_name="alice")
    exclusions.exclusion_disable(exclusion=disabled, by="cli:sam")

    response = api("analyst").get("exclusions")

    rows = response.json()["exclusions"]
    assert [(row["id"], row["state"]) for row in rows] == [
        (office.pk, "active"),
        (expired.pk, "expired"),
        (disabled.pk, "disabled"),
    ]
    assert rows[0] | {"created_at": None} == {
        "id": office.pk,
        "as_number": None,
        "as_organization": "Example Office*",
        "account_id": "",
        "user_name": "",
        "reason": "headquarters",
        "created_by": "cli:sam",
        "created_at": None,
        "expires_at": None,
        "enabled": True,
        "state": "active",
        "suppressed_7d": 0,
        "suppressed_30d": 0,
    }


def test_one_exclusion_comes_with_its_history(api, office, people):
    exclusions.exclusion_update(exclusion=office, by=people.admin, reason="head office")

    body = api("analyst").get(f"exclusions/{office.pk}").json()

    assert body["reason"] == "head office" and body["state"] == "active"
    assert body["closed_alerts"] == []
    changed, created = body["history"]
    assert (changed["action"], changed["changed_by"]) == ("changed", "adam")
    assert changed["differences"] == [
        {"field": "reason", "before": "headquarters", "after": "head office"}
    ]
    assert (created["action"], created["changed_by"]) == ("created", "cli:sam")
    assert {"field": "as_organization", "before": None, "after": "Example Office*"} in created[
        "differences"
    ]


def test_the_impact_preview_has_the_services_numbers(api, office, story):
    proposed = {"as_organization": "evil vps*", "account_id": f"  {ACCOUNT} "}
    expected = exclusions.exclusion_impact(
        exclusion=Exclusion(as_organization="evil vps*", account_id=ACCOUNT)
    )

    preview = api("analyst").post("exclusions/impact", proposed).json()
    saved = api("analyst").get(f"exclusions/{office.pk}/impact").json()

    assert expected.events > 0 and expected.open_alerts == 1
    assert preview == {
        "days": exclusions.IMPACT_DAYS,
        "events": expected.events,
        "candidates": expected.candidates,
        "share_percent": round(100 * expected.events / expected.candidates, 1),
        "needs_confirmation": False,  # 8 candidates: too few to ask
        "open_alerts": expected.open_alerts,
        "closed_alerts": expected.closed_alerts,
        "example_events": [event.pk for event in expected.example_events],
        "example_alerts": [story.alice.pk],
        "refusal": "",
    }
    office_impact = exclusions.exclusion_impact(exclusion=office)
    assert (saved["events"], saved["candidates"]) == (
        office_impact.events,
        office_impact.candidates,
    )
    assert saved["events"] == 6 and not Exclusion.objects.exclude(pk=office.pk).exists()


def test_the_preview_says_what_saving_would_refuse(api, story):
    ingest_more(12)

    broad = api("analyst").post("exclusions/impact", {"account_id": ACCOUNT})
    wildcard = api("analyst").post("exclusions/impact", {"as_organization": " ** "})
    nothing = api("analyst").post("exclusions/impact", {"user_name": "  "})
    too_long = api("analyst").post("exclusions/impact", {"account_id": "1" * 33})

    assert broad.status_code == 200 and "would switch the rule off" in broad.json()["refusal"]
    assert "matches every network" in wildcard.json()["refusal"]
    assert nothing.status_code == 422
    assert nothing.json()["errors"] == [
        {"field": "", "message": "An exclusion needs at least one condition."}
    ]
    assert too_long.status_code == 422
    assert [error["field"] for error in too_long.json()["errors"]] == ["account_id"]


def test_hostile_text_round_trips_as_data(api, people, story):
    created = api("admin").post(
        "exclusions",
        {"as_organization": ui.HOSTILE_ORG, "reason": ui.HOSTILE_UA, "expires_at": None},
    )

    assert created.status_code == 201, created.content
    body = api("analyst").get(f"exclusions/{created.json()['id']}").json()
    assert (body["as_organization"], body["reason"]) == (ui.HOSTILE_ORG, ui.HOSTILE_UA)
    impact = api("analyst").get(f"exclusions/{body['id']}/impact").json()
    assert impact["example_alerts"] == [story.role.pk]


# ---------------------------------------------------------------- changing


@pytest.mark.parametrize("persona", ["admin", "superuser"])
def test_an_allowlist_admin_adds_an_exclusion_audited_under_the_tokens_user(
    api, people, story, persona
):
    response = api(persona).post(
        "exclusions",
        {
            "as_number": 64500,
            "account_id": f" {ACCOUNT} ",
            "reason": " the VPS we rent ",
            "expires_at": "2031-05-01T12:00:00+02:00",
        },
    )

    assert response.status_code == 201, response.content
    exclusion = Exclusion.objects.get()
    user = getattr(people, persona)
    assert response.json() | {"created_at": None} == {
        "id": exclusion.pk,
        "as_number": 64500,
        "as_organization": "",
        "account_id": ACCOUNT,
        "user_name": "",
        "reason": "the VPS we rent",
        "created_by": user.username,
        "created_at": None,
        "expires_at": "2031-05-01T10:00:00Z",
        "enabled": True,
        "state": "active",
    }
    [(exclusion_id, action, by, before, after)] = audit()
    assert (exclusion_id, action, by, before) == (exclusion.pk, "created", user.username, None)
    assert after == exclusions.snapshot(exclusion)


def test_the_api_and_the_browser_leave_the_same_audit_rows(api, people, story):
    fields = {"as_number": 64500, "reason": "office egress"}
    expires = timezone.now().replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(90)
    api("admin").post("exclusions", {**fields, "expires_at": expires.isoformat()})
    browser = ui.client_for(people.admin)
    assert save(browser, form_data(as_number="64500")).status_code == 302

    by_api, by_browser = Exclusion.objects.order_by("id")
    api("admin").post(f"exclusions/{by_api.pk}/disable")
    browser.post(f"/exclusions/{by_browser.pk}/disable/")

    rows = audit()
    assert [row[1:] for row in rows[0::2]] == [row[1:] for row in rows[1::2]]
    assert [row[1] for row in rows] == ["created", "created", "disabled", "disabled"]


def test_it_changes_an_exclusion_with_a_before_and_after(api, people, office):
    response = api("admin").patch(
        f"exclusions/{office.pk}",
        {"as_number": 64501, "reason": "head office", "expires_at": NEXT_YEAR.isoformat()},
    )

    assert response.status_code == 200, response.content
    assert (response.json()["as_number"], response.json()["reason"]) == (64501, "head office")
    _, action, by, before, after = audit()[-1]
    assert (action, by) == ("changed", "adam")
    assert (before["as_number"], after["as_number"]) == (None, 64501)
    assert after["as_organization"] == "Example Office*"  # left out: kept
    assert after["expires_at"] == NEXT_YEAR.isoformat()
    cleared = api("admin").patch(f"exclusions/{office.pk}", {"expires_at": None})
    assert cleared.json()["expires_at"] is None
    assert api("admin").patch(f"exclusions/{office.pk}", {}).status_code == 200
    assert len(audit()) == 3


def test_it_disables_and_enables_an_exclusion(api, people, office):
    client = api("superuser")

    disabled = client.post(f"exclusions/{office.pk}/disable")
    again = client.post(f"exclusions/{office.pk}/disable")
    enabled = client.post(f"exclusions/{office.pk}/enable")

    assert (disabled.status_code, disabled.json()["state"]) == (200, "disabled")
    assert (again.status_code, again.json()["enabled"]) == (200, False)
    assert (enabled.status_code, enabled.json()["state"]) == (200, "active")
    assert [(row[1], row[2]) for row in audit()] == [
        ("created", "cli:sam"),
        ("disabled", "root"),
        ("enabled", "root"),
    ]


def test_it_refuses_what_the_browser_refuses(api, people, story):
    ingest_more(12)
    client = api("admin")
    refusals = {
        "broad": {"account_id": ACCOUNT, "reason": "all of it", "expires_at": None},
        "wildcard": {"as_organization": "*", "reason": "all of it", "expires_at": None},
        "nothing": {"reason": "nothing", "expires_at": None},
        "no reason": {"as_number": 64500, "reason": "  ", "expires_at": None},
    }

    answers = {name: client.post("exclusions", body) for name, body in refusals.items()}

    assert {name: answer.status_code for name, answer in answers.items()} == dict.fromkeys(
        refusals, 422
    )
    broad = answers["broad"].json()
    assert broad["status"] == 422
    [error] = broad["errors"]
    assert "all 20 events the rule saw" in error["message"] and error["message"] == broad["detail"]
    assert "matches every network" in answers["wildcard"].json()["detail"]
    assert answers["no reason"].json()["detail"] == "An exclusion needs a reason."
    assert not Exclusion.objects.exists() and not audit()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"as_number": -1, "reason": "r", "expires_at": None}, "as_number"),
        ({"as_number": 2**32, "reason": "r", "expires_at": None}, "as_number"),
        ({"as_number": 64500, "reason": "r"}, "expires_at"),
        ({"as_number": 64500, "reason": "r", "expires_at": 0.5}, "expires_at"),
        ({"as_number": 64500, "reason": "r", "expires_at": "0.5"}, "expires_at"),
        ({"as_number": "64500", "reason": "r", "expires_at": None}, "as_number"),
        ({"as_number": 64500, "reason": "r\x00", "expires_at": None}, "reason"),
        ({"user_name": "u" * 257, "reason": "r", "expires_at": None}, "user_name"),
    ],
)
def test_bad_fields_are_422_naming_the_field(api, story, body, field):
    response = api("admin").post("exclusions", body)

    assert response.status_code == 422
    assert field in [error["field"] for error in response.json()["errors"]]
    assert not Exclusion.objects.exists()


def test_it_refuses_to_widen_or_enable_an_exclusion_into_matching_everything(api, people, story):
    ingest_more(12)
    narrow = exclusions.exclusion_create(
        by="cli:sam", reason="alice", account_id=ACCOUNT, user_name="alice", confirm_broad=True
    )
    client = api("admin")

    widened = client.patch(f"exclusions/{narrow.pk}", {"user_name": ""})
    client.post(f"exclusions/{narrow.pk}/disable")
    Exclusion.objects.filter(pk=narrow.pk).update(user_name="")  # narrowed before, by hand
    enabled = client.post(f"exclusions/{narrow.pk}/enable")

    assert widened.status_code == 422 and "would switch the rule off" in widened.json()["detail"]
    assert enabled.status_code == 422 and "would switch the rule off" in enabled.json()["detail"]
    assert Exclusion.objects.get().enabled is False
    assert [row[1] for row in audit()] == ["created", "disabled"]
    assert Alert.objects.filter(status=Alert.Status.CLOSED).count() == 0


def test_a_broad_exclusion_is_added_only_with_confirm_broad(api, people, story):
    ingest_more(12)  # 20 candidates, alice's 7 of them
    client = api("admin")
    alice = {"account_id": ACCOUNT, "user_name": "alice"}
    body = {**alice, "reason": "alice travels", "expires_at": NEXT_YEAR.isoformat()}

    impact = client.post("exclusions/impact", alice).json()
    refused = client.post("exclusions", body)
    added = client.post("exclusions", {**body, "confirm_broad": True})

    assert (impact["share_percent"], impact["needs_confirmation"]) == (35.0, True)
    assert refused.status_code == 422
    [error] = refused.json()["errors"]
    assert error["field"] == "confirm_broad"
    assert "would hide 35 % of the rule's candidate events of the last 30 days" in error["message"]
    assert error["message"].endswith("Send confirm_broad: true to save it anyway.")
    assert added.status_code == 201
    [(exclusion_id, action, by, _, after)] = audit()
    assert (exclusion_id, action, by) == (added.json()["id"], "created", "adam")
    assert after["confirmed_broad"]["share_percent"] == 35.0
    [created] = client.get(f"exclusions/{exclusion_id}").json()["history"]
    assert created["confirmed_broad"] == {
        "share_percent": 35.0,
        "events": 7,
        "candidates": 20,
        "days": 30,
        "threshold_percent": 20,
    }


def test_widening_an_exclusion_into_a_broad_one_needs_confirm_broad(api, people, story):
    ingest_more(12)
    hostile = exclusions.exclusion_create(by="cli:sam", reason="one network", as_number=64666)
    client = api("admin")
    alice = {"as_number": None, "account_id": ACCOUNT, "user_name": "alice"}

    refused = client.patch(f"exclusions/{hostile.pk}", alice)
    changed = client.patch(f"exclusions/{hostile.pk}", {**alice, "confirm_broad": True})

    assert refused.status_code == 422
    assert refused.json()["errors"][0]["field"] == "confirm_broad"
    assert changed.status_code == 200 and changed.json()["user_name"] == "alice"
    [created, change] = audit()
    assert "confirmed_broad" not in created[4]
    assert change[1] == "changed" and change[4]["confirmed_broad"]["events"] == 7
