"""Benchmark: one detector run over a fresh batch, with small and large history behind it,
and one run over a first backfill.

    .venv/bin/python bench/detect.py [--history 5000000] [--batch 100000] [--backfill 1000000]
        [--database asnwatch_bench_detect]

For each history size (10,000 and --history) it builds a fresh PostgreSQL
database, loads that many events of 10 days' history with SQL (800 principals,
40 networks, most of them direct Lambda invocations), appends a batch of new
events from the same principals — 50 of them from networks new to their
principal — moves the detector's cursor past the history, and times one run.
The run's cost should follow the batch, not the history: the ratio of the two
times is the figure to watch (target at most 1.5, and under 2 s per run).

Each of those runs is also set against the set-based SQL floor, measured on the
same database just before and after it: one query that decides, for every
candidate of the batch, whether a same-terms candidate exists in the 10 days
before it (over the same partial index; the bench has no exclusions). The
detector run should take at most 1.5 times the faster of the two.

Then it loads --backfill events of the same shape (10 days, nothing evaluated
yet, the cursor at 0) and times the one run that evaluates all of them, in
events per second. That run lifts the alert cap (every principal's first event
opens an alert, and each alert's episode takes in the principal's next 10
days), so that it covers every event. Each run reports the peak RSS of the
process that ran it.
"""

import argparse
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parent.parent
SERVER = "postgres://postgres@127.0.0.1:5432"
DATABASE = "asnwatch_bench_detect"

# The floor: the rule's new-terms decision for every candidate after the cursor,
# in one statement over the detector's partial index (event_direct_lambda_invoke),
# written out here rather than taken from the detector so that it measures SQL alone.
FLOOR_SQL = """
SELECT count(*), count(*) FILTER (WHERE NOT EXISTS (
    SELECT 1 FROM ingest_event h
    WHERE h.provider = 'lambda.amazonaws.com' AND h.action LIKE 'Invoke%%'
        AND h.outcome = 'success' AND h.invoked_by IS NULL AND h.as_organization IS NOT NULL
        AND h.as_organization = e.as_organization AND h.account_id = e.account_id
        AND h.user_name = e.user_name
        AND h.timestamp < e.timestamp AND h.timestamp >= e.timestamp - interval '10 days'
))
FROM ingest_event e
WHERE e.stored_xid >= %(cursor)s
    AND e.provider = 'lambda.amazonaws.com' AND e.action LIKE 'Invoke%%'
    AND e.outcome = 'success' AND e.invoked_by IS NULL
    AND e.as_organization <> '' AND e.account_id <> '' AND e.user_name <> ''
    AND NOT (e.as_organization LIKE 'Amazon%%' OR e.as_organization LIKE 'AMAZON%%'
        OR e.as_organization LIKE 'Google%%' OR e.as_organization LIKE 'GOOGLE%%'
        OR e.as_organization LIKE 'Microsoft%%' OR e.as_organization LIKE 'MICROSOFT%%')
"""

# One statement builds both the history and the batch; %(offset)s shifts ids.
EVENTS_SQL = """
INSERT INTO ingest_event (
    event_id, timestamp, ingested, provider, action, outcome, account_id, user_name,
    identity_type, access_key_id, invoked_by, source_ip, as_number, as_organization,
    function_name, stored_xid, log_object_id, record
)
SELECT
    %(prefix)s || g,
    %(start)s::timestamptz + (g::float / %(count)s) * %(span)s::interval,
    now(),
    CASE WHEN g %% 5 = 0 THEN 'sts.amazonaws.com' ELSE 'lambda.amazonaws.com' END,
    CASE WHEN g %% 5 = 0 THEN 'GetCallerIdentity' ELSE 'Invoke' END,
    'success',
    '1111' || lpad(((g / 7) %% 4)::text, 8, '0'),
    'user-' || ((g / 7) %% 200),
    'IAMUser',
    'AKIA' || lpad(((g / 7) %% 200)::text, 16, '0'),
    NULL,
    ('198.51.' || (g %% 40) || '.10')::inet,
    64500 + ((g / 7) %% 200) %% 10,
    CASE WHEN (g / 7) %% 200 %% 10 = 0 THEN 'AMAZON-02'
         ELSE 'Office Network ' || (((g / 7) %% 200) %% 10) END,
    'billing-export',
    pg_current_xact_id()::text::bigint,
    NULL, NULL
FROM generate_series(1, %(count)s) AS g
"""

NEW_NETWORKS_SQL = """
UPDATE ingest_event SET as_organization = 'Fresh VPS ' || id, as_number = 65000 + id %% 100
WHERE id IN (
    SELECT id FROM ingest_event WHERE event_id LIKE 'batch-%%' AND provider = 'lambda.amazonaws.com'
    AND as_organization <> 'AMAZON-02' ORDER BY id LIMIT %(new)s
)
"""


def psql(database: str, sql: str) -> None:
    subprocess.run(
        ["psql", "-q", "-h", "127.0.0.1", "-U", "postgres", "-d", database, "-c", sql],
        check=True,
    )


def fresh_database(database: str) -> str:
    """The scratch database, dropped, created and migrated again; its URL."""
    psql("postgres", f"DROP DATABASE IF EXISTS {database} WITH (FORCE)")
    psql("postgres", f"CREATE DATABASE {database}")
    url = f"{SERVER}/{database}"
    env = {**os.environ, "DATABASE_URL": url}
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True)
    return url


