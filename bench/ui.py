"""Triage UI and API benchmark: the alert list and alert pages, and the JSON API's alert list,
alert detail and event search, with 100,000 alerts and 5,000,000 events.

    .venv/bin/python bench/ui.py [--events N] [--alerts N] [--requests N] [--database-url URL]
                                 [--reuse]

Loads a generated dataset into a scratch PostgreSQL database with
INSERT … SELECT generate_series (no ORM, no row-by-row inserts), then serves
the app with gunicorn on a loopback port, signs in as an analyst and measures
many requests to the alert list (several filter combinations, later pages,
htmx fragments), to the list grouped by principal, network and account, to
alert pages and the alert preview, then the same through the JSON API with
an analyst's token (api: …), printing p50/p95/max per kind.

The dataset is shaped like a busy organisation: 20 accounts of 100 principals,
a third of all events on 20 very busy principals (long histories for every
per-principal read), roles calling from AWS networks, users from their ISPs,
and now and then a network never seen before. Most alerts are closed, a few
thousand are open; closed and acknowledged ones have workflow history.

The database named in --database-url is dropped and created again unless
--reuse is given (then an already loaded database is measured as it is):
point it at a scratch database, never at one that holds anything.
"""

import argparse
import http.cookiejar
import json
import os
import random
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path

import psycopg
from psycopg import sql

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ingest.records import BLOCK_RECORDS, pack_block  # noqa: E402

DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/asnwatch_bench_ui"
PASSWORD = "bench-analyst-password"  # noqa: S105 - a scratch database
ACCOUNTS = 20
USERS_PER_ACCOUNT = 100
PRINCIPALS = ACCOUNTS * USERS_PER_ACCOUNT
BUSY_PRINCIPALS = 20
NETWORKS = 500
AWS_NETWORKS = 50  # networks 0..49 are AWS's
DAYS = 30
ANALYSTS = 8
SEED = 20261128


def _on_server(url: str, statement: str) -> None:
    parts = urllib.parse.urlsplit(url)
    name = parts.path.lstrip("/")
    server = urllib.parse.urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(server, autocommit=True) as connection:
        connection.execute(sql.SQL(statement).format(sql.Identifier(name)))


def recreate_database(url: str) -> None:
    _on_server(url, "DROP DATABASE IF EXISTS {} WITH (FORCE)")
    _on_server(url, "CREATE DATABASE {}")


def manage(url: str, *args: str) -> str:
    env = {**os.environ, "DATABASE_URL": url}
    result = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        sys.exit(f"manage.py {' '.join(args)} failed:\n{result.stderr}")
    return result.stdout


def step(label: str):
    """Print a step and how long it took."""

    class Timer:
        def __enter__(self):
            self.started = time.perf_counter()
            print(f"  {label} …", end="", flush=True)

        def __exit__(self, *exc):
            print(f" {time.perf_counter() - self.started:.1f} s", flush=True)

    return Timer()


# Principal p (0 <= p < PRINCIPALS): account p / 100, user p % 100. Users 0-39 of each account
# are IAM users working from an ISP; the others are execution roles calling from AWS.
# The events are made whole in a staging table first, each with its CloudTrail record;
# the event table then takes its columns, and the records go into blocks (ingest.records).
_STAGING = """
CREATE UNLOGGED TABLE bench_event (
    id bigint, event_id text, timestamp timestamptz, ingested timestamptz, provider text,
    action text, outcome text, account_id text, region text, user_name text, user_id text,
    identity_type text, identity_arn text, access_key_id text, invoked_by text,
    session_issuer_arn text, source_address text, source_ip inet, as_number bigint,
    as_organization text, geo jsonb, user_agent text, request_parameters jsonb,
    error_code text, error_message text, event_category text, raw jsonb, log_object_id bigint
)
"""
RECORDS_PER_FILE = 1000

