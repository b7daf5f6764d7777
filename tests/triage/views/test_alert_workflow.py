"""The alert page's workflow: acknowledge, assign, close, reopen, notes, checklist, history.

Each action is tested as a plain form POST (JavaScript off: a redirect back to
the page) and as htmx sends it (the fragment it swaps).
"""

import re

import pytest

from tests.triage import ui
from triage.models import Alert, AlertAssignment, AlertNote, AlertStatusChange, ChecklistStep

pytestmark = pytest.mark.django_db


def url(alert: Alert, action: str) -> str:
    return f"/alerts/{alert.pk}/{action}/"


def fresh(alert: Alert) -> Alert:
    return Alert.objects.get(pk=alert.pk)


def test_it_acknowledges_an_alert_and_says_so(story, people, client):
    response = client.post(url(story.alice, "acknowledge"), follow=True)

    assert response.redirect_chain == [(f"/alerts/{story.alice.pk}/", 302)]
    assert "Alert acknowledged." in response.content.decode()
    assert fresh(story.alice).status == "acknowledged"
    change = AlertStatusChange.objects.get()
    assert (change.from_status, change.to_status, change.changed_by) == (
        "open",
        "acknowledged",
        people.analyst,
    )


def test_it_answers_htmx_with_the_workflow_panel(story, client):
    response = ui.htmx(client, "post", url(story.alice, "acknowledge"))

    text = response.content.decode()
    assert response.status_code == 200
    assert text.lstrip().startswith('<section class="card workflow" id="alert-workflow"')
    assert "<html" not in text
    assert '<span class="status status-acknowledged">Acknowledged</span>' in text
    assert "Alert acknowledged." in text


def test_it_refuses_to_acknowledge_a_closed_alert(story, client):
    Alert.objects.filter(pk=story.alice.pk).update(status="closed")

    response = client.post(url(story.alice, "acknowledge"), follow=True)
    fragment = ui.htmx(client, "post", url(story.alice, "acknowledge"))

    assert "An alert that is closed cannot become acknowledged." in response.content.decode()
    assert "An alert that is closed cannot become acknowledged." in fragment.content.decode()
    assert fresh(story.alice).status == "closed"
    assert not AlertStatusChange.objects.exists()


def test_it_assigns_to_me(story, people, client):
    client.post(url(story.alice, "assign"), {"assignee": "me"})

    assert fresh(story.alice).assignee == people.analyst


def test_it_assigns_to_another_analyst_and_back_to_nobody(story, people, client):
    client.post(url(story.alice, "assign"), {"assignee": people.admin.pk})
    assigned = fresh(story.alice).assignee
    client.post(url(story.alice, "assign"), {"assignee": ""})

    assert assigned == people.admin
    assert fresh(story.alice).assignee is None
    assert list(
        AlertAssignment.objects.values_list("from_assignee", "to_assignee", "changed_by")
    ) == [(None, people.admin.pk, people.analyst.pk), (people.admin.pk, None, people.analyst.pk)]


def test_it_assigns_only_people_who_can_triage(story, people, client):
    response = client.post(
        url(story.alice, "assign"), {"assignee": people.outsider.pk}, follow=True
    )

    assert "Choose someone who can triage alerts." in response.content.decode()
    assert fresh(story.alice).assignee is None


def test_it_closes_with_a_reason_and_a_comment(story, people, client):
    client.post(url(story.alice, "close"), {"reason": "benign_positive", "comment": "new VPN"})

    alert = fresh(story.alice)
    assert (alert.status, alert.close_reason) == ("closed", "benign_positive")
    change = AlertStatusChange.objects.get()
    assert (change.reason, change.comment) == ("benign_positive", "new VPN")


@pytest.mark.parametrize("reason", ["", "because"])
def test_it_refuses_to_close_without_a_valid_reason(story, client, reason):
    response = client.post(url(story.alice, "close"), {"reason": reason}, follow=True)
    fragment = ui.htmx(client, "post", url(story.alice, "close"), {"reason": reason})

    assert "Choose a reason to close the alert." in response.content.decode()
    assert "Choose a reason to close the alert." in fragment.content.decode()
    assert fresh(story.alice).status == "open"


def test_it_reopens_a_closed_alert(story, client):
    client.post(url(story.alice, "close"), {"reason": "duplicate"})

    client.post(url(story.alice, "reopen"), {"comment": "not a duplicate after all"})

    alert = fresh(story.alice)
    assert (alert.status, alert.close_reason) == ("open", "")
    assert AlertStatusChange.objects.last().comment == "not a duplicate after all"


