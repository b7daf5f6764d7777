"""Running manage.py as a user would, in a subprocess from the project root, and
waiting on the servers, workers and commands that tests start."""

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import psycopg
import pytest

PROJECT_ROOT = Path(__file__).resolve().parent.parent
# The tests that start Celery workers on Redis share its databases 12 and 13 (and their
# queues): when the suite runs in several processes (pytest -n), they all run in one.
SHARES_REDIS = pytest.mark.xdist_group("redis")


def manage(*args: str, env: dict[str, str] | None = None, timeout: int = 120):
    """Run `python manage.py ARGS` with the test environment plus env; returns CompletedProcess."""
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=PROJECT_ROOT,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def free_port() -> int:
    """A loopback port with nothing listening: bound, then released."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_until_serving(url: str, deadline: float) -> None:
    """Return once url answers at all; fail the test at deadline (time.monotonic)."""
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(url, timeout=2)
            return
        except OSError:
            time.sleep(0.3)
    pytest.fail(f"nothing answered at {url}")


def backend_waiting_for_lock(
    observer: psycopg.Connection, process: subprocess.Popen, *, seconds: float = 30
) -> int:
    """The PostgreSQL backend of process, once it waits for a lock the test holds."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"the command ended before it waited for the lock: {process.communicate()}")
        row = observer.execute(
            "SELECT pid FROM pg_stat_activity "
            "WHERE datname = current_database() AND wait_event_type = 'Lock'"
        ).fetchone()
        if row:
            return row[0]
        time.sleep(0.05)
    process.kill()
    pytest.fail("the command never waited for the test's lock")


def worker_command(queue: str) -> list[str]:
    """A Celery worker of the project's app reading only queue, one task at a time."""
    return [
        str(PROJECT_ROOT / ".venv" / "bin" / "celery"), "-A", "config", "worker",
        "--queues", queue, "--concurrency", "1", "--loglevel", "INFO",
        "--without-gossip", "--without-mingle", "--without-heartbeat",
    ]  # fmt: skip


def stop_worker(worker: subprocess.Popen) -> None:
    """Stop a Celery worker as its service manager would, killing it if it hangs."""
    worker.send_signal(signal.SIGTERM)
    try:
        worker.wait(timeout=30)
    except subprocess.TimeoutExpired:
        worker.kill()
        worker.wait()