_EVENTS = """
INSERT INTO bench_event (
    id, event_id, timestamp, ingested, provider, action, outcome, account_id, region, user_name,
    user_id, identity_type, identity_arn, access_key_id, invoked_by, session_issuer_arn,
    source_address, source_ip, as_number, as_organization, geo, user_agent, request_parameters,
    error_code, error_message, event_category, raw, log_object_id
)
SELECT
    i,
    'bench-' || i,
    ts,
    ts + interval '4 minutes',
    provider,
    action,
    CASE WHEN i % 97 = 0 THEN 'failure' ELSE 'success' END,
    account,
    'eu-west-1',
    user_name,
    CASE WHEN is_user THEN 'AIDA' ELSE 'AROA' END || lpad(p::text, 16, '0'),
    CASE WHEN is_user THEN 'IAMUser' ELSE 'AssumedRole' END,
    arn,
    access_key,
    NULL,
    CASE WHEN is_user THEN NULL ELSE 'arn:aws:iam::' || account || ':role/' || user_name END,
    ip,
    ip::inet,
    64512 + n,
    organization,
    CASE WHEN n < {aws} THEN NULL
         ELSE jsonb_build_object('country_name', 'Germany', 'country_iso_code', 'DE',
                                 'city_name', 'Berlin') END,
    agent,
    parameters,
    CASE WHEN i % 97 = 0 THEN 'AccessDenied' END,
    NULL,
    CASE WHEN provider = 'lambda.amazonaws.com' AND action = 'Invoke' THEN 'Data'
         ELSE 'Management' END,
    jsonb_build_object(
        'eventVersion', '1.09',
        'eventTime', to_char(ts AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
        'eventSource', provider,
        'eventName', action,
        'awsRegion', 'eu-west-1',
        'sourceIPAddress', ip,
        'userAgent', agent,
        'requestParameters', parameters,
        'userIdentity', jsonb_build_object(
            'type', CASE WHEN is_user THEN 'IAMUser' ELSE 'AssumedRole' END,
            'arn', arn, 'accountId', account, 'accessKeyId', access_key),
        'eventID', 'bench-' || i,
        'recipientAccountId', account,
        'eventType', 'AwsApiCall'
    ),
    NULL
FROM (
    SELECT i, p, n, ts, provider, action, account, user_name, is_user, arn, access_key,
           host(('100.64.0.0'::inet + n * 256 + (i % 250))) AS ip,
           CASE WHEN n < {aws} THEN 'AMAZON-' || lpad(n::text, 2, '0')
                ELSE 'Org ' || n || ' Hosting' END AS organization,
           CASE WHEN is_user THEN 'aws-cli/2.15.0 Python/3.11.6 Linux/6.1 botocore/1.34.0'
                ELSE 'Boto3/1.34.11 md/Botocore#1.34.11 lang/python#3.12.1' END AS agent,
           CASE WHEN provider = 'lambda.amazonaws.com' THEN jsonb_build_object(
                    'functionName',
                    'arn:aws:lambda:eu-west-1:' || account || ':function:fn-' || (p % 7))
                WHEN provider = 's3.amazonaws.com' THEN jsonb_build_object(
                    'bucketName', 'data-' || account, 'key', 'exports/' || i || '.csv')
           END AS parameters
    FROM (
        SELECT i, p, ts, account, user_name, is_user, provider, action,
               CASE WHEN is_user THEN 'arn:aws:iam::' || account || ':user/' || user_name
                    ELSE 'arn:aws:sts::' || account || ':assumed-role/' || user_name
                         || '/session-' || (extract(epoch FROM ts)::bigint / 3600) END AS arn,
               CASE WHEN is_user THEN 'AKIA' || lpad(p::text, 16, '0')
                    ELSE 'ASIA' || lpad(p::text, 6, '0')
                         || lpad(((extract(epoch FROM ts)::bigint / 3600) % 10000000000)::text,
                                 10, '0') END AS access_key,
               -- Mostly the principal's home network; 1 event in 200 from anywhere.
               CASE WHEN i % 200 = 7 THEN (i * 31) % {networks}
                    WHEN is_user THEN {aws} + (p * 13) % ({networks} - {aws})
                    ELSE p % {aws} END AS n
        FROM (
            SELECT i, p,
                   now() - interval '{days} days'
                       + (i::double precision / {events}) * interval '{days} days' AS ts,
                   lpad((100000000000 + p / {per_account})::text, 12, '0') AS account,
                   CASE WHEN p % {per_account} < 40 THEN 'user-' || p ELSE 'role-' || p END
                       AS user_name,
                   p % {per_account} < 40 AS is_user,
                   (ARRAY['lambda.amazonaws.com', 'lambda.amazonaws.com', 'lambda.amazonaws.com',
                          'lambda.amazonaws.com', 'lambda.amazonaws.com', 'lambda.amazonaws.com',
                          'sts.amazonaws.com', 's3.amazonaws.com', 'iam.amazonaws.com',
                          'lambda.amazonaws.com'])[i % 10 + 1] AS provider,
                   (ARRAY['Invoke', 'Invoke', 'Invoke', 'Invoke', 'Invoke', 'Invoke',
                          'GetCallerIdentity', 'GetObject', 'ListUsers',
                          'GetFunction20150331'])[i % 10 + 1] AS action
            FROM (
                SELECT i,
                       -- A third of all events belong to 20 busy principals.
                       CASE WHEN i % 3 = 0 THEN ((i / 3) % {busy}) * 97 % {principals}
                            ELSE (i * 7919) % {principals} END AS p
                FROM generate_series({first}::bigint, {last}::bigint) AS i
            ) AS numbered
        ) AS timed
    ) AS identified
) AS shaped
"""

