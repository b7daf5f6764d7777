"""E-mail to a user whom someone else assigns an alert, received by an SMTP server on loopback.

Assignments are made as a user makes them, by POSTing the alert page's assign
form; the alert whose every field is hostile (tests/triage/ui.py) shows that
the message escapes what the attacker chose. The e-mail goes through the
notifications outbox, emptied here by notify_due as the worker empties it.
"""

from datetime import timedelta

import pytest
from django.utils import timezone

from tests.helpers import free_port
from tests.peers import Inbox
from tests.triage import ui
from triage.models import Alert
from triage.notify.models import Delivery
from triage.notify.services import notify_due

# The e-mail goes once the assignment commits: the test's requests must really commit.
pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def inbox(smtp_server, settings) -> Inbox:
    settings.SITE_URL = "https://asnwatch.example"
    return smtp_server


@pytest.fixture
def adam(people):
    people.admin.email = "adam@example.com"
    people.admin.save()
    return people.admin


def assign(client, alert: Alert, assignee) -> None:
    response = client.post(f"/alerts/{alert.pk}/assign/", {"assignee": assignee})
    assert response.status_code == 302
    notify_due(now=timezone.now(), worker="test")


def test_the_assignee_gets_text_and_html_naming_the_alert_and_who_assigned_it(
    story, people, client, adam, inbox
):
    assign(client, story.role, adam.pk)

    [message] = inbox.messages
    alert = story.role
    assert message["X-Envelope-To"] == "adam@example.com"
    assert "\n" not in message["Subject"]
    assert message["Subject"].startswith(
        f"asnwatch: ana assigned you the alert for {alert.user_name} from <script>"
    )
    text = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    for line in (
        "Assigned by: ana",
        "Rule: ",
        f"Principal: {alert.user_name}",
        f"Account: {alert.account_id}",
        f"Network: {ui.HOSTILE_ORG}",
        f"Alert: https://asnwatch.example/alerts/{alert.pk}/",
    ):
        assert line in text
    for raw in ("<script>", "<img", "<svg"):
        assert raw not in html
    assert "&lt;script&gt;alert(&quot;org&quot;)&lt;/script&gt; Hosting" in html
    assert "&lt;img src=x onerror=alert(&quot;ua&quot;)&gt;" in html
    assert "&lt;svg onload=alert(&quot;fn&quot;)&gt;" in html
    assert f'<a href="https://asnwatch.example/alerts/{alert.pk}/">' in html


def test_assigning_oneself_sends_nothing(story, people, client, adam, inbox):
    people.analyst.email = "ana@example.com"
    people.analyst.save()

    assign(client, story.alice, "me")
    assign(ui.client_for(adam), story.role, "me")
    assert inbox.messages == []

    # Someone else assigning her does reach her.
    assign(ui.client_for(adam), story.role, people.analyst.pk)
    [message] = inbox.messages
    assert message["X-Envelope-To"] == "ana@example.com"
    assert "Assigned by: adam" in message.get_body(("plain",)).get_content()


def test_a_user_turns_assignment_emails_off_and_on_again(story, people, client, adam, inbox):
    own = ui.client_for(adam)
    alerts_page = own.get("/alerts/").content.decode()
    assert 'href="/account/preferences/">My preferences</a>' in alerts_page
    settings_page = own.get("/account/preferences/").content.decode()
    assert "Assignment e-mails are on." in settings_page
    assert 'href="/account/notifications/"' in settings_page
    page = own.get("/account/notifications/").content.decode()
    assert "adam@example.com" in page
    assert 'name="assignment_emails" id="id_assignment_emails" checked' in page

    off = own.post("/account/notifications/", {}, follow=True).content.decode()
    assert "Assignment e-mails are off." in off
    assert 'id="id_assignment_emails" checked' not in off
    assign(client, story.alice, adam.pk)
    assert inbox.messages == []
    assert Alert.objects.get(pk=story.alice.pk).assignee == adam

    own.post("/account/notifications/", {"assignment_emails": "on"})
    assign(client, story.role, adam.pk)
    [message] = inbox.messages
    assert message["X-Envelope-To"] == "adam@example.com"


def test_a_user_without_an_address_is_assigned_and_sent_nothing(story, people, client, inbox):
    assign(client, story.alice, people.admin.pk)

    assert Alert.objects.get(pk=story.alice.pk).assignee == people.admin
    assert inbox.messages == []
    page = ui.client_for(people.admin).get("/account/notifications/").content.decode()
    assert "Your account has no e-mail address" in page

    people.admin.email = "adam@example.com"
    people.admin.save()
    assign(client, story.role, people.admin.pk)
    assert len(inbox.messages) == 1


def test_the_assignment_stands_when_the_mail_server_is_down_and_is_mailed_once_it_is_back(
    story, people, client, adam, settings, smtp_server
):
    listening = settings.EMAIL_PORT
    settings.EMAIL_PORT = free_port()  # nothing listens there

    assign(client, story.alice, adam.pk)

    assert Alert.objects.get(pk=story.alice.pk).assignee == adam
    [delivery] = Delivery.objects.filter(recipient=adam)
    assert delivery.status == "pending"
    assert "ConnectionRefusedError" in delivery.last_error
    page = client.get(f"/alerts/{story.alice.pk}/").content.decode()
    assert "e-mail to adam" in page

    settings.EMAIL_PORT = listening
    notify_due(now=timezone.now() + timedelta(minutes=2), worker="test")
    [message] = smtp_server.messages
    assert message["X-Envelope-To"] == "adam@example.com"
    assert Delivery.objects.get(pk=delivery.pk).status == "delivered"


def test_an_assignment_rolled_back_mails_nobody(story, people, adam, inbox):
    from django.db import transaction

    from triage.alerts import alert_assign

    with pytest.raises(RuntimeError), transaction.atomic():
        alert_assign(alert=story.alice, assignee=adam, by=people.analyst)
        raise RuntimeError("the request failed after assigning")

    notify_due(now=timezone.now(), worker="test")
    assert inbox.messages == []
    assert not Delivery.objects.filter(recipient=adam).exists()


def test_assigning_from_the_alert_list_in_bulk_mails_one_message_an_alert(
    story, people, client, adam, inbox
):
    response = client.post(
        "/alerts/bulk/",
        {"action": "assign", "alerts": [story.alice.pk, story.role.pk], "assignee": adam.pk},
    )

    assert response.status_code == 302
    notify_due(now=timezone.now(), worker="test")
    links = {
        line
        for message in inbox.messages
        for line in message.get_body(("plain",)).get_content().splitlines()
        if line.startswith("Alert: ")
    }
    assert len(inbox.messages) == 2
    assert links == {
        f"Alert: https://asnwatch.example/alerts/{alert.pk}/" for alert in (story.alice, story.role)
    }
