"""Benchmark: what notifications add to a detector run that opens 100 alerts, and how soon
every healthy destination has every message.

    .venv/bin/python bench/notify.py [--batch 10000] [--repeat 5] [--slow-seconds 0.1]

It builds a PostgreSQL database once (migrated; 10,000 events of history and a
batch of --batch new ones from the same principals, 100 of them from networks
new to their principal, as bench/detect.py does) and keeps it as a template. Each
measurement copies the template and, in a child process, times one detector
run over the batch: --repeat runs with no destination, and --repeat with five
webhooks on loopback receivers served by this process:

- fast: answers at once, a message per alert;
- summary: answers at once, one summary for the run;
- slow-1, slow-2: sleep --slow-seconds before answering, a message per alert;
- failing: answers 500 to everything.

The detector's run includes writing the outbox rows and, after its commit,
asking for an immediate notify run through the filesystem broker `make run`
uses (in a temporary folder). Both are also timed on their own, and so is the
request a later run in the same process makes (as in a worker, whose broker
connection is open by then; the first request in a process opens it). The
figure to watch is the median run with destinations over the median run
without (target: under 5 % more); on a busy machine the parts timed on their
own say more than that difference.

After each run with destinations, the child calls notify_due as the worker's
task would, and the bench reports the time from the detector's commit until
the last of the healthy destinations' 301 messages arrived.
"""

import argparse
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SERVER = "postgres://postgres@127.0.0.1:5432"
TEMPLATE = "asnwatch_bench_notify_template"
DATABASE = "asnwatch_bench_notify"
ALERTS = 100
HEALTHY = ("fast", "summary", "slow-1", "slow-2")


def _detect_bench():
    spec = importlib.util.spec_from_file_location("bench_detect", ROOT / "bench" / "detect.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def psql(sql: str) -> None:
    subprocess.run(
        ["psql", "-q", "-h", "127.0.0.1", "-U", "postgres", "-d", "postgres", "-c", sql],
        check=True,
    )


def prepare_template(batch: int) -> None:
    bench = _detect_bench()
    psql(f"DROP DATABASE IF EXISTS {TEMPLATE} WITH (FORCE)")
    psql(f"CREATE DATABASE {TEMPLATE}")
    url = f"{SERVER}/{TEMPLATE}"
    env = {**os.environ, "DATABASE_URL": url}
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True)
    import psycopg

    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute(
            bench.EVENTS_SQL,
            {"prefix": "h-", "start": "2026-11-01T00:00:00Z", "span": "10 days", "count": 10_000},
        )
        connection.execute(
            bench.EVENTS_SQL,
            {"prefix": "batch-", "start": "2026-11-11T00:00:00Z", "span": "1 hour", "count": batch},
        )
        connection.execute(bench.NEW_NETWORKS_SQL, {"new": ALERTS})
        connection.execute("VACUUM ANALYZE ingest_event")
        (last_history,) = connection.execute(
            "SELECT max(id) FROM ingest_event WHERE event_id LIKE 'h-%%'"
        ).fetchone()
        connection.execute(
            "INSERT INTO triage_detectorstate (id, cursor, updated_at) VALUES (1, %s, now())",
            [last_history],
        )


class Receivers:
    """One loopback HTTP server: the path names the destination, which answers as planned."""

    def __init__(self, slow_seconds: float) -> None:
        self.arrivals: dict[str, list[float]] = defaultdict(list)
        self.lock = threading.Lock()
        receivers = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length", 0)))
                name = self.path.strip("/")
                if name.startswith("slow"):
                    time.sleep(slow_seconds)
                status = 500 if name == "failing" else 204
                if status == 204:
                    with receivers.lock:
                        receivers.arrivals[name].append(time.time())
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/{name}"

    def reset(self) -> None:
        with self.lock:
            self.arrivals.clear()