_STORED = f"""
INSERT INTO ingest_logobject (id, source, key, version, size, status, records, new_events,
                              duplicates, problems, error, read_at)
SELECT n, 'bench', 'file-' || n, 'v1', 0, 'done', {RECORDS_PER_FILE}, {RECORDS_PER_FILE}, 0, 0,
       '', now()
FROM generate_series(1, (SELECT (max(id) - 1) / {RECORDS_PER_FILE} + 1 FROM bench_event)) AS n;
SELECT setval(pg_get_serial_sequence('ingest_logobject', 'id'),
              (SELECT max(id) FROM ingest_logobject));
INSERT INTO ingest_event (id, timestamp, ingested, as_number, log_object_id, stored_xid, record,
    event_id, provider, action, outcome, account_id, user_name, identity_type, access_key_id,
    invoked_by, source_ip, as_organization, function_name)
SELECT id, timestamp, ingested, as_number, (id - 1) / {RECORDS_PER_FILE} + 1, 0,
       (id - 1) % {RECORDS_PER_FILE}, event_id, provider, action, outcome, account_id, user_name,
       identity_type, access_key_id, invoked_by, source_ip, as_organization,
       request_parameters ->> 'functionName'
FROM bench_event;
SELECT setval(pg_get_serial_sequence('ingest_event', 'id'), (SELECT max(id) FROM ingest_event));
INSERT INTO ingest_credentialnetwork (access_key_id, as_number, as_organization, first_seen,
                                      last_seen, event_count)
SELECT access_key_id, coalesce(as_number, 0),
       (array_agg(as_organization ORDER BY timestamp DESC))[1], min(timestamp), max(timestamp),
       count(*)
FROM bench_event WHERE access_key_id IS NOT NULL GROUP BY 1, 2
"""