def prepare_backfill(database: str, events: int) -> str:
    url = fresh_database(database)

    with psycopg.connect(url, autocommit=True) as connection:
        started = time.monotonic()
        connection.execute(
            EVENTS_SQL,
            {"prefix": "b-", "start": "2026-11-01T00:00:00Z", "span": "10 days", "count": events},
        )
        connection.execute("VACUUM ANALYZE ingest_event")
        # The load's dirty pages written out now, not by a checkpoint during the timed runs.
        connection.execute("CHECKPOINT")
        print(f"  loaded {events:,} events in {time.monotonic() - started:.1f} s")
    return url


def prepare(database: str, history: int, batch: int) -> str:
    url = fresh_database(database)

    with psycopg.connect(url, autocommit=True) as connection:
        started = time.monotonic()
        connection.execute(
            EVENTS_SQL,
            {"prefix": "h-", "start": "2026-11-01T00:00:00Z", "span": "10 days", "count": history},
        )
        connection.execute(
            EVENTS_SQL,
            {"prefix": "batch-", "start": "2026-11-11T00:00:00Z", "span": "1 hour", "count": batch},
        )
        connection.execute(NEW_NETWORKS_SQL, {"new": 50})
        connection.execute("VACUUM ANALYZE ingest_event")
        # The load's dirty pages written out now, not by a checkpoint during the timed runs.
        connection.execute("CHECKPOINT")
        # Every history event evaluated: the cursor is past their storing transactions.
        (past_history,) = connection.execute(
            "SELECT max(stored_xid) + 1 FROM ingest_event WHERE event_id LIKE 'h-%%'"
        ).fetchone()
        connection.execute(
            "INSERT INTO triage_detectorstate (id, cursor, updated_at) VALUES (1, %s, now())",
            [past_history],
        )
        print(f"  loaded {history:,} history + {batch:,} batch events in "
              f"{time.monotonic() - started:.1f} s")  # fmt: skip
    return url


def stored_cursor(url: str) -> int:
    with psycopg.connect(url, autocommit=True) as connection:
        row = connection.execute("SELECT cursor FROM triage_detectorstate").fetchone()
        return row[0] if row else 0


def floor(url: str, cursor: int) -> tuple[float, int, int]:
    """The set-based SQL floor over the events after cursor: seconds, candidates, new ones."""
    with psycopg.connect(url, autocommit=True) as connection:
        started = time.perf_counter()
        candidates, new = connection.execute(FLOOR_SQL, {"cursor": cursor}).fetchone()
        return time.perf_counter() - started, candidates, new


def measure(max_alerts: int | None) -> None:
    """In a child process: time one detector run against DATABASE_URL."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from triage.detector import detect

    started = time.perf_counter()
    run = detect(max_alerts=max_alerts)
    elapsed = time.perf_counter() - started
    assert not run.deferred, "the run stopped at the cap"
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
    print(
        f"{elapsed:.3f} {run.events_evaluated} {run.candidates} {run.alerts_created} "
        f"{run.events_joined} {peak_mb}"
    )


def timed_run(url: str, max_alerts: int | None = None) -> tuple[float, int, str]:
    env = {**os.environ, "DATABASE_URL": url, "DETECTION_BASELINE_START": "2026-10-01T00:00:00Z"}
    cap = ["--max-alerts", str(max_alerts)] if max_alerts else []
    result = subprocess.run(
        [sys.executable, __file__, "--measure", *cap],
        cwd=ROOT, env=env, check=True, capture_output=True, text=True,
    )  # fmt: skip
    seconds, evaluated, candidates, alerts, joined, peak_mb = result.stdout.split()
    return (
        float(seconds),
        int(evaluated),
        f"{evaluated} evaluated, {candidates} candidates, {alerts} alerts, {joined} joined; "
        f"peak RSS {peak_mb} MB",
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--history", type=int, default=5_000_000)
    parser.add_argument("--batch", type=int, default=100_000)
    parser.add_argument("--backfill", type=int, default=1_000_000)
    parser.add_argument(
        "--database", default=DATABASE, help="the scratch database (dropped and created again)"
    )
    parser.add_argument("--measure", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--max-alerts", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        measure(args.max_alerts)
        return
    times = {}
    for history in (10_000, args.history):
        print(f"history {history:,}:")
        url = prepare(args.database, history, args.batch)
        cursor = stored_cursor(url)
        before, candidates, new = floor(url, cursor)
        times[history], _, what = timed_run(url)
        after, _, _ = floor(url, cursor)
        print(f"  one run over {args.batch:,} new events: {times[history]:.3f} s ({what})")
        best = min(before, after)
        print(f"  set-based SQL floor: {best:.3f} s (of {before:.3f} s before the run and "
              f"{after:.3f} s after; {candidates} candidates, {new} new)")  # fmt: skip
        print(f"  detector run / floor: {times[history] / best:.2f} (target at most 1.5)")
    ratio = times[args.history] / times[10_000]
    print(f"ratio {args.history:,} / 10,000 history: {ratio:.2f} (target at most 1.5)")
    print(f"backfill of {args.backfill:,} events:")
    url = prepare_backfill(args.database, args.backfill)
    seconds, evaluated, what = timed_run(url, max_alerts=args.backfill)
    print(f"  one run from cursor 0: {seconds:.1f} s, {evaluated / seconds:,.0f} events/s ({what})")
    best, candidates, new = floor(url, 0)
    print(f"  set-based SQL floor over the same events: {best:.1f} s "
          f"({candidates} candidates, {new} new); run / floor {seconds / best:.1f}")  # fmt: skip
    psql("postgres", f"DROP DATABASE IF EXISTS {args.database} WITH (FORCE)")


if __name__ == "__main__":
    main()
