"""The alert list and the alert page from the keyboard in Chromium: j / k, o / Enter, x,
a, c, e, / and ?, and none of them while typing in a field. The current row and the
list of shortcuts are photographed under test-output/.

Same browser as the other browser tests (tests/e2e/conftest.py: Debian's chromium, no download);
every page is checked for CSP violations and script errors.
"""

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.browser import OUTPUT, page_for, sign_in
from triage.models import Alert

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


ROWS = "table.alerts tbody tr"
CURRENT = "table.alerts tbody tr[aria-current=true]"


def row_ids(page: Page) -> list[int]:
    return [
        int(value)
        for value in page.eval_on_selector_all(
            f"{ROWS} td.select input", "boxes => boxes.map(b => b.value)"
        )
    ]


def focused_row_id(page: Page) -> int | None:
    value = page.evaluate(
        "() => document.activeElement.closest('tr')?.querySelector('td.select input')?.value"
    )
    return int(value) if value else None


def test_it_moves_ticks_opens_and_shows_the_shortcuts_on_the_list(
    live_server, browser, story, people
):
    base = live_server.url
    page, problems = page_for(browser)
    sign_in(page, base)
    first, second = row_ids(page)

    expect(page.locator("#shortcuts button.shortcuts-open")).to_have_text("Keyboard shortcuts: ?")
    expect(page.locator(CURRENT)).to_have_count(0)
    page.keyboard.press("j")
    expect(page.locator(CURRENT)).to_have_count(1)
    expect(page.locator(f"{CURRENT} td.select input")).to_have_value(str(first))
    assert focused_row_id(page) == first  # the row's link has the focus: a reader names it
    page.keyboard.press("j")
    expect(page.locator(f"{CURRENT} td.select input")).to_have_value(str(second))
    assert focused_row_id(page) == second
    page.keyboard.press("j")  # the last row stays current
    expect(page.locator(".shortcuts-status")).to_have_text("Last alert on this page.")
    page.keyboard.press("k")
    expect(page.locator(f"{CURRENT} td.select input")).to_have_value(str(first))
    expect(page.locator(CURRENT)).to_have_count(1)
    OUTPUT.mkdir(exist_ok=True)
    page.screenshot(path=str(OUTPUT / "keyboard-current-row.png"))

    count = page.locator("form.bulk output.bulk-count")
    page.keyboard.press("x")
    expect(page.locator(f"input[name=alerts][value='{first}']")).to_be_checked()
    expect(count).to_have_text("1 selected")
    page.keyboard.press("x")
    expect(count).to_have_text("0 selected")

    dialog = page.get_by_role("dialog", name="Keyboard shortcuts")
    page.keyboard.press("?")
    expect(dialog).to_be_visible()
    expect(dialog.get_by_role("heading")).to_have_text("Keyboard shortcuts")
    expect(dialog.get_by_role("listitem").first).to_contain_text("next / previous alert")
    page.screenshot(path=str(OUTPUT / "keyboard-shortcuts.png"))
    page.keyboard.press("j")  # the dialog is modal: the list keys wait
    expect(page.locator(f"{CURRENT} td.select input")).to_have_value(str(first))
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    page.click("#shortcuts button.shortcuts-open")  # the hint opens it too
    expect(dialog).to_be_visible()
    dialog.get_by_role("button", name="Close").click()
    expect(dialog).to_be_hidden()

    page.keyboard.press("Alt+j")  # not with a modifier held
    page.keyboard.press("Control+x")
    expect(page.locator(f"{CURRENT} td.select input")).to_have_value(str(first))
    expect(count).to_have_text("0 selected")

    page.keyboard.press("o")
    page.wait_for_url(f"{base}/alerts/{first}/")
    page.goto(f"{base}/alerts/")
    page.keyboard.press("k")  # from nowhere, k starts at the last row
    expect(page.locator(f"{CURRENT} td.select input")).to_have_value(str(second))
    page.evaluate("document.activeElement.blur()")  # Enter on the page, not on a link
    page.keyboard.press("Enter")
    page.wait_for_url(f"{base}/alerts/{second}/")
    assert problems == [], problems


