"""Values no page can use, each once as a user (or an attacker's link) sends it: the
answer is a 400 that names the parameter, in the page layout, and nothing changes."""

from urllib.parse import quote

import pytest

from tests.triage import ui
from tests.triage.allowlist import form_data, preview
from triage.models import Alert, ChecklistStep, Exclusion

pytestmark = pytest.mark.django_db

SUPERSCRIPT_TWO = "²"  # str.isdigit() says yes, int() says no


def assert_bad_request(response, parameter: str, message: str) -> None:
    text = response.content.decode()
    assert response.status_code == 400
    assert '<nav aria-label="Main">' in text  # the page layout, with the navigation
    assert f"<code>{parameter}</code>: {message}" in text


@pytest.fixture
def admin(people):
    return ui.client_for(people.admin)


def test_it_refuses_a_network_named_by_a_superscript_digit(client):
    response = client.get("/networks/?asn=" + quote(SUPERSCRIPT_TWO))

    assert_bad_request(response, "asn", "Enter a whole number.")


def test_it_refuses_an_as_number_beyond_32_bits(client):
    response = client.get(f"/networks/?asn={2**32}")

    assert_bad_request(response, "asn", "Ensure this value is less than or equal to 4294967295.")


def test_it_refuses_a_nul_in_an_organisation(client):
    response = client.get("/networks/?org=Evil%00VPS")

    assert_bad_request(response, "org", "Null characters are not allowed.")


@pytest.mark.parametrize("query", ["account=%00&user=alice", "account=111122223333&user=al%00ice"])
def test_it_refuses_a_nul_in_a_principal(client, query):
    response = client.get(f"/principals/?{query}")

    parameter = "account" if query.startswith("account=%00") else "user"
    assert_bad_request(response, parameter, "Null characters are not allowed.")


def test_it_ignores_a_last_day_it_cannot_count_past_and_says_so(story, client):
    response = client.get("/alerts/?until=9999-12-31&status=")

    text = response.content.decode()
    assert response.status_code == 200
    assert "Some filters were not understood and are ignored: until." in text
    assert f'href="/alerts/{story.alice.pk}/"' in text  # the other filters still apply


def test_it_refuses_an_exclusion_prefilled_from_a_superscript_alert_id(story, admin):
    response = admin.get("/exclusions/new/?alert=" + quote(SUPERSCRIPT_TWO))

    assert_bad_request(response, "alert", "Enter a whole number.")


def test_it_refuses_to_save_an_exclusion_from_a_superscript_alert_id(story, admin):
    data = {**form_data(as_organization="Evil VPS Ltd"), "alert": SUPERSCRIPT_TWO}

    response = admin.post("/exclusions/new/", {**data, "action": "save"})

    assert_bad_request(response, "alert", "Enter a whole number.")
    assert not Exclusion.objects.exists()


def test_it_refuses_an_exclusion_with_an_as_number_beyond_32_bits(story, admin):
    response = preview(admin, form_data(as_number=str(2**63)))

    assert response.status_code == 200  # the editor, with the field's error
    assert "Ensure this value is less than or equal to 4294967295." in response.content.decode()


def test_it_refuses_a_bulk_action_on_a_superscript_alert_id(story, client):
    response = client.post(
        "/alerts/bulk/", {"action": "acknowledge", "alerts": [str(story.alice.pk), "²"]}
    )

    # The list again, with the refusal and the selection kept (test_alert_bulk.py).
    assert response.status_code == 200
    assert "Bad alert id." in response.content.decode()
    assert Alert.objects.filter(status=Alert.Status.ACKNOWLEDGED).count() == 0


@pytest.mark.parametrize("target", ["me", "2026-01-01T00:00:00", "https://attacker.example/"])
def test_it_goes_back_to_the_list_for_a_return_address_that_is_no_path_here(story, client, target):
    response = client.post(
        "/alerts/bulk/", {"action": "acknowledge", "alerts": story.alice.pk, "next": target}
    )

    assert (response.status_code, response["Location"]) == (302, "/alerts/")
    assert Alert.objects.get(pk=story.alice.pk).status == Alert.Status.ACKNOWLEDGED


def test_it_keeps_a_checklist_note_when_the_new_one_cannot_be_stored(story, client):
    step = f"/alerts/{story.alice.pk}/checklist/network/"
    client.post(step, {"done": "on", "note": "office, then the VPS"})

    response = client.post(step, {"note": "erased\x00"}, follow=True)

    assert "Not saved: Null characters are not allowed." in response.content.decode()
    kept = ChecklistStep.objects.get(alert=story.alice, step="network")
    assert (kept.done, kept.note) == (True, "office, then the VPS")


def test_it_says_so_to_htmx_when_a_checklist_note_cannot_be_stored(story, client):
    step = f"/alerts/{story.alice.pk}/checklist/network/"

    response = ui.htmx(client, "post", step, {"done": "on", "note": "x" * 4001})

    text = response.content.decode()
    assert 'role="alert">Not saved: Ensure this value has at most 4000 characters' in text
    assert not ChecklistStep.objects.filter(alert=story.alice).exists()


@pytest.mark.parametrize(
    "before",
    [
        "2026-01-01T00:00:00+00:00_" + SUPERSCRIPT_TWO,
        "2026-01-01T00:00:00_7",  # no time zone: which instant is meant?
        f"2026-01-01T00:00:00+00:00_{2**63}",
        "yesterday_1",
    ],
)
def test_it_refuses_an_events_page_it_cannot_find(story, client, before):
    response = client.get("/events/?before=" + quote(before))

    assert_bad_request(
        response, "before", "Not a page of the events list: start again from its first page."
    )
