"""Each channel's message, with attacker-chosen text in every field it shows.

User names, function names, user agents and AS organisation names come from
whoever made the call. E-mail arrives at a real SMTP server on loopback as
text + HTML; Apprise posts through its json:// scheme to the loopback receiver.
"""

import json
import logging

import pytest
from django.utils import timezone

from tests.cloudtrail import principal_invoke
from tests.peers import SECRET
from tests.triage.notify.conftest import HOSTILE_NETWORK, HOSTILE_ORGANISATION, T0
from triage.documents import alert_document
from triage.notify.models import Delivery
from triage.notify.services import deliveries_enqueue_for_alerts, destination_create, notify_due

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("learning_over")]

HOSTILE_USER = "<!channel>@here_*mallory*"
HOSTILE_FUNCTION = "fn<script>alert(1)</script>\nLink: http://evil.example/@everyone"
HOSTILE_AGENT = "@everyone [click](http://evil.example) <@U123> `rm -rf` ~strike~ # head"
MENTIONS = ("<!channel>", "<!here>", "@here", "@everyone", "@channel", "<@U123>")


@pytest.fixture
def hostile_alert(make_alerts):
    [alert] = make_alerts(
        principal_invoke(
            T0,
            user=HOSTILE_USER,
            source_ip=HOSTILE_NETWORK,
            function=HOSTILE_FUNCTION,
            userAgent=HOSTILE_AGENT,
        )
    )
    return alert


def deliver() -> str:
    outcome = notify_due(now=timezone.now(), worker="test")
    return outcome.summary()


def test_it_mails_text_and_html_with_every_hostile_value_escaped(
    hostile_alert, smtp_server, settings
):
    settings.SITE_URL = "https://asnwatch.example"
    destination_create(
        by="ops", name="soc", kind="email", target="soc@example.com, lead@example.com"
    )
    deliveries_enqueue_for_alerts(alerts=[hostile_alert])

    assert deliver() == "1 delivered, 0 to retry, 0 failed"

    [message] = smtp_server.messages
    assert message["X-Envelope-To"] == "soc@example.com, lead@example.com"
    assert "\n" not in message["Subject"]
    assert message["Subject"].startswith("asnwatch: new alert for <!channel>@here_*mallory*")
    text = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    assert f"Principal: {HOSTILE_USER}" in text
    assert f"Network: {HOSTILE_ORGANISATION}" in text
    # The function's newline does not start a line of its own.
    assert not any(line.startswith("Link:") for line in text.splitlines())
    assert "Function: arn:aws:lambda:eu-west-1:111122223333:function:fn<script>" in text
    assert f"Alert: https://asnwatch.example/alerts/{hostile_alert.pk}/" in text
    for raw in ("<script>", "<b>", "<!channel>"):
        assert raw not in html
    assert "fn&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "Evil &lt;b&gt;Corp&lt;/b&gt;" in html
    assert f'<a href="https://asnwatch.example/alerts/{hostile_alert.pk}/">' in html


def test_it_posts_to_chat_through_apprise_with_markup_and_mentions_neutralised(
    hostile_alert, receiver
):
    destination_create(
        by="ops",
        name="chat",
        kind="apprise",
        target=receiver.url("/apprise").replace("http", "json", 1),
    )
    deliveries_enqueue_for_alerts(alerts=[hostile_alert])

    assert deliver() == "1 delivered, 0 to retry, 0 failed"

    [request] = receiver.to("/apprise")
    posted = request.json()
    chat = posted["title"] + "\n" + posted["message"]
    for mention in MENTIONS:
        assert mention not in chat
    assert "[click](" not in chat
    assert "\\`rm -rf\\` \\~strike\\~ \\# head" in chat  # shown, not code or a heading
    assert "<script>" not in chat
    assert "Principal: &lt;!channel&gt;@\u200bhere\\_\\*mallory\\*" in posted["message"]
    assert "AS number: AS64666" in posted["message"]
    assert f"/alerts/{hostile_alert.pk}/" in posted["message"]
    # One line per fact: the function's newline starts no line of its own.
    assert not any(line.startswith("Link:") for line in posted["message"].splitlines())


def test_a_webhook_carries_hostile_values_as_json_strings_exactly(hostile_alert, receiver):
    destination_create(by="ops", name="hook", kind="webhook", target=receiver.url(), secret=SECRET)
    deliveries_enqueue_for_alerts(alerts=[hostile_alert])

    deliver()

    [request] = receiver.requests
    body = request.verified()
    assert body["data"] == json.loads(json.dumps(alert_document(hostile_alert)))
    assert body["data"]["user"]["name"] == HOSTILE_USER
    assert body["data"]["source"]["as"]["organization"]["name"] == HOSTILE_ORGANISATION
    assert body["data"]["user_agent"]["original"] == HOSTILE_AGENT


def test_a_refused_smtp_recipient_fails_at_once(make_alerts, smtp_server, settings):
    class Refusing:
        async def handle_RCPT(self, server, session, envelope, address, options):
            return "550 no such mailbox"

    from aiosmtpd.controller import Controller

    from tests.helpers import free_port

    port = free_port()
    controller = Controller(Refusing(), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        settings.EMAIL_PORT = port
        destination_create(by="ops", name="soc", kind="email", target="nobody@example.com")
        deliveries_enqueue_for_alerts(alerts=make_alerts())
        assert deliver() == "0 delivered, 0 to retry, 1 failed"
    finally:
        controller.stop()
    assert "every recipient refused" in Delivery.objects.get().last_error


def test_a_url_and_its_token_never_reach_the_log(make_alerts, receiver, caplog):
    caplog.set_level(logging.DEBUG)
    chat = receiver.url("/apprise/t0ken-9f8e7d").replace("http", "json", 1)
    destination_create(by="ops", name="chat", kind="apprise", target=chat)
    hook = receiver.url("/hook/t0ken-6a5b4c")
    destination_create(by="ops", name="hook", kind="webhook", target=hook, secret=SECRET)
    deliveries_enqueue_for_alerts(alerts=make_alerts())

    assert deliver() == "2 delivered, 0 to retry, 0 failed"
    assert receiver.to("/apprise/t0ken-9f8e7d")
    assert receiver.to("/hook/t0ken-6a5b4c")
    assert "t0ken" not in caplog.text
