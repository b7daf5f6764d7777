"""Event search and pivots in Chromium: from an alert's source IP to that IP's events, on to
an access key's, a filter typed into the search, an event's page with its ECS fields (each
pivot a link again) and its stored record folded away. Screenshot under test-output/."""

import pytest
from playwright.sync_api import Page, expect

from ingest.models import Event
from tests.e2e.browser import OUTPUT, page_for, sign_in
from tests.triage import ui

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

ROWS = "table.events tbody tr"


def column(page: Page, index: int) -> list[str]:
    """The text of one column of the events table, row by row (1 = the first column)."""
    return page.locator(f"{ROWS} td:nth-child({index})").all_inner_texts()


def test_an_analyst_pivots_from_an_alert_to_events_and_back(live_server, browser, story, people):
    base = live_server.url
    page, problems = page_for(browser)
    sign_in(page, base)

    page.goto(f"{base}/alerts/{story.alice.pk}/")
    page.locator("#fields-title + dl.fields a", has_text=ui.EVIL_VPS).click()
    page.wait_for_url(f"{base}/events/?ip={ui.EVIL_VPS}")
    expected = Event.objects.filter(source_ip=ui.EVIL_VPS).count()
    expect(page.locator(ROWS)).to_have_count(expected)
    assert set(column(page, 7)) == {ui.EVIL_VPS}
    expect(page.locator("#id_ip")).to_have_value(ui.EVIL_VPS)  # the filter, shown as set
    OUTPUT.mkdir(exist_ok=True)
    page.screenshot(path=str(OUTPUT / "events-by-ip.png"), full_page=True)

    key = story.alice.event.access_key_id
    page.locator(f"{ROWS} td:nth-child(6) a", has_text=key).first.click()
    page.wait_for_url(f"{base}/events/?key={key}")
    expect(page.locator(ROWS)).to_have_count(Event.objects.filter(access_key_id=key).count())
    assert set(column(page, 6)) == {key}

    # A filter typed into the search narrows the key's events.
    page.fill("#id_action", "Invoke")
    page.click("form[role=search] button[type=submit]")
    page.wait_for_url(lambda url: "action=Invoke" in url and f"key={key}" in url)
    invocations = Event.objects.filter(access_key_id=key, action="Invoke").count()
    expect(page.locator(ROWS)).to_have_count(invocations)
    assert {text.split("\n")[0] for text in column(page, 2)} == {"Invoke"}

    # One event's page: its ECS fields, every pivot a link, the record folded.
    page.locator(ROWS).first.get_by_role("link", name="Details").click()
    expect(page.locator("h1")).to_contain_text("Invoke")
    expect(page.locator("dl.fields dt", has_text="source.ip")).to_be_visible()
    raw = page.locator("pre.raw")
    expect(raw).to_be_hidden()
    page.get_by_text("The CloudTrail record as stored").click()
    expect(raw).to_contain_text('"eventName": "Invoke"')
    page.locator("dl.fields a[title='Its events']", has_text=story.alice.account_id).click()
    page.wait_for_url(f"{base}/events/?account={story.alice.account_id}")
    expect(page.locator(ROWS)).to_have_count(
        Event.objects.filter(account_id=story.alice.account_id).count()
    )
    assert problems == [], problems


def test_hostile_values_pivot_as_text(live_server, browser, story, people):
    base = live_server.url
    page, problems = page_for(browser)
    sign_in(page, base)

    page.goto(f"{base}/events/")
    page.locator(f"{ROWS} td:nth-child(8) a", has_text=ui.HOSTILE_ORG).first.click()

    expect(page.locator("#id_org")).to_have_value(ui.HOSTILE_ORG)
    expect(page.locator(ROWS)).to_have_count(
        Event.objects.filter(as_organization=ui.HOSTILE_ORG).count()
    )
    assert problems == [], problems  # nothing ran: no dialog, no script error
