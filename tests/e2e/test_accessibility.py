"""axe-core on every page at 1440 px and 390 px: no serious or critical violation, and
no page wider than the screen. Screenshots of both widths are kept under
test-output/accessibility/ for review.

axe-core comes from npm (package-lock.json; `make test` installs it) and is
injected by Playwright. The app's Content-Security-Policy forbids injected
scripts, so the contexts that run axe bypass it; the CSP itself is checked by
the other browser tests.
"""

import urllib.parse
from pathlib import Path

import pytest
from playwright.sync_api import Browser

from tests.e2e.browser import OUTPUT
from tests.helpers import PROJECT_ROOT
from tests.triage import ui
from triage.allowlist.services import exclusion_create
from triage.requests.services import exclusion_request_create

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

AXE = PROJECT_ROOT / "node_modules" / "axe-core" / "axe.min.js"
WIDTHS = {"desktop": (1440, 900), "phone": (390, 844)}
SHOTS = OUTPUT / "accessibility"
# The innermost elements reaching past the screen's right edge, to say what to fix.
WIDEST = """() => [...document.querySelectorAll('body *')]
  .filter(e => e.getBoundingClientRect().right > innerWidth + 1
    && ![...e.children].some(c => c.getBoundingClientRect().right > innerWidth + 1))
  .slice(0, 3)
  .map(e => e.tagName.toLowerCase()
    + (e.className ? '.' + String(e.className).split(' ').join('.') : '')
    + ' ' + Math.round(e.getBoundingClientRect().right) + 'px')"""


def pages(story: ui.Story, exclusion_id: int) -> dict[str, str]:
    principal = urllib.parse.urlencode(
        {"account": story.alice.account_id, "user": story.alice.user_name}
    )
    network = urllib.parse.urlencode({"org": story.role.as_organization})
    return {
        "alerts": "/alerts/",
        "alerts-grouped": "/alerts/?status=&group=network",
        "alert": f"/alerts/{story.role.pk}/",
        "alert-preview": f"/alerts/{story.role.pk}/preview/",
        "principal": f"/principals/?{principal}",
        "network": f"/networks/?{network}",
        "events": "/events/",
        "sources": "/sources/",
        "allowlist": "/exclusions/",
        "exclusion": f"/exclusions/{exclusion_id}/",
        "exclusion-new": "/exclusions/new/",
        "review": "/review/",
        "my-notifications": "/account/notifications/",
        "my-preferences": "/account/preferences/",
        "api-tokens": "/settings/api-tokens/",
        "notifications": "/settings/notifications/",
        "users": "/settings/users/",
        "event": f"/events/{story.role.event_id}/",
    }


def audit(
    browser: Browser, base: str, paths: dict[str, str], *, signed_in: bool, username: str = "root"
) -> list[str]:
    found = []
    for width_name, (width, height) in WIDTHS.items():
        context = browser.new_context(viewport={"width": width, "height": height}, bypass_csp=True)
        page = context.new_page()
        if signed_in:
            page.goto(f"{base}/login/")
            page.fill("#id_username", username)
            page.fill("#id_password", ui.PASSWORD)
            page.click("button[type=submit]")
            page.wait_for_url(f"{base}/alerts/")
        for name, path in paths.items():
            page.goto(base + path)
            page.add_script_tag(path=str(AXE))
            result = page.evaluate(
                "async () => await axe.run(document, {resultTypes: ['violations']})"
            )
            for violation in result["violations"]:
                if violation["impact"] in ("serious", "critical"):
                    targets = [node["target"] for node in violation["nodes"][:3]]
                    found.append(f"{name} at {width}px: {violation['id']} {targets}")
            overflow = page.evaluate("document.documentElement.scrollWidth")
            if overflow > width:
                found.append(f"{name} at {width}px is {overflow}px wide: {page.evaluate(WIDEST)}")
            SHOTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(SHOTS / f"{name}-{width_name}.png"), full_page=True)
        context.close()
    return found


def test_every_page_passes_axe_and_fits_the_screen(live_server, browser, story):
    assert Path(AXE).exists(), "axe-core is missing: make test runs npm ci"
    people = ui.people()
    exclusion = exclusion_create(
        by="ops", as_organization="Office ISP*", reason="the office", expires_at=None
    )
    # A request waiting on the alert page's alert: its card there, the queue, the decision.
    waiting = exclusion_request_create(
        by=people.analyst, alert=story.role, reason="the CI runner", user_name="billing-fn-role"
    )
    requests = {
        "exclusion-requests": "/exclusions/requests/",
        "exclusion-request": f"/exclusions/requests/{waiting.pk}/",
    }
    # What only an analyst sees: the Propose button and the proposal form.
    proposing = {
        "alert-analyst": f"/alerts/{story.alice.pk}/",
        "exclusion-request-new": f"/exclusions/requests/new/?alert={story.alice.pk}",
    }
    problems = audit(browser, live_server.url, {"sign-in": "/login/"}, signed_in=False)
    problems += audit(
        browser, live_server.url, {**pages(story, exclusion.pk), **requests}, signed_in=True
    )
    problems += audit(browser, live_server.url, proposing, signed_in=True, username="ana")
    assert problems == [], "\n".join(problems)
