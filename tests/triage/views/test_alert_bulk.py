"""/alerts/bulk/: a refusal keeps the selection and the filters, closing many asks
first, and the outcome says what happened to every selected alert.

Each case is tested as a plain form POST (JavaScript off) and, where the page
differs, as htmx sends it (the list's fragment, swapped in place).
"""

import re

import pytest

from tests.triage import ui
from triage.models import Alert, AlertStatusChange

pytestmark = pytest.mark.django_db

HTMX = {"HX-Request": "true", "HX-Target": "alert-results"}
LIST = "/alerts/?principal=alice&sort=time"


def checked(response) -> set[int]:
    """The ids of the alerts whose box is ticked."""
    boxes = re.findall(
        r'<input type="checkbox" name="alerts" value="(\d+)"([^>]*)>', text(response)
    )
    return {int(pk) for pk, rest in boxes if re.search(r"\bchecked\b", rest)}


def text(response) -> str:
    return response.content.decode()


def statuses(*alerts: Alert) -> list[str]:
    return [Alert.objects.get(pk=alert.pk).status for alert in alerts]


@pytest.mark.parametrize("headers", [{}, HTMX], ids=["form", "htmx"])
def test_it_keeps_the_selection_and_the_filters_when_closing_needs_a_reason(story, client, headers):
    response = client.post(
        "/alerts/bulk/",
        {"alerts": [story.alice.pk], "action": "close", "comment": "pen test", "next": LIST},
        headers=headers,
    )

    assert response.status_code == 200
    page = text(response)
    assert "Closing needs a reason." in page
    assert checked(response) == {story.alice.pk}
    assert 'value="pen test"' in page  # the comment typed is still there
    assert 'id="id_principal" value="alice"' in page  # the list is still filtered
    assert f'name="next" value="{LIST.replace("&", "&amp;")}"' in page
    assert ("<html" in page) is not bool(headers)  # htmx gets the fragment only
    assert not AlertStatusChange.objects.exists()


def test_the_list_shown_after_a_refusal_links_to_the_list_not_to_the_bulk_action(story, client):
    # A plain POST leaves the browser at /alerts/bulk/: a "?status=…" link would land there.
    response = client.post("/alerts/bulk/", {"alerts": [story.alice.pk], "action": "close"})

    links = re.findall(r'<a href="([^"]*status=[^"]*)"', text(response))
    assert links and all(link.startswith("/alerts/?") for link in links), links


def test_it_refuses_a_bad_alert_id_and_keeps_the_good_ones_ticked(story, client):
    response = client.post(
        "/alerts/bulk/", {"alerts": [story.alice.pk, "x"], "action": "acknowledge", "next": LIST}
    )

    assert "Bad alert id." in text(response)
    assert checked(response) == {story.alice.pk}
    assert statuses(story.alice) == ["open"]


@pytest.mark.parametrize("headers", [{}, HTMX], ids=["form", "htmx"])
def test_it_asks_before_closing_more_than_one_alert(story, client, headers):
    chosen = {"alerts": [story.alice.pk, story.role.pk], "action": "close"}
    response = client.post(
        "/alerts/bulk/", {**chosen, "reason": "false_positive", "next": "/alerts/"}, headers=headers
    )

    assert response.status_code == 200
    assert "Close 2 alerts as false positive?" in text(response)
    assert checked(response) == {story.alice.pk, story.role.pk}
    assert statuses(story.alice, story.role) == ["open", "open"]

    token = re.search(r'name="confirm" value="([^"]+)"', text(response)).group(1)
    response = client.post(
        "/alerts/bulk/",
        {**chosen, "reason": "false_positive", "confirm": token, "next": "/alerts/"},
        headers=headers,
        follow=True,
    )

    assert statuses(story.alice, story.role) == ["closed", "closed"]
    assert "2 closed as false positive." in text(response)