def test_it_acknowledges_closes_and_searches_from_the_list(live_server, browser, story, people):
    base = live_server.url
    page, problems = page_for(browser)
    sign_in(page, base)
    first, second = row_ids(page)
    count = page.locator("form.bulk output.bulk-count")

    page.keyboard.press("/")
    expect(page.locator("#id_q")).to_be_focused()
    page.keyboard.type("jjxa?c/e")  # typed into the search, none of it a shortcut
    expect(page.locator("#id_q")).to_have_value("jjxa?c/e")
    expect(page.locator(CURRENT)).to_have_count(0)
    expect(count).to_have_text("0 selected")
    expect(page.get_by_role("dialog")).to_have_count(0)
    assert page.url == f"{base}/alerts/"
    assert set(Alert.objects.values_list("status", flat=True)) == {"open"}

    page.goto(f"{base}/alerts/")
    page.keyboard.press("j")
    page.keyboard.press("j")
    page.keyboard.press("x")
    page.keyboard.press("k")
    page.evaluate("window.stayed = true")
    page.keyboard.press("a")  # one is ticked: the ticked one, not the current one
    expect(page.locator("form.bulk .notice")).to_have_text("1 acknowledged.")
    assert Alert.objects.get(pk=second).status == "acknowledged"
    assert Alert.objects.get(pk=first).status == "open"
    assert page.evaluate("window.stayed === true")  # through the bulk form's htmx swap
    expect(page.locator(ROWS)).to_have_count(1)  # the acknowledged one left the open tab
    expect(page.locator(f"{CURRENT} td.select input")).to_have_value(str(first))
    assert focused_row_id(page) == first

    page.keyboard.press("a")  # none ticked: the current one
    expect(page.locator(ROWS)).to_have_count(0)  # the open tab is empty now
    expect(page.locator("form.bulk .notice")).to_have_text("1 acknowledged.")
    assert Alert.objects.get(pk=first).status == "acknowledged"

    page.goto(f"{base}/alerts/?status=acknowledged")
    page.keyboard.press("j")
    page.keyboard.press("c")  # none ticked: the current alert, and the close reason
    expect(page.locator("#bulk-reason")).to_be_focused()
    current = int(page.locator(f"{CURRENT} td.select input").input_value())
    expect(page.locator(f"input[name=alerts][value='{current}']")).to_be_checked()
    expect(count).to_have_text("1 selected")
    page.select_option("#bulk-reason", "duplicate")
    page.click("form.bulk .bulk-bar button[value=close]")
    expect(page.locator("form.bulk .notice")).to_have_text("1 closed as duplicate.")
    assert Alert.objects.get(pk=current).status == "closed"
    assert problems == [], problems


def test_it_works_the_alert_page_from_the_keyboard(live_server, browser, story, people):
    base = live_server.url
    page, problems = page_for(browser)
    sign_in(page, base)
    alert = story.alice
    page.goto(f"{base}/alerts/{alert.pk}/")
    workflow = page.locator("#alert-workflow dl.state")

    page.click("#note-text")
    page.keyboard.type("a c e ?")  # a note, not shortcuts
    expect(page.locator("#note-text")).to_have_value("a c e ?")
    expect(page.get_by_role("dialog")).to_have_count(0)
    page.evaluate("document.activeElement.blur()")
    assert Alert.objects.get(pk=alert.pk).status == "open"

    page.keyboard.press("?")
    dialog = page.get_by_role("dialog", name="Keyboard shortcuts")
    expect(dialog).to_contain_text("acknowledge this alert")
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()

    page.keyboard.press("e")  # an analyst proposes an exclusion, for an admin to approve
    page.wait_for_url(f"{base}/exclusions/requests/new/?alert={alert.pk}")
    page.goto(f"{base}/alerts/{alert.pk}/")

    page.keyboard.press("a")
    expect(workflow).to_contain_text("Acknowledged")
    assert Alert.objects.get(pk=alert.pk).status == "acknowledged"
    page.keyboard.press("a")  # no longer offered
    expect(page.locator(".shortcuts-status")).to_contain_text("not offered")

    page.keyboard.press("c")
    expect(page.locator("#close-reason")).to_be_focused()
    page.select_option("#close-reason", "true_positive")
    page.click("#alert-workflow button:text('Close alert')")
    expect(workflow).to_contain_text("Closed")
    page.keyboard.press("c")
    expect(page.locator(".shortcuts-status")).to_have_text("This alert is closed already.")
    assert problems == [], problems


def test_it_starts_an_exclusion_from_the_keyboard(live_server, browser, story, people):
    base = live_server.url
    page, problems = page_for(browser)
    sign_in(page, base, "adam")  # an allowlist admin

    page.goto(f"{base}/alerts/{story.role.pk}/")
    page.keyboard.press("e")  # the page's own "Add exclusion" link
    page.wait_for_url(f"{base}/exclusions/new/?alert={story.role.pk}")

    page.goto(f"{base}/alerts/")
    page.keyboard.press("e")  # no row chosen yet
    expect(page.locator(".shortcuts-status")).to_contain_text("j and k")
    page.keyboard.press("k")
    last = row_ids(page)[-1]
    page.keyboard.press("e")
    page.wait_for_url(f"{base}/exclusions/new/?alert={last}")

    analyst, analyst_problems = page_for(browser)
    sign_in(analyst, base)
    first = row_ids(analyst)[0]
    analyst.keyboard.press("j")
    analyst.keyboard.press("e")  # not an admin: a proposal from the current alert
    analyst.wait_for_url(f"{base}/exclusions/requests/new/?alert={first}")
    assert problems == analyst_problems == [], problems + analyst_problems


def test_the_shortcuts_stay_out_of_the_way_without_javascript(live_server, browser, story, people):
    page, _ = page_for(browser, javascript=False)
    sign_in(page, live_server.url)
    expect(page.locator("#shortcuts button.shortcuts-open")).to_be_hidden()
    expect(page.get_by_role("dialog")).to_have_count(0)
