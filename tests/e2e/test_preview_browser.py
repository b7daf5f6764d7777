"""The alert preview on the list in Chromium: a row clicked or j / k shows the alert beside
the list, its workflow acts and the row follows, Esc and "Close preview" close it; at 390 px
it covers the list. axe-core checks the list with the panel open at both widths; the
screenshots are under test-output/.

Same browser as the other browser tests (tests/e2e/conftest.py: Debian's chromium, no download).
"""

import re

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.browser import OUTPUT, page_for, sign_in
from tests.e2e.test_accessibility import AXE
from triage.models import Alert

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


PANEL = "#alert-preview"
ARTICLE = "#alert-preview article.preview"


def row(page: Page, alert: Alert):
    return page.locator(f"table.alerts tbody tr[data-alert='{alert.pk}']")


def serious_axe_violations(page: Page) -> list[str]:
    page.add_script_tag(path=str(AXE))  # an inline script: the page's context bypasses the CSP
    result = page.evaluate("async () => await axe.run(document, {resultTypes: ['violations']})")
    return [
        f"{violation['id']} {[node['target'] for node in violation['nodes'][:3]]}"
        for violation in result["violations"]
        if violation["impact"] in ("serious", "critical")
    ]


def test_a_row_opens_its_preview_which_acts_and_closes(live_server, browser, story, people):
    base = live_server.url
    page, problems = page_for(browser)
    sign_in(page, base)
    alice = row(page, story.alice)
    expect(page.locator(PANEL)).to_be_hidden()  # empty, it takes no room

    alice.locator("td.time").click()
    expect(page.locator(ARTICLE)).to_have_attribute("data-alert", str(story.alice.pk))
    expect(page.locator("#preview-title")).to_be_focused()
    expect(page.locator(f"{PANEL} .prevalence")).to_contain_text("no other principal")
    expect(page.locator(f"{PANEL} svg.timeline")).to_be_visible()
    expect(alice).to_have_class(re.compile(r"\bis-previewed\b"))
    # The list stays beside the panel, in the same page.
    list_box = page.locator("#alert-results").bounding_box()
    panel_box = page.locator(PANEL).bounding_box()
    assert list_box["x"] + list_box["width"] <= panel_box["x"]
    assert page.url == f"{base}/alerts/"
    OUTPUT.mkdir(exist_ok=True)
    page.screenshot(path=str(OUTPUT / "preview-desktop.png"))

    # An action in the panel; the row says so without a reload.
    page.locator(f"{PANEL} #alert-workflow button", has_text="Acknowledge").click()
    expect(page.locator(f"{PANEL} #alert-workflow .notice")).to_have_text("Alert acknowledged.")
    expect(alice.locator("td.status-cell")).to_have_text("Acknowledged")
    page.locator(f"{PANEL} #alert-workflow button", has_text="Assign to me").click()
    expect(alice.locator("td.assignee")).to_have_text("ana")
    assert Alert.objects.get(pk=story.alice.pk).status == Alert.Status.ACKNOWLEDGED

    # j / k preview the alert they move to; Esc closes, the row keeps the focus.
    page.locator("body").click(position={"x": 5, "y": 5})
    page.keyboard.press("j")
    page.keyboard.press("j")
    current = page.locator("table.alerts tbody tr[aria-current=true]")
    current_id = current.get_attribute("data-alert")
    expect(page.locator(ARTICLE)).to_have_attribute("data-alert", current_id)
    page.keyboard.press("Escape")
    expect(page.locator(PANEL)).to_be_hidden()
    expect(page.locator(f"tr[data-alert='{current_id}'] td.alert-id a").first).to_be_focused()

    # The close button, after a click on the row's "preview" link.
    alice.locator("a.preview-link").click()
    expect(page.locator(ARTICLE)).to_have_attribute("data-alert", str(story.alice.pk))
    page.locator(f"{PANEL} button.preview-close").click()
    expect(page.locator(PANEL)).to_be_hidden()
    assert problems == [], problems


def test_on_a_phone_the_preview_covers_the_list(live_server, browser, story, people):
    base = live_server.url
    page, problems = page_for(browser)
    page.set_viewport_size({"width": 390, "height": 844})
    sign_in(page, base)

    row(page, story.role).locator("a.preview-link").click()
    expect(page.locator(ARTICLE)).to_have_attribute("data-alert", str(story.role.pk))
    box = page.locator(PANEL).bounding_box()
    assert (box["x"], box["width"]) == (0, 390)
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    page.screenshot(path=str(OUTPUT / "preview-phone.png"))
    page.locator(f"{PANEL} button.preview-close").click()
    expect(page.locator(PANEL)).to_be_hidden()
    assert problems == [], problems


def test_without_javascript_preview_is_a_page(live_server, browser, story, people):
    base = live_server.url
    page, problems = page_for(browser, javascript=False)
    sign_in(page, base)

    row(page, story.alice).locator("a.preview-link").click()
    page.wait_for_url(f"{base}/alerts/{story.alice.pk}/preview/")
    expect(page.locator("#preview-title")).to_contain_text("alice")
    page.locator("#alert-workflow button", has_text="Acknowledge").click()
    assert Alert.objects.get(pk=story.alice.pk).status == Alert.Status.ACKNOWLEDGED
    assert problems == [], problems


@pytest.mark.parametrize("width", [1440, 390])
def test_the_list_with_a_preview_open_passes_axe(live_server, browser, story, people, width):
    context = browser.new_context(viewport={"width": width, "height": 900}, bypass_csp=True)
    page = context.new_page()
    sign_in(page, live_server.url)

    row(page, story.role).locator("a.preview-link").click()
    expect(page.locator(ARTICLE)).to_have_attribute("data-alert", str(story.role.pk))

    assert serious_axe_violations(page) == []
    context.close()