def test_it_asks_again_when_the_selection_or_the_reason_changed_since(story, client):
    first = client.post(
        "/alerts/bulk/",
        {"alerts": [story.alice.pk, story.role.pk], "action": "close", "reason": "duplicate"},
    )
    token = re.search(r'name="confirm" value="([^"]+)"', text(first)).group(1)

    response = client.post(
        "/alerts/bulk/",
        {
            "alerts": [story.alice.pk, story.role.pk],
            "action": "close",
            "reason": "false_positive",
            "confirm": token,
        },
    )

    assert "Close 2 alerts as false positive?" in text(response)
    assert statuses(story.alice, story.role) == ["open", "open"]


def test_it_asks_again_when_as_many_other_alerts_are_ticked(story, client):
    (other,) = ui.stored_alerts(1)
    first = client.post(
        "/alerts/bulk/",
        {"alerts": [story.alice.pk, story.role.pk], "action": "close", "reason": "duplicate"},
    )
    token = re.search(r'name="confirm" value="([^"]+)"', text(first)).group(1)

    response = client.post(
        "/alerts/bulk/",
        {"alerts": [story.alice.pk, other.pk], "action": "close", "reason": "duplicate",
         "confirm": token},
    )  # fmt: skip

    assert "Close 2 alerts as duplicate?" in text(response)
    assert not AlertStatusChange.objects.exists()


def test_it_closes_one_alert_without_asking(story, client):
    response = client.post(
        "/alerts/bulk/",
        {"alerts": [story.alice.pk], "action": "close", "reason": "duplicate"},
        follow=True,
    )

    assert statuses(story.alice) == ["closed"]
    assert "1 closed as duplicate." in text(response)


@pytest.mark.parametrize(
    ("alice_status", "message"),
    [
        ("closed", "1 acknowledged; 1 skipped: closed alerts cannot be acknowledged."),
        ("acknowledged", "1 acknowledged; 1 skipped: already acknowledged."),
    ],
)
def test_it_says_why_it_skipped_an_alert(story, client, alice_status, message):
    Alert.objects.filter(pk=story.alice.pk).update(status=alice_status)

    response = client.post(
        "/alerts/bulk/",
        {"alerts": [story.alice.pk, story.role.pk], "action": "acknowledge"},
        follow=True,
    )

    assert message in text(response)
    assert "already in that state" not in text(response)
    assert statuses(story.alice, story.role) == [alice_status, "acknowledged"]


def test_it_says_which_alerts_already_had_that_assignee(story, people, client):
    Alert.objects.filter(pk=story.alice.pk).update(assignee=people.admin)

    response = client.post(
        "/alerts/bulk/",
        {
            "alerts": [story.alice.pk, story.role.pk],
            "action": "assign",
            "assignee": people.admin.pk,
        },
        follow=True,
    )

    who = people.admin.username
    assert f"1 assigned to {who}; 1 skipped: already assigned to {who}." in text(response)


def test_it_counts_alerts_that_no_longer_exist(story, client):
    response = client.post(
        "/alerts/bulk/",
        {"alerts": [story.alice.pk, 999_999_999], "action": "acknowledge"},
        follow=True,
    )

    assert "1 acknowledged; 1 skipped: not found." in text(response)


def test_it_answers_htmx_with_the_refreshed_list_and_the_outcome(story, client):
    response = client.post(
        "/alerts/bulk/",
        {"alerts": [story.alice.pk], "action": "acknowledge", "next": "/alerts/"},
        headers=HTMX,
    )

    assert response.status_code == 200
    page = text(response)
    assert "<html" not in page
    assert "1 acknowledged." in page
    # The open tab no longer lists the acknowledged alert; the boxes start empty again.
    assert f'value="{story.alice.pk}"' not in page
    assert checked(response) == set()


def test_the_outcome_of_a_plain_post_is_shown_once_after_the_redirect(story, client):
    response = client.post(
        "/alerts/bulk/", {"alerts": [story.role.pk], "action": "acknowledge", "next": LIST}
    )

    assert response.status_code == 302
    assert "1 acknowledged." in text(client.get(response["Location"]))
    assert "1 acknowledged." not in text(client.get(response["Location"]))


def test_the_selected_count_is_there_for_the_script_to_show(story, client):
    page = text(client.get("/alerts/"))

    assert re.search(r'<output class="bulk-count"[^>]*hidden', page)
