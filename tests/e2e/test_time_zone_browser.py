"""Chromium: an analyst chooses a time zone and reads every time in it; the weekly review's
charts stay legible on a 390 px phone. Screenshots under test-output/time-zones/."""

from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone
from playwright.sync_api import Browser, expect

from tests.e2e.browser import OUTPUT, page_for, sign_in
from triage import alerts
from triage.review.selectors import current_week, week_name

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

SHOTS = OUTPUT / "time-zones"


def test_an_analyst_chooses_a_time_zone_and_reads_times_in_it(
    live_server, browser: Browser, story, people
):
    base = live_server.url
    page, problems = page_for(browser)
    sign_in(page, base)
    expect(page.locator("footer.page-footer")).to_contain_text("Times are in UTC")

    page.click("footer.page-footer a:text('Change the time zone')")
    page.wait_for_url(f"{base}/account/preferences/")
    expect(page.locator("#id_time_zone")).to_have_value("UTC")
    page.select_option("#id_time_zone", "Asia/Kolkata")
    page.click("button:text('Save')")
    expect(page.locator(".messages")).to_contain_text("Times are now shown in Asia/Kolkata.")
    expect(page.locator("footer.page-footer")).to_contain_text("Times are in Asia/Kolkata")
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "my-settings.png"), full_page=True)

    local = timezone.localtime(story.alice.original_time, ZoneInfo("Asia/Kolkata"))
    page.goto(f"{base}/alerts/")
    row = page.locator(f"tr:has(a[href='/alerts/{story.alice.pk}/'])")
    expect(row.locator("td.time time")).to_have_text(f"{local:%Y-%m-%d %H:%M} IST")
    expect(page.locator("label[for=id_since]")).to_have_text("From (Asia/Kolkata)")
    detected = row.locator("span.sub[title]").get_attribute("title")
    assert detected.endswith("Asia/Kolkata (UTC+05:30)"), detected

    page.goto(f"{base}/alerts/{story.alice.pk}/")
    expect(page.locator(".facts time").first).to_have_text(f"{local:%Y-%m-%d %H:%M:%S} IST")
    page.goto(f"{base}/events/")
    expect(page.locator("table.events th").first).to_have_text("@timestamp (Asia/Kolkata)")
    page.screenshot(path=str(SHOTS / "events-in-kolkata.png"))
    assert problems == []


def test_the_review_charts_are_legible_at_390_px(live_server, browser: Browser, story, people):
    for alert in (story.alice, story.role):
        alerts.alert_close(alert=alert, by=people.analyst, reason="false_positive")
    base = live_server.url
    SHOTS.mkdir(parents=True, exist_ok=True)
    week = week_name(current_week())
    for width, height, name in ((390, 844, "phone"), (1440, 900, "desktop")):
        context = browser.new_context(viewport={"width": width, "height": height})
        page = context.new_page()
        sign_in(page, base)
        page.goto(f"{base}/review/?week={week}")
        page.screenshot(path=str(SHOTS / f"review-{name}.png"), full_page=True)

        assert page.evaluate("document.documentElement.scrollWidth") <= width
        shown = ".chart-narrow svg" if width < 640 else ".chart-wide svg"
        hidden = ".chart-wide svg" if width < 640 else ".chart-narrow svg"
        per_day = page.locator("section:has(#per-day-title)")
        expect(per_day.locator(hidden)).to_be_hidden()
        expect(per_day.locator(shown)).to_contain_text("days in UTC")
        charts = {"per day": per_day.locator(shown)}
        # The networks' chart is one row a network at every width.
        charts["networks"] = page.locator("section:has(#fp-network-title) svg.narrow-bars")
        for chart, locator in charts.items():
            expect(locator).to_be_visible()
            # Every label of the chart drawn at 10 px or more.
            smallest = locator.evaluate(
                """svg => Math.min(...[...svg.querySelectorAll('text')].map(
                     t => t.getBoundingClientRect().height))"""
            )
            assert smallest >= 10, (name, chart, smallest)
        context.close()
