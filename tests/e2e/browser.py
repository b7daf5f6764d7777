"""What the browser tests share besides their fixtures (tests/e2e/conftest.py): a fresh
page that records CSP violations and script errors, and signing in."""

from playwright.sync_api import Browser, Page

from tests.helpers import PROJECT_ROOT
from tests.triage import ui

CHROMIUM = "/usr/bin/chromium"
OUTPUT = PROJECT_ROOT / "test-output"


def page_for(browser: Browser, *, javascript: bool = True) -> tuple[Page, list[str]]:
    """A fresh browser context; the list collects CSP violations and script errors."""
    context = browser.new_context(
        viewport={"width": 1440, "height": 900}, java_script_enabled=javascript
    )
    page = context.new_page()
    problems: list[str] = []

    def console(message) -> None:
        if message.type == "error":
            problems.append(f"{message.text} at {message.location['url']}")

    page.on("console", console)
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.on("dialog", lambda dialog: problems.append(f"a dialog opened: {dialog.message}"))
    return page, problems


def sign_in(page: Page, base: str, username: str = "ana") -> None:
    page.goto(f"{base}/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", ui.PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/alerts/")
