"""The allowlist in Chromium: an admin turns a false-positive alert into an exclusion
that closes the matching alerts; an analyst may look at the allowlist, not edit it.

Same browser as the other browser tests (tests/e2e/conftest.py: Debian's chromium, no download).
The allowlist and review pages are photographed under test-output/.
"""

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from tests.e2e.browser import OUTPUT, page_for, sign_in
from triage.allowlist import services as exclusions
from triage.models import Alert, AlertStatusChange, Exclusion
from triage.review.selectors import week_name

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_an_admin_turns_an_alert_into_an_exclusion_closing_the_matching_alerts(
    live_server,
    browser,
    story,
    people,
):
    base = live_server.url
    exclusions.exclusion_create(
        by="cli:sam", reason="Headquarters egress", as_organization="Example Office*"
    )
    page, problems = page_for(browser)
    sign_in(page, base, "adam")

    page.goto(f"{base}/alerts/{story.alice.pk}/")
    page.click("#add-exclusion")
    expect(page.locator("#id_as_organization")).to_have_value("Evil VPS Ltd")
    expect(page.locator("#id_as_number")).to_have_value("64500")
    page.fill("#id_reason", "Red-team VPS, engagement RT-7")
    page.check("#id_close_matching")
    page.click("button:text('Preview impact')")
    expect(page.locator("#impact")).to_contain_text("1 of 8 the rule saw")
    expect(page.locator("#impact")).to_contain_text(f"#{story.alice.pk}")
    page.screenshot(path=str(OUTPUT / "exclusion-preview.png"), full_page=True)
    page.click("button:text('Save exclusion')")

    expect(page.locator(".messages")).to_contain_text("Closed 1 alert as false positive")
    expect(page.locator("ol.changes")).to_contain_text("Created by adam")
    exclusion = Exclusion.objects.get(as_organization="Evil VPS Ltd")
    alice = Alert.objects.get(pk=story.alice.pk)
    assert (alice.status, alice.close_reason) == ("closed", "false_positive")
    assert AlertStatusChange.objects.get(alert=alice).closed_by_exclusion == exclusion
    assert Alert.objects.get(pk=story.role.pk).status == "open"

    page.goto(f"{base}/exclusions/")
    expect(page.locator("table.exclusions tbody tr")).to_have_count(2)
    OUTPUT.mkdir(exist_ok=True)
    page.screenshot(path=str(OUTPUT / "allowlist-page.png"), full_page=True)
    page.goto(f"{base}/review/?week={week_name(timezone.now().date())}")
    expect(page.locator("#closed")).to_have_text("1")
    page.screenshot(path=str(OUTPUT / "review-page.png"), full_page=True)
    assert problems == [], problems


def test_an_analyst_sees_the_allowlist_but_is_refused_the_editor(
    live_server,
    browser,
    story,
    people,
):
    base = live_server.url
    page, _ = page_for(browser)
    sign_in(page, base, "ana")

    page.goto(f"{base}/alerts/{story.alice.pk}/")
    expect(page.locator("#add-exclusion")).to_have_count(0)
    page.click("nav >> text=Allowlist")
    expect(page.locator("h1")).to_contain_text("Allowlist")
    expect(page.locator("a:text('Add exclusion')")).to_have_count(0)

    response = page.goto(f"{base}/exclusions/new/?alert={story.alice.pk}")
    assert response is not None and response.status == 403
    expect(page.locator("h1")).to_have_text("No access")
    assert not Exclusion.objects.exists()