def store_records(url: str) -> None:
    """Each staged event's record into its file's blocks, as ingest stores them."""
    with psycopg.connect(url) as source, psycopg.connect(url) as target:
        rows = source.cursor(name="records")
        rows.execute(
            "SELECT id, timestamp, raw::text, coalesce(geo::text, '') FROM bench_event ORDER BY id"
        )
        copy_sql = "COPY ingest_logrecords (log_object_id, block, newest, frame) FROM STDIN"
        with target.cursor().copy(copy_sql) as copy:
            key, records, geos, newest = None, [], [], None
            for pk, moment, raw, geo in rows:
                index = (pk - 1) % RECORDS_PER_FILE
                here = ((pk - 1) // RECORDS_PER_FILE + 1, index // BLOCK_RECORDS)
                if here != key and records:
                    copy.write_row((*key, newest, pack_block(records, geos)))
                    records, geos, newest = [], [], None
                key = here
                records.append(raw.encode())
                geos.append(geo.encode())
                newest = moment if newest is None else max(newest, moment)
            if records:
                copy.write_row((*key, newest, pack_block(records, geos)))


_PRINCIPAL_NETWORKS = """
INSERT INTO ingest_principalnetwork (account_id, user_name, as_number, as_organization,
                                     first_seen, last_seen, event_count)
SELECT account_id, user_name, as_number, coalesce(as_organization, ''),
       min(timestamp), max(timestamp), count(*)
FROM ingest_event
WHERE account_id IS NOT NULL AND user_name IS NOT NULL AND as_number IS NOT NULL
GROUP BY account_id, user_name, as_number, coalesce(as_organization, '')
"""

_PRINCIPAL_NETWORK_DAYS = """
INSERT INTO ingest_principalnetworkday (network_id, day, event_count)
SELECT n.id, d.day, d.events
FROM (
    SELECT account_id, user_name, as_number, coalesce(as_organization, '') AS organization,
           (timestamp AT TIME ZONE 'UTC')::date AS day, count(*) AS events
    FROM ingest_event
    WHERE account_id IS NOT NULL AND user_name IS NOT NULL AND as_number IS NOT NULL
    GROUP BY 1, 2, 3, 4, 5
) AS d
JOIN ingest_principalnetwork AS n
  ON n.account_id = d.account_id AND n.user_name = d.user_name
 AND n.as_number = d.as_number AND n.as_organization = d.organization
"""

# Alerts on direct invocations from networks outside AWS, spread evenly over the month.
_ALERTS = """
INSERT INTO triage_alert (
    event_id, as_organization, account_id, user_name, as_number, original_time,
    episode_start, episode_end, event_count, severity, risk_score, reason, created_at, run_id,
    status, close_reason, assignee_id, tags
)
SELECT id, as_organization, account_id, user_name, as_number, timestamp, timestamp,
       timestamp + (id % 50) * interval '1 minute',
       1 + (id % 7),
       'medium', 47,
       'Lambda Invoke ' || function_name || ' by ' || user_name
           || ' from ' || as_organization
           || ', a network this principal has not used in the prior 10 days',
       timestamp + interval '6 minutes',
       NULL,
       CASE WHEN rank % 100 < 8 THEN 'open' WHEN rank % 100 < 15 THEN 'acknowledged'
            ELSE 'closed' END,
       CASE WHEN rank % 100 < 15 THEN ''
            ELSE (ARRAY['false_positive', 'benign_positive', 'true_positive', 'duplicate',
                        'other'])[rank % 5 + 1] END,
       CASE WHEN rank % 3 = 0 THEN NULL ELSE (SELECT min(id) FROM auth_user) + rank % {analysts}
            END,
       '[]'::jsonb
FROM (
    SELECT *, row_number() OVER (ORDER BY id) / {step} AS rank,
           row_number() OVER (ORDER BY id) % {step} AS offset_in_step
    FROM ingest_event
    WHERE provider = 'lambda.amazonaws.com' AND action = 'Invoke' AND outcome = 'success'
      AND as_organization NOT LIKE 'AMAZON%'
) AS candidates
WHERE offset_in_step = 0 AND rank BETWEEN 1 AND {alerts}
"""

_HISTORY = [
    "INSERT INTO triage_alertevent (alert_id, event_id) SELECT id, event_id FROM triage_alert",
    # Every acknowledged and closed alert was acknowledged first; closed ones then closed.
    """INSERT INTO triage_alertstatuschange (alert_id, changed_by_id, changed_at, from_status,
                                             to_status, reason, comment)
       SELECT id, assignee_id, created_at + interval '20 minutes', 'open', 'acknowledged', '', ''
       FROM triage_alert WHERE status <> 'open'""",
    """INSERT INTO triage_alertstatuschange (alert_id, changed_by_id, changed_at, from_status,
                                             to_status, reason, comment)
       SELECT id, assignee_id, created_at + interval '2 hours', 'acknowledged', 'closed',
              close_reason, 'checked with the owner'
       FROM triage_alert WHERE status = 'closed'""",
    """INSERT INTO triage_alertassignment (alert_id, changed_by_id, changed_at, from_assignee_id,
                                           to_assignee_id)
       SELECT id, assignee_id, created_at + interval '10 minutes', NULL, assignee_id
       FROM triage_alert WHERE assignee_id IS NOT NULL""",
    """INSERT INTO triage_alertnote (alert_id, author_id, created_at, text)
       SELECT id, assignee_id, created_at + interval '1 hour', 'Owner says this is the CI runner.'
       FROM triage_alert WHERE status = 'closed' AND id % 4 = 0""",
    """INSERT INTO triage_checkliststep (alert_id, step, done, note, updated_by_id, updated_at)
       SELECT a.id, s.step, true, '', a.assignee_id, a.created_at + interval '30 minutes'
       FROM triage_alert AS a
       CROSS JOIN (VALUES ('network'), ('request'), ('credential'), ('activity')) AS s(step)
       WHERE a.status = 'closed'""",
    """INSERT INTO triage_detectorstate (id, cursor, updated_at)
       SELECT 1, max(id), now() FROM ingest_event""",
    """INSERT INTO triage_detectionrun (started_at, finished_at, cursor_from, cursor_to,
           events_evaluated, candidates, alerts_created, events_joined, suppressed, learning,
           learning_until, deferred, error)
       SELECT now() - interval '3 minutes', now() - interval '3 minutes', max(id) - 5000,
              max(id), 5000, 3000, 4, 10, 0, 0, min(timestamp) + interval '10 days', false, ''
       FROM ingest_event""",
]


def load(url: str, *, events: int, alerts: int) -> None:
    print(f"Loading {events:,} events and {alerts:,} alerts into {url}")
    with step("create the schema (migrate)"):
        recreate_database(url)
        manage(url, "migrate", "--no-input", "--verbosity", "0")
    with step(f"create {ANALYSTS} analysts"):
        usernames = " ".join(f"analyst{n}" for n in range(ANALYSTS))
        manage(
            url,
            "shell",
            "-c",
            "from django.contrib.auth.models import Group, User\n"
            "group = Group.objects.get(name='analyst')\n"
            f"for name in '{usernames}'.split():\n"
            f"    user = User.objects.create_user(name, password='{PASSWORD}')\n"
            "    user.groups.add(group)\n",
        )
    with psycopg.connect(url, autocommit=True) as db:
        db.execute("SET maintenance_work_mem = '1GB'")
        db.execute("SET synchronous_commit = off")
        # Indexes are built once after the load rather than maintained row by row.
        indexes = db.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'ingest_event' "
            "AND indexname NOT IN (SELECT conname FROM pg_constraint)"
        ).fetchall()
        constraints = db.execute(
            "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
            "WHERE conrelid = 'ingest_event'::regclass AND contype = 'u'"
        ).fetchall()
        for name, _ in indexes:
            db.execute(sql.SQL("DROP INDEX {}").format(sql.Identifier(name)))
        for name, _ in constraints:
            db.execute(
                sql.SQL("ALTER TABLE ingest_event DROP CONSTRAINT {}").format(sql.Identifier(name))
            )
        batch = 500_000
        db.execute(_STAGING)
        with step(f"make {events:,} events"):
            for first in range(1, events + 1, batch):
                last = min(first + batch - 1, events)
                shape = {
                    "first": first, "last": last, "events": events, "days": DAYS,
                    "aws": AWS_NETWORKS, "networks": NETWORKS, "principals": PRINCIPALS,
                    "busy": BUSY_PRINCIPALS, "per_account": USERS_PER_ACCOUNT,
                }  # fmt: skip
                db.execute(_EVENTS.format(**shape))
        with step("store the events and their records"):
            for statement in _STORED.split(";"):
                db.execute(statement)
            store_records(url)
            db.execute("DROP TABLE bench_event")
        with step("build the event indexes"):
            for name, definition in constraints:
                db.execute(
                    sql.SQL("ALTER TABLE ingest_event ADD CONSTRAINT {} " + definition).format(
                        sql.Identifier(name)
                    )
                )
            for _, definition in indexes:
                db.execute(definition)
        with step("principal-network history"):
            db.execute(_PRINCIPAL_NETWORKS)
            db.execute(_PRINCIPAL_NETWORK_DAYS)
        with step(f"{alerts:,} alerts with their history"):
            candidates = db.execute(
                "SELECT count(*) FROM ingest_event WHERE provider = 'lambda.amazonaws.com' "
                "AND action = 'Invoke' AND outcome = 'success' "
                "AND as_organization NOT LIKE 'AMAZON%'"
            ).fetchone()[0]
            db.execute(
                _ALERTS.format(step=max(candidates // alerts, 1), alerts=alerts, analysts=ANALYSTS)
            )
            for statement in _HISTORY:
                db.execute(statement)
        with step("vacuum analyze"):
            db.execute("VACUUM ANALYZE")
        counts = db.execute(
            "SELECT (SELECT count(*) FROM ingest_event), (SELECT count(*) FROM triage_alert), "
            "(SELECT count(*) FROM triage_alert WHERE status = 'open'), "
            "pg_size_pretty(pg_database_size(current_database()))"
        ).fetchone()
        print(
            f"  loaded: {counts[0]:,} events, {counts[1]:,} alerts ({counts[2]:,} open), "
            f"database {counts[3]}"
        )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


ACCESS_FORMAT = "%({x-bench-kind}i)s %(s)s %(M)s"


def serve(url: str, port: int, access_log: Path) -> subprocess.Popen:
    """gunicorn on loopback; its access log has each request's kind and server time (ms)."""
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "SECURE_COOKIES": "false",
        "DEBUG": "false",
        "API_RATE_LIMIT_PER_MINUTE": "0",
    }  # fmt: skip — the bench is one token's burst
    command = [
        str(Path(sys.executable).with_name("gunicorn")), "config.wsgi",
        "--bind", f"127.0.0.1:{port}", "--workers", "2", "--log-level", "warning",
        "--access-logfile", str(access_log), "--access-logformat", ACCESS_FORMAT,
    ]  # fmt: skip
    process = subprocess.Popen(command, cwd=ROOT, env=env, start_new_session=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/login/", timeout=2)
            return process
        except OSError:
            time.sleep(0.2)
    process.kill()
    sys.exit("gunicorn did not start")


def server_timings(access_log: Path) -> dict[str, list[float]]:
    """Server-side milliseconds per kind, from the access log (requests without a kind skipped)."""
    timings: dict[str, list[float]] = {}
    for line in access_log.read_text().splitlines():
        kind, _status, milliseconds = line.split()
        if kind != "-":
            timings.setdefault(kind, []).append(float(milliseconds))
    return timings


class Browser:
    def __init__(self, base: str) -> None:
        self.base = base
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar))

    def sign_in(self, username: str) -> None:
        page = self.opener.open(f"{self.base}/login/").read().decode()
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
        form = urllib.parse.urlencode(
            {"username": username, "password": PASSWORD, "csrfmiddlewaretoken": token}
        ).encode()
        request = urllib.request.Request(f"{self.base}/login/", data=form)  # noqa: S310 - loopback
        response = self.opener.open(request)
        if not response.url.endswith("/alerts/"):
            sys.exit(f"signing in failed: landed on {response.url}")

    def get(self, path: str, headers: dict | None = None, kind: str = "") -> tuple[float, str]:
        headers = {**(headers or {}), "X-Bench-Kind": kind.replace(" ", "_")} if kind else headers
        request = urllib.request.Request(self.base + path, headers=headers or {})  # noqa: S310
        started = time.perf_counter()
        with self.opener.open(request) as response:
            body = response.read().decode()
            status = response.status
        elapsed = (time.perf_counter() - started) * 1000
        if status != 200:
            sys.exit(f"{path} answered {status}")
        return elapsed, body


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def list_paths(url: str) -> list[str]:
    """Filter combinations an analyst uses, with values taken from the data."""
    with psycopg.connect(url) as db:
        account, user, organization = db.execute(
            "SELECT account_id, user_name, as_organization FROM triage_alert "
            "GROUP BY 1, 2, 3 ORDER BY count(*) DESC LIMIT 1"
        ).fetchone()
        analyst = db.execute("SELECT id FROM auth_user WHERE username = 'analyst1'").fetchone()[0]
    quote = urllib.parse.quote_plus
    return [
        "/alerts/",
        "/alerts/?status=",
        "/alerts/?status=closed&sort=-time",
        "/alerts/?status=&sort=-events",
        "/alerts/?status=acknowledged&assignee=me",
        "/alerts/?assignee=unassigned",
        f"/alerts/?status=&assignee={analyst}&range=7d",
        "/alerts/?status=&range=24h",
        f"/alerts/?status=&account={account}",
        f"/alerts/?status=&account={account}&principal={quote(user)}",
        f"/alerts/?status=&org={quote(organization)}",
        f"/alerts/?status=&q={quote(user)}",
        "/alerts/?q=fn-3",
        "/alerts/?status=&q=no-such-thing-anywhere",
    ]


