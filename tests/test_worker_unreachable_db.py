"""A Celery worker whose database cannot be reached logs one error line per run, no traceback.

The worker is started as in production (`celery -A config worker`) on the Redis
broker, with DATABASE_URL on a loopback port nothing listens on; the task is
sent twice, as the scheduler sends it every five minutes.
"""

import os
import subprocess
import time
import uuid
from pathlib import Path

import pytest
import redis
from celery import Celery

from tests.helpers import PROJECT_ROOT, SHARES_REDIS, free_port, stop_worker, worker_command

pytestmark = SHARES_REDIS
REDIS_URL = "redis://127.0.0.1:6379/13"
PASSWORD = "pw-never-shown-7Q"
LINE = (
    "ERROR triage.tasks poll_and_detect: cannot reach the database (connection refused); "
    "what was stored before is kept, the next run tries again"
)


@pytest.mark.e2e
def test_each_run_logs_one_line_while_the_database_cannot_be_reached(geoip_dir, tmp_path: Path):
    queue = f"asnwatch-test-{uuid.uuid4().hex[:8]}"
    log = tmp_path / "worker.log"
    env = {
        **os.environ,
        "DATABASE_URL": f"postgres://asnwatch:{PASSWORD}@127.0.0.1:{free_port()}/asnwatch",
        "CELERY_BROKER_URL": REDIS_URL,
        "GEOIP_ASN_DB": str(geoip_dir / "asn.mmdb"),
        "CLOUDTRAIL_INBOX_DIR": str(tmp_path),
        "PYTHONUNBUFFERED": "1",
    }
    with log.open("w") as output:
        worker = subprocess.Popen(
            worker_command(queue),
            cwd=PROJECT_ROOT,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    sender = Celery("scheduler", broker=REDIS_URL)
    try:
        for runs in (1, 2):
            sender.send_task("triage.tasks.poll_and_detect", queue=queue)
            deadline = time.monotonic() + 60
            while log.read_text().count("Task triage.tasks.poll_and_detect[") < 2 * runs:
                if worker.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"no run {runs} finished; the worker said:\n{log.read_text()}")
                time.sleep(0.1)
    finally:
        stop_worker(worker)
        sender.close()
        redis.Redis.from_url(REDIS_URL).delete(queue)

    said = log.read_text()
    assert "Traceback" not in said
    assert PASSWORD not in said
    errors = [line for line in said.splitlines() if " ERROR " in line or "Error" in line]
    assert [line.split(" ", 2)[2] for line in errors] == [LINE, LINE]