def buttons(response) -> list[str]:
    """The labels of the workflow panel's buttons."""
    panel = response.content.decode().split('id="alert-workflow"', 1)[1].split("<h3>History", 1)[0]
    return [label.strip() for label in re.findall(r"<button[^>]*>([^<]*)</button>", panel)]


@pytest.mark.parametrize(
    ("status", "offered"),
    [
        ("open", ["Acknowledge", "Assign to me", "Assign", "Close alert", "Add note"]),
        ("acknowledged", ["Assign to me", "Assign", "Close alert", "Back to open", "Add note"]),
        ("closed", ["Assign to me", "Assign", "Reopen", "Add note"]),
    ],
)
def test_it_offers_only_the_changes_the_status_allows(story, client, status, offered):
    Alert.objects.filter(pk=story.alice.pk).update(status=status)

    assert buttons(client.get(f"/alerts/{story.alice.pk}/")) == offered


def test_it_puts_an_acknowledged_alert_back_to_open_and_says_so(story, people, client):
    client.post(url(story.alice, "acknowledge"))

    response = client.post(url(story.alice, "reopen"), headers={"HX-Request": "true"})

    assert fresh(story.alice).status == "open"
    assert "Alert back to open." in response.content.decode()
    assert "Acknowledge" in buttons(response)


def test_it_adds_notes_and_refuses_empty_ones(story, people, client):
    client.post(url(story.alice, "notes"), {"text": "  Called alice: not her  "})
    response = client.post(url(story.alice, "notes"), {"text": "   "}, follow=True)

    note = AlertNote.objects.get()
    assert (note.text, note.author) == ("Called alice: not her", people.analyst)
    assert "A note needs text." in response.content.decode()


def test_it_ticks_and_annotates_a_step(story, people, client):
    response = client.post(
        url(story.alice, "checklist/credential"), {"done": "on", "note": "AKIA of alice"}
    )

    step = ChecklistStep.objects.get()
    assert response["Location"] == f"/alerts/{story.alice.pk}/#step-credential"
    assert (step.step, step.done, step.note, step.updated_by) == (
        "credential",
        True,
        "AKIA of alice",
        people.analyst,
    )


def test_it_unticks_a_step(story, client):
    client.post(url(story.alice, "checklist/network"), {"done": "on"})

    client.post(url(story.alice, "checklist/network"), {"note": "looked again"})

    assert list(ChecklistStep.objects.values_list("done", "note")) == [(False, "looked again")]


def test_it_answers_an_htmx_tick_with_the_step_and_the_progress(story, client):
    response = ui.htmx(client, "post", url(story.alice, "checklist/network"), {"done": "on"})

    text = response.content.decode()
    assert text.lstrip().startswith('<form class="step-check is-done" id="step-check-network"')
    assert 'id="checklist-progress" hx-swap-oob="true">1 of 4 done' in text
    assert "Done by ana" in text


def test_it_knows_only_the_guides_steps(story, client):
    response = client.post(url(story.alice, "checklist/exfiltrate"), {"done": "on"})

    assert response.status_code == 404
    assert not ChecklistStep.objects.exists()


def test_it_shows_the_history_of_every_change(story, people, client):
    client.post(url(story.alice, "assign"), {"assignee": "me"})
    client.post(url(story.alice, "acknowledge"))
    client.post(url(story.alice, "notes"), {"text": "Key owner on holiday"})
    ui.client_for(people.admin).post(
        url(story.alice, "close"), {"reason": "true_positive", "comment": "rotated"}
    )

    text = client.get(f"/alerts/{story.alice.pk}/").content.decode()
    history = text[text.index('<ol class="history"') :]

    assert "Assigned to ana" in history
    assert "Key owner on holiday" in history
    assert "as true positive" in history
    assert "rotated" in history
    assert "adam ·" in history and "ana ·" in history
    # Newest first: the close, then the note, the acknowledgement, the assignment.
    marks = ("rotated", "Key owner", 'status-open">open</span> →', "Assigned to")
    order = [history.index(mark) for mark in marks]
    assert order == sorted(order)


def test_it_shows_hostile_notes_as_text(story, client):
    client.post(url(story.alice, "notes"), {"text": '<script>alert("note")</script>'})

    text = client.get(f"/alerts/{story.alice.pk}/").content.decode()

    assert '<script>alert("note")' not in text
    assert "&lt;script&gt;alert(&quot;note&quot;)&lt;/script&gt;" in text


def test_it_answers_404_for_an_action_on_an_unknown_alert(story, client):
    assert client.post("/alerts/999999/acknowledge/").status_code == 404