# The list grouped (triage/grouping.py): one GROUP BY over the alerts the filters match.
GROUPED_PATHS = [
    "/alerts/?group=principal",
    "/alerts/?group=network",
    "/alerts/?group=account",
    "/alerts/?status=&group=principal",
    "/alerts/?status=&group=network",
    "/alerts/?status=closed&group=account",
    "/alerts/?status=&range=7d&group=principal",
]


def measure(base: str, url: str, *, requests: int) -> dict[str, list[float]]:
    rng = random.Random(SEED)
    browser = Browser(base)
    browser.sign_in("analyst1")
    with psycopg.connect(url) as db:
        alert_ids = [row[0] for row in db.execute("SELECT id FROM triage_alert").fetchall()]
        busy = [
            row[0]
            for row in db.execute(
                "SELECT a.id FROM triage_alert a JOIN ingest_principalnetwork n "
                "ON n.account_id = a.account_id AND n.user_name = a.user_name "
                "GROUP BY a.id ORDER BY sum(n.event_count) DESC LIMIT 200"
            ).fetchall()
        ]
    paths = list_paths(url)
    timings: dict[str, list[float]] = {}

    def record(kind: str, path: str, headers: dict | None = None) -> str:
        elapsed, body = browser.get(path, headers, kind=kind)
        timings.setdefault(kind, []).append(elapsed)
        return body

    for path in paths[:4]:  # warm the workers' connections and PostgreSQL's cache
        browser.get(path)
    for alert_id in rng.sample(alert_ids, 20):
        browser.get(f"/alerts/{alert_id}/")

    for index in range(requests):
        path = paths[index % len(paths)]
        body = record("list: first page", path)
        if index % 5 == 0:
            match = re.search(r'href="(/alerts/\?[^"]*after=[^"]*)"', body)
            if match:
                record("list: next page", match.group(1).replace("&amp;", "&"))
        if index % 7 == 0:
            record(
                "list: htmx fragment",
                path,
                {"HX-Request": "true", "HX-Target": "alert-results"},
            )
    for index in range(requests):
        body = record("grouped list", GROUPED_PATHS[index % len(GROUPED_PATHS)])
        if index % 5 == 0:
            match = re.search(r'href="([^"]*after=[^"]*)" [^>]*rel="next"', body)
            if match:
                record("grouped list: next page", match.group(1).replace("&amp;", "&"))
    for index in range(requests):
        # Every fourth alert page is one of the busiest principals' alerts.
        alert_id = rng.choice(busy) if index % 4 == 0 else rng.choice(alert_ids)
        record("alert page", f"/alerts/{alert_id}/")
    for index in range(requests):
        # The list's side panel, as htmx asks for it: prevalence reads the source IP's index.
        alert_id = rng.choice(busy) if index % 4 == 0 else rng.choice(alert_ids)
        record(
            "alert preview (htmx)",
            f"/alerts/{alert_id}/preview/",
            {"HX-Request": "true", "HX-Target": "alert-preview"},
        )
    with psycopg.connect(url) as db:
        principals = db.execute(
            "SELECT account_id, user_name FROM ingest_principalnetwork "
            "GROUP BY 1, 2 ORDER BY random() LIMIT 30"
        ).fetchall()
        organizations = [
            row[0]
            for row in db.execute(
                "SELECT DISTINCT as_organization FROM triage_alert ORDER BY 1 LIMIT 30"
            ).fetchall()
        ]
    for account, user in principals:
        query = urllib.parse.urlencode({"account": account, "user": user})
        record("principal page", f"/principals/?{query}")
    for organization in organizations:
        record("network page", "/networks/?" + urllib.parse.urlencode({"org": organization}))
    for index, (account, user, organization, address, key) in enumerate(event_samples(url)):
        query = [
            {"account": account, "user": user},
            {"org": organization},
            {"ip": address},
            {"key": key},
        ][index % 4]
        record("events search", "/events/?" + urllib.parse.urlencode(query))
    measure_api(browser, url, requests=requests, alert_ids=alert_ids, busy=busy, record=record)
    return timings


