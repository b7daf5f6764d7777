"""An analyst's day in Chromium: sign in, filter, open an alert, work the checklist, close it.

Debian's /usr/bin/chromium drives the live server (Playwright never downloads a
browser). The alert page is photographed under test-output/ for review.
"""

import re

import pytest
from playwright.sync_api import expect

from tests.e2e.browser import OUTPUT, page_for, sign_in
from tests.triage import ui
from triage.models import Alert, ChecklistStep

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_it_triages_an_alert_from_the_list_to_closed(live_server, browser, story, people):
    base = live_server.url
    page, problems = page_for(browser)
    sign_in(page, base)

    expect(page.locator("table.alerts tbody tr")).to_have_count(2)
    page.fill("#id_q", "alice")
    page.press("#id_q", "Enter")
    expect(page.locator("table.alerts tbody tr")).to_have_count(1)
    assert "q=alice" in page.url  # the filter is in the address bar, shareable

    page.click(f"a[href='/alerts/{story.alice.pk}/']")
    page.wait_for_url(f"{base}/alerts/{story.alice.pk}/")
    expect(page.locator("h1")).to_contain_text("Evil VPS Ltd")
    expect(page.locator("#step-network svg.timeline")).to_be_visible()

    page.check("#step-check-network input[name=done]")
    expect(page.locator("#step-check-network .saved")).to_be_visible()
    expect(page.locator("#checklist-progress")).to_have_text("1 of 4 done")
    page.fill("#note-credential", "AKIA key used from a VPS in Amsterdam")
    page.check("#step-check-credential input[name=done]")
    expect(page.locator("#checklist-progress")).to_have_text("2 of 4 done")

    page.click("#alert-workflow button:text('Assign to me')")
    expect(page.locator("#alert-workflow dl.state")).to_contain_text("ana")
    page.click("#alert-workflow button:text('Acknowledge')")
    expect(page.locator("#alert-workflow dl.state")).to_contain_text("Acknowledged")

    OUTPUT.mkdir(exist_ok=True)
    page.screenshot(path=str(OUTPUT / "alert-page.png"), full_page=True)
    page.evaluate("window.scrollTo(0, 0)")
    page.screenshot(path=str(OUTPUT / "alert-page-top.png"))
    page.locator("#step-network").screenshot(path=str(OUTPUT / "alert-page-network-step.png"))

    page.select_option("#close-reason", "true_positive")
    page.fill("#close-comment", "Key rotated, user informed")
    page.click("#alert-workflow button:text('Close alert')")
    expect(page.locator("#alert-workflow dl.state")).to_contain_text("Closed")
    expect(page.locator("#alert-workflow ol.history")).to_contain_text("Key rotated")

    page.reload()  # everything above was saved, not only swapped in
    expect(page.locator("#alert-workflow dl.state")).to_contain_text("True positive")
    expect(page.locator("#note-credential")).to_have_value("AKIA key used from a VPS in Amsterdam")

    alert = Alert.objects.get(pk=story.alice.pk)
    assert (alert.status, alert.close_reason, alert.assignee) == (
        "closed",
        "true_positive",
        people.analyst,
    )
    ticked = ChecklistStep.objects.filter(alert=alert, done=True).values_list("step", flat=True)
    assert set(ticked) == {"network", "credential"}
    assert problems == [], problems

    page.goto(f"{base}/alerts/")
    page.screenshot(path=str(OUTPUT / "alert-list.png"), full_page=True)


def test_it_shows_hostile_fields_as_text_and_runs_nothing(live_server, browser, story, people):
    base = live_server.url
    page, problems = page_for(browser)
    sign_in(page, base)

    page.goto(f"{base}/alerts/{story.role.pk}/")
    expect(page.locator("h1")).to_contain_text(ui.HOSTILE_ORG)
    expect(page.locator("#step-request")).to_contain_text(ui.HOSTILE_UA)
    expect(page.locator("#step-request")).to_contain_text(ui.HOSTILE_FUNCTION)
    assert page.locator("svg[onload], img[onerror], script:not([src])").count() == 0
    page.screenshot(path=str(OUTPUT / "alert-page-hostile.png"), full_page=True)

    page.click(".alert-head .facts a:text('Hosting')")  # the network page, by its hostile name
    expect(page.locator("h1")).to_have_text(ui.HOSTILE_ORG)
    expect(page.locator("main")).to_contain_text("billing-fn-role")
    page.screenshot(path=str(OUTPUT / "network-page.png"), full_page=True)
    page.click("main table a:text('billing-fn-role')")
    expect(page.locator("h1")).to_contain_text("billing-fn-role")
    page.screenshot(path=str(OUTPUT / "principal-page.png"), full_page=True)

    page.goto(f"{base}/alerts/?status=")
    expect(page.locator("table.alerts")).to_contain_text(ui.HOSTILE_ORG)
    assert problems == [], problems  # no dialog opened, no CSP violation reported


