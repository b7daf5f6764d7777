"""The browser tests' fixtures: Debian's /usr/bin/chromium (Playwright never downloads a
browser), launched once a module, and the triage stories and personas of tests/triage/ui.py
on the UI's ASN database (hostile organisation names included)."""

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, sync_playwright

from tests.e2e.browser import CHROMIUM
from tests.triage import ui

# Playwright's sync API runs an event loop in this thread; the ORM calls the
# tests make between browser steps are ordinary blocking calls.
os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"


@pytest.fixture(scope="session")
def geoip_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return ui.write_geoip(tmp_path_factory.mktemp("geoip-ui"))


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install chromium (make test does)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ],
        )
        yield browser
        browser.close()


@pytest.fixture
def story(settings) -> ui.Story:
    return ui.stories(settings)


@pytest.fixture
def people(story) -> ui.People:
    return ui.people()