def event_samples(url: str, count: int = 200) -> list[tuple]:
    """Values an analyst pivots on, from recent events: principal, organisation, IP, key."""
    with psycopg.connect(url) as db:
        rows = db.execute(
            "SELECT account_id, user_name, as_organization, host(source_ip), access_key_id "
            "FROM ingest_event WHERE source_ip IS NOT NULL AND access_key_id IS NOT NULL "
            "ORDER BY id DESC LIMIT 2000"
        ).fetchall()
    return random.Random(SEED).choices(rows, k=count)


def api_paths(url: str) -> list[str]:
    """The list's filter combinations (list_paths) as API queries."""
    translated = {"account": "account_id", "principal": "user_name", "org": "organization",
                  "q": "text"}  # fmt: skip
    paths = []
    for path in list_paths(url):
        query = urllib.parse.parse_qs(urllib.parse.urlsplit(path).query, keep_blank_values=True)
        if "range" in query or query.get("assignee") not in (None, ["unassigned"]):
            continue  # the page's shorthands for a time range and "me"
        fields = {translated.get(name, name): values[0] for name, values in query.items()}
        if fields.pop("assignee", None) == "unassigned":
            fields["unassigned"] = "true"
        if fields.get("status", "open") == "":
            fields.pop("status")
        paths.append("/api/v1/alerts?" + urllib.parse.urlencode(fields))
    return paths


