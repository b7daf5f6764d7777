"""The README's run command, started as a user would, serves the demo events.

`make run` on embedded defaults: SQLite under var/, demo CloudTrail logs and a
demo ASN database, a printed login, the app on a loopback port.
"""

import html
import http.cookiejar
import os
import re
import signal
import subprocess
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from tests.helpers import PROJECT_ROOT, free_port, wait_until_serving

pytestmark = pytest.mark.e2e


def wait_for_line(process: subprocess.Popen, pattern: str, log: list[str], deadline: float) -> str:
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            if process.poll() is not None:
                break
            continue
        log.append(line)
        match = re.search(pattern, line)
        if match:
            return match.group(1)
    pytest.fail("make run never printed " + pattern + ":\n" + "".join(log[-40:]))


def test_it_serves_the_demo_events_after_make_run(tmp_path: Path):
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    # A user's shell: no DATABASE_URL, no GeoIP, no source configured.
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("DATABASE_URL", "GEOIP_", "CLOUDTRAIL_", "DJANGO_"))
    }
    env["ASNWATCH_VAR_DIR"] = str(tmp_path / "var")
    process = subprocess.Popen(
        ["make", "run", f"PORT={port}"],
        cwd=PROJECT_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    log: list[str] = []
    try:
        deadline = time.monotonic() + 240
        password = wait_for_line(process, r"sign in as admin with password (\S+)", log, deadline)
        wait_until_serving(f"{base}/login/", deadline)

        jar = http.cookiejar.CookieJar()
        browser = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
        login_page = browser.open(f"{base}/login/").read().decode()
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', login_page).group(1)
        form = urllib.parse.urlencode(
            {"username": "admin", "password": password, "csrfmiddlewaretoken": token}
        ).encode()
        response = browser.open(urllib.request.Request(f"{base}/login/", data=form))

        assert response.url == f"{base}/alerts/"
        response = browser.open(f"{base}/events/")
        assert "Content-Security-Policy" in response.headers
        # Which events are newest depends on the hour the demo was written: the
        # enriched ones are looked for over the first pages, newest first.
        pages = [response.read().decode()]
        while len(pages) < 20 and (older := re.search(r'href="(\?before=[^"]+)"', pages[-1])):
            pages.append(
                browser.open(f"{base}/events/{html.unescape(older.group(1))}").read().decode()
            )
        seen = "".join(pages)
        assert "lambda.amazonaws.com" in seen
        assert "AMAZON-02" in seen or "AMAZON-AES" in seen
        assert (tmp_path / "var" / "asnwatch.sqlite3").exists()
        assert (tmp_path / "var" / "static" / "css" / "asnwatch.css.gz").exists()
        # The weekly review opens on last week: the demo's alerts of that week are in it.
        last_week = browser.open(f"{base}/review/alerts.csv").read().decode()
        assert "orders-api-role" in last_week
        assert "james.wright" in last_week
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        log.append(process.communicate(timeout=30)[0])
    # Nothing a new user should wonder about: no SQLite index warning on any step, no
    # WhiteNoise warning of a static folder never collected.
    printed = "".join(log)
    assert "models.W040" not in printed
    assert "No directory at" not in printed
