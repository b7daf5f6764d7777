"""The alert list grouped in Chromium: an analyst groups the open alerts by principal,
opens a group, closes all its alerts after the confirmation, and (JavaScript off)
acknowledges another group with a plain form. The grouped list is photographed at
1440 px and 390 px under test-output/.

Same browser as the other browser tests (tests/e2e/conftest.py: Debian's chromium, no download);
every page is checked for CSP violations and script errors.
"""

import pytest
from playwright.sync_api import expect

from tests.e2e.browser import OUTPUT, page_for, sign_in
from tests.triage import ui
from triage.models import Alert

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


GROUPS = "ol.group-list > li.alert-group"


def group(page, name: str):
    return page.locator(GROUPS).filter(has=page.locator("h3.group-key", has_text=name))


def test_it_groups_the_list_and_closes_a_whole_group_after_asking(
    live_server, browser, story, people
):
    carol = ui.stored_alerts(3, label="carol", user_name="carol", minutes_ago=1)
    base = live_server.url
    page, problems = page_for(browser)
    sign_in(page, base)

    page.select_option("#id_group", "principal")
    expect(page.locator(GROUPS)).to_have_count(3)
    assert "group=principal" in page.url  # the grouping is in the address, shareable
    expect(page.locator(f"{GROUPS} h3.group-key").first).to_contain_text("carol")
    expect(group(page, "carol").locator("dl.group-facts")).to_contain_text("Alerts3")

    carol_group = group(page, "carol")
    carol_group.locator("summary").click()
    expect(carol_group.locator("table.grid tbody tr")).to_have_count(3)
    OUTPUT.mkdir(exist_ok=True)
    page.screenshot(path=str(OUTPUT / "alert-groups.png"), full_page=True)

    carol_group.locator("select[name=reason]").select_option("false_positive")
    carol_group.locator("input[name=comment]").fill("load test from the VPS")
    carol_group.locator("button:text('Close all')").click()
    confirm = page.locator(".alert-groups .bulk-confirm")
    expect(confirm).to_contain_text("Close 3 alerts of carol (444455556666) as false positive?")
    assert [Alert.objects.get(pk=alert.pk).status for alert in carol] == ["open"] * 3

    confirm.locator("button:text('Close 3 alerts')").click()
    expect(page.locator(".alert-groups p.notice")).to_have_text(
        "carol (444455556666): 3 closed as false positive."
    )
    expect(page.locator(GROUPS)).to_have_count(2)  # the open tab no longer holds carol
    assert [Alert.objects.get(pk=alert.pk).status for alert in carol] == ["closed"] * 3
    assert Alert.objects.get(pk=story.alice.pk).status == "open"

    page.set_viewport_size({"width": 390, "height": 844})
    group(page, "alice").locator("summary").click()
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    page.screenshot(path=str(OUTPUT / "alert-groups-phone.png"), full_page=True)
    assert problems == []


def test_a_group_acts_with_javascript_off(live_server, browser, story, people):
    base = live_server.url
    page, problems = page_for(browser, javascript=False)
    sign_in(page, base)
    page.goto(f"{base}/alerts/?group=network")

    hostile = group(page, "Hosting")
    hostile.locator("summary").click()
    hostile.locator("button:text('Acknowledge all')").click()

    page.wait_for_url(f"{base}/alerts/?group=network")
    expect(page.locator("ul.messages")).to_contain_text("Hosting (AS64666): 1 acknowledged.")
    assert Alert.objects.get(pk=story.role.pk).status == "acknowledged"
    assert Alert.objects.get(pk=story.alice.pk).status == "open"
    assert problems == []