def measure_api(browser, url: str, *, requests: int, alert_ids, busy, record) -> None:
    """The JSON API with an analyst's token: alert list (and next pages), alert detail,
    event search by principal, network and source IP."""
    token = manage(url, "api_token", "create", "analyst1", "--name", "bench").strip()
    bearer = {"Authorization": f"Bearer {token}"}
    rng = random.Random(SEED)
    paths = api_paths(url)
    for path in paths[:4]:
        browser.get(path, bearer)
    for index in range(requests):
        body = record("api: alert list", paths[index % len(paths)], bearer)
        cursor = json.loads(body)["next"]
        if index % 5 == 0 and cursor:
            separator = "&" if "?" in paths[index % len(paths)] else "?"
            next_page = f"{paths[index % len(paths)]}{separator}after={urllib.parse.quote(cursor)}"
            record("api: next page", next_page, bearer)
    for index in range(requests):
        alert_id = rng.choice(busy) if index % 4 == 0 else rng.choice(alert_ids)
        record("api: alert detail", f"/api/v1/alerts/{alert_id}", bearer)
    for index, (account, user, organization, address, _key) in enumerate(
        event_samples(url, requests)
    ):
        query = [
            {"account_id": account, "user_name": user},
            {"organization": organization},
            {"source_ip": address},
        ][index % 3]
        record("api: event search", "/api/v1/events?" + urllib.parse.urlencode(query), bearer)


