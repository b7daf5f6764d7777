"""Settings → Notifications in Chromium: an admin adds a webhook destination pointing at
a loopback receiver, presses Send test, and sees it delivered; the receiver checks the
Standard Webhooks signature with the secret the page showed once.

Same browser as the other browser tests (tests/e2e/conftest.py: Debian's chromium, no download).
"""

import pytest
from playwright.sync_api import expect

from tests.e2e.browser import OUTPUT, page_for, sign_in
from tests.triage import ui
from triage.notify.models import Destination

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def people() -> ui.People:
    return ui.people()


def test_an_admin_adds_a_webhook_and_sees_its_test_message_delivered(
    live_server, browser, people, receiver
):
    base = live_server.url
    page, problems = page_for(browser)
    sign_in(page, base, "root")

    page.click("nav[aria-label=Main] >> text=Settings")
    expect(page.locator("h1")).to_contain_text("Notifications")
    page.click("text=Add webhook")
    page.fill("#id_name", "Loopback receiver")
    page.fill("#id_url", receiver.url("/asnwatch"))
    page.fill("#id_user_names", "alice")
    page.click("button:text('Save destination')")

    secret = page.locator("#secret").inner_text().strip()
    assert secret.startswith("whsec_")
    page.click("text=Continue to Loopback receiver")
    expect(page.locator("ol.changes")).to_contain_text("Created by root")
    expect(page.locator("body")).not_to_contain_text(secret)
    page.click("#send-test")

    expect(page.locator(".messages")).to_contain_text("Test message delivered to Loopback receiver")
    expect(page.locator("table.delivery-log tbody tr")).to_have_count(1)
    expect(page.locator("table.delivery-log")).to_contain_text("delivered")
    OUTPUT.mkdir(exist_ok=True)
    page.screenshot(path=str(OUTPUT / "notification-destination.png"), full_page=True)
    (request,) = receiver.to("/asnwatch")
    assert request.verified(secret)["type"] == "test"
    assert Destination.objects.get().secret == secret
    assert problems == [], problems
