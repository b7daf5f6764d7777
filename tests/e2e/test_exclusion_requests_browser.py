"""Exclusion requests in Chromium: an analyst proposes an exclusion from an alert (with
JavaScript off, as every form works without it), an allowlist admin finds it under
Allowlist → Requests, checks the impact preview and approves it; the alert is closed
by the exclusion and shows the outcome to the analyst. Screens under test-output/.
"""

import pytest
from playwright.sync_api import expect

from tests.e2e.browser import OUTPUT, page_for, sign_in
from triage.models import Alert, AlertStatusChange, Exclusion, ExclusionChange
from triage.requests import services
from triage.requests.models import ExclusionRequest

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_exclusion_request_then_approval_closes_the_alert(live_server, browser, story, people):
    base = live_server.url
    OUTPUT.mkdir(exist_ok=True)
    analyst, _ = page_for(browser, javascript=False)
    sign_in(analyst, base, "ana")

    analyst.goto(f"{base}/alerts/{story.alice.pk}/")
    analyst.click("#propose-exclusion")
    expect(analyst.locator("#id_as_organization")).to_have_value("Evil VPS Ltd")
    expect(analyst.locator("#id_as_number")).to_have_value("64500")
    analyst.click("button:text('Preview impact')")
    expect(analyst.locator("#impact")).to_contain_text("1 of 8 the rule saw")
    analyst.click("button:text('Send request')")  # no reason yet
    expect(analyst.locator("p.error")).to_contain_text("needs a reason")
    analyst.fill("#id_reason", "Red-team VPS, engagement RT-7")
    analyst.click("button:text('Send request')")
    analyst.wait_for_url(f"{base}/alerts/{story.alice.pk}/")
    requests = analyst.locator("#exclusion-requests")
    expect(requests).to_contain_text("Pending")
    expect(requests).to_contain_text("waits for an allowlist admin")
    expect(analyst.locator("#propose-exclusion")).to_have_count(0)
    exclusion_request = ExclusionRequest.objects.get()

    admin, problems = page_for(browser)
    sign_in(admin, base, "adam")
    expect(admin.locator("nav[aria-label=Main] .badge")).to_contain_text("1")
    admin.click("nav >> text=Allowlist")
    admin.click("nav.status-tabs >> text=Requests")
    admin.click(f"a:text('#{exclusion_request.pk}')")
    expect(admin.locator("#impact")).to_contain_text("1 of 8 the rule saw")
    expect(admin.locator("h1")).to_contain_text("Red-team VPS, engagement RT-7")
    admin.screenshot(path=str(OUTPUT / "exclusion-request.png"), full_page=True)
    admin.click("button:text('Approve')")

    expect(admin.locator(".messages")).to_contain_text(f"Request {exclusion_request.pk} approved")
    expect(admin.locator("ol.changes")).to_contain_text(
        f"Requested by ana (request #{exclusion_request.pk}), approved by adam"
    )
    exclusion = Exclusion.objects.get()
    assert ExclusionChange.objects.get(exclusion=exclusion).changed_by == "adam"
    alice = Alert.objects.get(pk=story.alice.pk)
    assert (alice.status, alice.close_reason) == ("closed", "false_positive")
    assert AlertStatusChange.objects.get(alert=alice).closed_by_exclusion == exclusion

    analyst.goto(f"{base}/alerts/{story.alice.pk}/")
    expect(analyst.locator("#alert-workflow")).to_contain_text("Closed")
    expect(requests).to_contain_text("Approved by adam")
    expect(requests.locator(f"a:text('exclusion #{exclusion.pk}')")).to_have_attribute(
        "href", f"/exclusions/{exclusion.pk}/"
    )
    analyst.screenshot(path=str(OUTPUT / "exclusion-request-approved.png"), full_page=True)
    admin.goto(f"{base}/alerts/")
    expect(admin.locator("nav[aria-label=Main] .badge")).to_have_count(0)
    assert problems == [], problems


def test_a_declined_request_tells_the_analyst_why(live_server, browser, story, people):
    base = live_server.url
    exclusion_request = services.exclusion_request_create(
        by=people.analyst, alert=story.alice, reason="our VPN", as_organization="Evil VPS Ltd"
    )
    admin, problems = page_for(browser)
    sign_in(admin, base, "adam")
    admin.goto(f"{base}/exclusions/requests/{exclusion_request.pk}/")
    admin.click("button:text('Decline')")  # the reason is required by the browser too
    assert ExclusionRequest.objects.get().state == "pending"
    admin.fill("#id_reason", "Evil VPS is no VPN of ours: narrow it to alice's key")
    admin.click("button:text('Decline')")
    expect(admin.locator(".messages")).to_contain_text("declined")

    analyst, analyst_problems = page_for(browser)
    sign_in(analyst, base, "ana")
    analyst.goto(f"{base}/alerts/{story.alice.pk}/")
    requests = analyst.locator("#exclusion-requests")
    expect(requests).to_contain_text("Declined by adam")
    expect(requests).to_contain_text("narrow it to alice's key")
    expect(analyst.locator("#propose-exclusion")).to_be_visible()
    assert Alert.objects.get(pk=story.alice.pk).status == "open"
    assert problems == analyst_problems == [], problems + analyst_problems