def report(client: dict[str, list[float]], server: dict[str, list[float]]) -> None:
    print(
        f"\n{'':22} {'requests':>9} {'server p50':>11} {'p95':>7} {'max':>7}"
        f"   {'client p50':>11} {'p95':>7}   (ms)"
    )
    for kind, values in client.items():
        at_server = server.get(kind.replace(" ", "_"), [])
        print(
            f"{kind:22} {len(values):>9} {statistics.median(at_server):>11.1f} "
            f"{percentile(at_server, 0.95):>7.1f} {max(at_server):>7.1f}   "
            f"{statistics.median(values):>11.1f} {percentile(values, 0.95):>7.1f}"
        )

    def combined(prefix: str) -> list[float]:
        return [v for kind, values in server.items() if kind.startswith(prefix) for v in values]

    print(
        f"\nat the server: alert list (all kinds) p95 {percentile(combined('list'), 0.95):.1f} ms, "
        f"grouped list p95 {percentile(combined('grouped_list'), 0.95):.1f} ms, "
        f"alert page p95 {percentile(combined('alert_page'), 0.95):.1f} ms, "
        f"events search p95 {percentile(combined('events_search'), 0.95):.1f} ms, "
        f"API p95 {percentile(combined('api'), 0.95):.1f} ms (target < 150 ms)"
    )
    load = os.getloadavg()
    print(f"load average: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} on {os.cpu_count()} CPUs")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=5_000_000)
    parser.add_argument("--alerts", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=400, help="per kind of page")
    parser.add_argument("--database-url", default=DEFAULT_DATABASE_URL)
    parser.add_argument("--reuse", action="store_true", help="measure an already loaded database")
    args = parser.parse_args()

    if not args.reuse:
        started = time.perf_counter()
        load(args.database_url, events=args.events, alerts=args.alerts)
        print(f"  load total {time.perf_counter() - started:.0f} s")
    else:
        manage(args.database_url, "migrate", "--no-input", "--verbosity", "0")
    port = free_port()
    with tempfile.TemporaryDirectory() as folder:
        access_log = Path(folder) / "access.log"
        server = serve(args.database_url, port, access_log)
        try:
            print(
                f"Measuring through gunicorn (2 workers) at http://127.0.0.1:{port}, sequentially"
            )
            client = measure(f"http://127.0.0.1:{port}", args.database_url, requests=args.requests)
        finally:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(timeout=30)
        report(client, server_timings(access_log))


if __name__ == "__main__":
    main()
