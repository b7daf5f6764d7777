"""With the database unreachable, the app says so: a 503 page in the layout for a person,
a 503 with the reason for a monitor, one line in the log and no traceback.

The app runs as in production (gunicorn, DEBUG off), on PostgreSQL at a port where nothing
listens, and on the embedded SQLite with a database file that cannot be opened.
"""

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.helpers import PROJECT_ROOT, free_port

pytestmark = pytest.mark.e2e
TOKEN = "monitoring-token-0123456789"
UNREACHABLE = "The database cannot be reached; asnwatch will work again when it is back."
# A session cookie: a signed-in person's request reads its session from the database first.
SIGNED_IN = {"Cookie": "sessionid=0123456789abcdefghijklmnopqrstuv"}


@dataclass
class Server:
    url: str
    log: Path

    def get(self, path: str, headers: dict[str, str] | None = None) -> tuple[int, str]:
        request = urllib.request.Request(self.url + path, headers=headers or {})
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode()


def wait_until_serving(server: Server, process: subprocess.Popen, deadline: float) -> None:
    while time.monotonic() < deadline and process.poll() is None:
        try:
            server.get("/login/")
            return
        except OSError:
            time.sleep(0.2)
    pytest.fail("gunicorn never answered:\n" + server.log.read_text()[-3000:])


@pytest.fixture(scope="module", params=["postgresql", "sqlite"])
def server(request, tmp_path_factory) -> Server:
    folder = tmp_path_factory.mktemp("no-database")
    (folder / "inbox").mkdir()
    # SQLite cannot open a folder as its database file.
    (folder / "a-folder").mkdir()
    unreachable = {
        "postgresql": f"postgres://postgres@127.0.0.1:{free_port()}/asnwatch",
        "sqlite": f"sqlite:///{folder / 'a-folder'}",
    }
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("DATABASE_URL", "GEOIP_", "CLOUDTRAIL_", "DJANGO_"))
    }
    env.update(
        DATABASE_URL=unreachable[request.param],
        DEBUG="false",
        SECRET_KEY="s" * 64,
        ASNWATCH_VAR_DIR=str(folder / "var"),
        MONITORING_TOKEN=TOKEN,
        CLOUDTRAIL_INBOX_DIR=str(folder / "inbox"),
    )
    port = free_port()
    server = Server(f"http://127.0.0.1:{port}", folder / "server.log")
    with server.log.open("w") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{port}", "--workers", "1",
             "--no-control-socket", "config.wsgi:application"],
            cwd=PROJECT_ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
    try:
        wait_until_serving(server, process, time.monotonic() + 60)
        yield server
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)


def test_a_page_says_the_database_cannot_be_reached(server):
    logged_before = len(server.log.read_text())

    status, page = server.get("/alerts/", SIGNED_IN)

    assert status == 503
    assert UNREACHABLE in page
    assert '<nav aria-label="Main">' in page
    log = server.log.read_text()[logged_before:]
    assert "GET /alerts/: the database cannot be reached: " in log
    assert "Traceback" not in log


def test_a_missing_page_says_it_too(server):
    status, page = server.get("/nowhere/", SIGNED_IN)

    assert status == 503
    assert UNREACHABLE in page


def test_the_monitoring_endpoint_answers_503_with_the_reason(server):
    status, body = server.get("/sources.json", {"Authorization": f"Bearer {TOKEN}"})

    assert status == 503
    document = json.loads(body)
    assert document["ok"] is False
    assert document["error"].startswith("the database cannot be read: ")
    assert document["sources"] == []