def test_it_counts_the_selected_alerts_and_asks_before_closing_many(
    live_server, browser, story, people
):
    base = live_server.url
    page, problems = page_for(browser)
    sign_in(page, base)
    count = page.locator("form.bulk output.bulk-count")

    expect(count).to_have_text("0 selected")
    page.check(f"input[name=alerts][value='{story.alice.pk}']")
    expect(count).to_have_text("1 selected")
    page.check("table.alerts th.select input")  # select all
    expect(count).to_have_text("2 selected")

    page.evaluate("window.stayed = true")  # gone if the page reloads
    page.select_option("#bulk-reason", "false_positive")
    page.click("form.bulk .bulk-bar button[value=close]")
    confirmation = page.locator("form.bulk .bulk-confirm")
    expect(confirmation).to_contain_text("Close 2 alerts as false positive?")
    expect(page.locator("input[name=alerts]:checked")).to_have_count(2)
    expect(count).to_have_text("2 selected")
    assert set(Alert.objects.values_list("status", flat=True)) == {"open"}

    confirmation.locator("button").click()
    expect(page.locator("form.bulk .notice")).to_have_text("2 closed as false positive.")
    expect(page.locator("table.alerts")).to_have_count(0)  # the open tab is empty now
    assert page.evaluate("window.stayed === true")  # swapped in place, no reload
    assert set(Alert.objects.values_list("status", "close_reason")) == {
        ("closed", "false_positive")
    }
    assert problems == [], problems  # no native dialog, no CSP violation


def test_it_asks_before_closing_many_with_javascript_off(live_server, browser, story, people):
    base = live_server.url
    page, _ = page_for(browser, javascript=False)
    sign_in(page, base)

    page.check(f"input[name=alerts][value='{story.alice.pk}']")
    page.check(f"input[name=alerts][value='{story.role.pk}']")
    page.click("form.bulk .bulk-bar button[value=close]")
    expect(page.locator("form.bulk .error")).to_have_text("Closing needs a reason.")
    expect(page.locator("input[name=alerts]:checked")).to_have_count(2)

    page.select_option("#bulk-reason", "duplicate")
    page.click("form.bulk .bulk-bar button[value=close]")
    expect(page.locator("form.bulk .bulk-confirm")).to_contain_text("Close 2 alerts as duplicate?")
    page.click("form.bulk .bulk-confirm button")
    expect(page.locator(".messages")).to_contain_text("2 closed as duplicate.")
    assert set(Alert.objects.values_list("status", flat=True)) == {"closed"}


def test_it_works_with_javascript_off(live_server, browser, story, people):
    base = live_server.url
    page, _ = page_for(browser, javascript=False)
    sign_in(page, base)

    page.select_option("#id_range", "24h")
    page.fill("#id_principal", "billing-fn-role")
    page.click("form.filters button[type=submit]")
    assert re.search(r"principal=billing-fn-role", page.url)
    expect(page.locator("table.alerts tbody tr")).to_have_count(1)

    page.check(f"input[name=alerts][value='{story.role.pk}']")
    page.click("form.bulk button[value=acknowledge]")
    expect(page.locator(".messages")).to_contain_text("1 acknowledged.")

    page.goto(f"{base}/alerts/{story.role.pk}/")
    page.check("#step-check-activity input[name=done]")
    page.click("#step-check-activity button[type=submit]")
    expect(page.locator(".messages")).to_contain_text("saved")
    expect(page.locator("#step-check-activity input[name=done]")).to_be_checked()
    page.select_option("#close-reason", "false_positive")
    page.click("button:text('Close alert')")
    expect(page.locator("#alert-workflow dl.state")).to_contain_text("Closed")
    assert Alert.objects.get(pk=story.role.pk).close_reason == "false_positive"


def test_the_list_tells_of_new_alerts_without_losing_the_selection(
    live_server, browser, story, people, settings, tmp_path
):
    from datetime import timedelta

    from django.utils import timezone

    from tests.cloudtrail import principal_invoke, run_detect, run_ingest_files, write_log

    settings.ALERT_LIST_POLL_SECONDS = 1
    page, problems = page_for(browser)
    sign_in(page, live_server.url)
    expect(page).to_have_title(re.compile(r"^\(2 open\) Alerts"))
    page.check(f"input[name=alerts][value='{story.alice.pk}']")

    newcomer = principal_invoke(
        timezone.now() - timedelta(minutes=1), user="newcomer", source_ip=ui.EVIL_VPS
    )
    assert run_ingest_files(write_log(tmp_path / "later.json.gz", [newcomer])).error is None
    run_detect()

    expect(page.locator("a.new-alerts")).to_have_text("1 new alert — show", timeout=10_000)
    expect(page).to_have_title(re.compile(r"^\(3 open\) Alerts"))
    expect(page.locator(f"input[name=alerts][value='{story.alice.pk}']")).to_be_checked()
    page.click("a.new-alerts")
    expect(page.locator("table.alerts tbody tr")).to_have_count(3)
    assert problems == [], problems


def test_an_analyst_saves_a_view_and_lands_on_it(live_server, browser, story, people):
    page, problems = page_for(browser)
    sign_in(page, live_server.url)
    page.fill("#id_org", "Evil VPS Ltd")
    page.press("#id_org", "Enter")
    expect(page.locator("table.alerts tbody tr")).to_have_count(1)

    page.click("text=Save or manage views")
    page.fill("#id_view_name", "Evil VPS")
    page.click("button:text('Save view')")
    expect(page.locator(".messages")).to_contain_text("Saved the view Evil VPS.")
    page.click("text=Save or manage views")
    page.click("button:text('Make default')")

    page.goto(f"{live_server.url}/alerts/")
    expect(page.locator(".saved-views a[aria-current=true]")).to_have_text("Evil VPS")
    expect(page.locator("table.alerts tbody tr")).to_have_count(1)
    expect(page.locator(".saved-views")).to_contain_text("(default)")
    assert problems == [], problems