def measure(urls: dict[str, str]) -> None:
    """In a child process: add the destinations, time one detector run, then deliver."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.utils import timezone

    from triage import detector
    from triage.notify.services import destination_create, notify_due

    for name, url in urls.items():
        mode = "summary" if name == "summary" else "each"
        # Each webhook gets a secret of its own, and its messages are signed with it.
        destination_create(by="bench", name=name, kind="webhook", target=url, mode=mode)
    # The run's two new parts, timed where the detector calls them.
    parts = {"enqueue": 0.0, "dispatch": 0.0}

    def timed(part: str, function):
        def call(*args, **kwargs):
            started = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                parts[part] += time.perf_counter() - started

        return call

    enqueue = detector.deliveries_enqueue_for_alerts
    detector.deliveries_enqueue_for_alerts = timed("enqueue", enqueue)
    detector.notify_soon = timed("dispatch", detector.notify_soon)
    started = time.perf_counter()
    run = detector.detect()
    elapsed = time.perf_counter() - started
    committed = time.time()
    assert run.alerts_created == ALERTS, f"the run opened {run.alerts_created} alerts"
    outcome = notify_due(now=timezone.now(), worker="bench") if urls else None
    # What a later run in the same process (a worker's) pays: the broker connection is open.
    later = time.perf_counter()
    if urls:
        detector.notify_soon()
    parts["later_dispatch"] = time.perf_counter() - later
    print(json.dumps({
        "seconds": elapsed,
        "committed": committed,
        **parts,
        "notify": outcome.summary() if outcome else "",
    }))  # fmt: skip


def timed_run(urls: dict[str, str], var_dir: str) -> dict:
    psql(f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)")
    psql(f"CREATE DATABASE {DATABASE} TEMPLATE {TEMPLATE}")
    env = {
        **os.environ,
        "DATABASE_URL": f"{SERVER}/{DATABASE}",
        "DETECTION_BASELINE_START": "2026-10-01T00:00:00Z",
        "ASNWATCH_VAR_DIR": var_dir,
        "LOG_LEVEL": "WARNING",
    }
    env.pop("CELERY_BROKER_URL", None)
    result = subprocess.run(
        [sys.executable, __file__, "--measure", json.dumps(urls)],
        cwd=ROOT, env=env, check=True, capture_output=True, text=True,
    )  # fmt: skip
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--slow-seconds", type=float, default=0.1)
    parser.add_argument("--measure", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure is not None:
        measure(json.loads(args.measure))
        return
    prepare_template(args.batch)
    receivers = Receivers(args.slow_seconds)
    urls = {name: receivers.url(name) for name in (*HEALTHY, "failing")}
    without, with_destinations, delivered = [], [], []
    with tempfile.TemporaryDirectory() as var_dir:
        for repetition in range(args.repeat):
            without.append(timed_run({}, var_dir)["seconds"])
            receivers.reset()
            result = timed_run(urls, var_dir)
            with_destinations.append(result["seconds"])
            counts = {name: len(receivers.arrivals[name]) for name in HEALTHY}
            expected = {"fast": ALERTS, "summary": 1, "slow-1": ALERTS, "slow-2": ALERTS}
            assert counts == expected, f"the healthy destinations got {counts}"
            last = max(max(receivers.arrivals[name]) for name in HEALTHY)
            delivered.append(last - result["committed"])
            print(
                f"run {repetition + 1}: {without[-1]:.3f} s without destinations, "
                f"{with_destinations[-1]:.3f} s with five (writing the outbox "
                f"{1000 * result['enqueue']:.0f} ms, asking a worker "
                f"{1000 * result['dispatch']:.0f} ms, then "
                f"{1000 * result['later_dispatch']:.1f} ms in a later run); all healthy messages "
                f"{delivered[-1]:.1f} s after the commit ({result['notify']})"
            )
    base, loaded = statistics.median(without), statistics.median(with_destinations)
    print(
        f"median detector run over {args.batch:,} new events: {base:.3f} s without "
        f"destinations, {loaded:.3f} s with five: "
        f"+{loaded - base:.3f} s, {100 * (loaded - base) / base:+.1f} % (target under 5 %)"
    )
    print(
        f"median time until every healthy destination has every message: "
        f"{statistics.median(delivered):.1f} s (slow receivers sleep {args.slow_seconds} s)"
    )
    psql(f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)")
    psql(f"DROP DATABASE IF EXISTS {TEMPLATE} WITH (FORCE)")


if __name__ == "__main__":
    main()
