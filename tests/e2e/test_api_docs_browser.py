"""The API's docs page in Chromium: Swagger UI from the package's own files, under
the app's Content-Security-Policy, renders every operation with no violation.

A user makes a token on Settings → API tokens and follows the page's link to the docs.
"""

import re

import pytest
from playwright.sync_api import expect

from tests.e2e.browser import OUTPUT, page_for, sign_in
from tests.triage import ui

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_a_user_makes_a_token_and_reads_the_api_docs(live_server, browser):
    ui.people()
    page, problems = page_for(browser)
    requests = []
    page.on("request", lambda request: requests.append(request.url))
    sign_in(page, live_server.url, "ana")

    page.click("nav[aria-label=Main] >> text=API tokens")
    page.fill("#id_name", "playbook")
    page.click("button:text('Create token')")
    token = page.locator("#token").inner_text().strip()
    assert re.fullmatch(r"aw_[\w-]{43}", token)
    page.click("text=JSON API")

    expect(page.locator(".swagger-ui .info .title")).to_contain_text("asnwatch API")
    expect(page.locator(".opblock-summary-path[data-path='/api/v1/alerts']").first).to_be_visible()
    operations = page.locator(".opblock").count()
    assert operations >= 20
    OUTPUT.mkdir(exist_ok=True)
    page.screenshot(path=str(OUTPUT / "api-docs.png"))
    # Nothing from elsewhere: every script, style and the schema come from the app.
    assert all(url.startswith(live_server.url) for url in requests), requests
    assert problems == [], problems
