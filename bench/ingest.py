"""Ingestion benchmark: CloudTrail log files into PostgreSQL, against the parse-only floor.

    .venv/bin/python bench/ingest.py [--events N] [--database-url URL]
    .venv/bin/python bench/ingest.py --compare OTHER_CHECKOUT [--rounds R]

Writes N events as gzip CloudTrail log files in S3's key layout (a mix of
Lambda Invoke data events and management events, from many source addresses
spread over a generated ASN database) into a temporary folder, then measures:

  floor       decompress and JSON-parse every file, nothing else;
  end to end  `manage.py ingest_files FOLDER` into a fresh database, run as a
              child process so its peak memory is its own.

With --compare, only the end-to-end run is measured, for this checkout and
another (say, a `git worktree` of the previous commit) in turns, R rounds on
the same files: a before/after figure that PostgreSQL's run-to-run variation
affects alike.

The database named in --database-url is dropped and created again: point it at
a scratch database, never at one that holds anything.
"""

import argparse
import gzip
import json
import multiprocessing
import os
import random
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
from psycopg import sql

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.scratch import drop_database, recreate_database, stored_events  # noqa: E402
from ingest.mmdb import AsnEntry, write_asn_database  # noqa: E402

FILES_PER_TRANSACTION = 8  # as ingest.files stores them
DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/asnwatch_bench_ingest"
SEED = 20260101
ACCOUNTS = ["111122223333", "444455556666", "777788889999", "123456789012"]
REGIONS = ["eu-west-1", "us-east-1", "us-west-2", "ap-southeast-2"]
# Real trails deliver a file per account, region and ~5 minutes: a few hundred
# to a few thousand records each, depending on how busy the account is.
RECORDS_PER_FILE = (200, 3000)
INVOKE_SHARE = 0.6
# A file may repeat a record (DESIGN.md section 2); the store must keep one.
REPEAT_SHARE = 0.001
ASN_NETWORKS = 4000
DISTINCT_ADDRESSES = 150_000
USERS_PER_ACCOUNT = 150
ROLES_PER_ACCOUNT = 60
# Calls from outside a principal's usual addresses: travel, a new VPN, an attacker.
ELSEWHERE_SHARE = 0.05
USER_AGENTS = [
    "aws-cli/2.15.0 Python/3.11.6 Linux/6.1 exe/x86_64.amzn.2023 prompt/off command/lambda.invoke",
    "Boto3/1.34.11 md/Botocore#1.34.11 ua/2.0 os/linux#5.10 md/arch#x86_64 lang/python#3.12.1 "
    "md/pyimpl#CPython cfg/retry-mode#legacy Botocore/1.34.11",
    "aws-sdk-go-v2/1.24.0 os/linux lang/go#1.21.5 md/GOOS#linux md/GOARCH#amd64 api/lambda#1.49.6",
    "aws-sdk-java/2.21.42 Linux/5.10 OpenJDK_64-Bit_Server_VM/17.0.9+8-LTS Java/17.0.9 "
    "vendor/Amazon.com_Inc. io/sync http/Apache cfg/retry-mode/legacy",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.0.0 Safari/537.36",
    "terraform-provider-aws/5.31.0 (+https://registry.terraform.io) HashiCorp-terraform-exec/0.19",
]
ORG_NAMES = [
    "Evil VPS Ltd", "Example Office Networks", "Hetzner Online GmbH", "OVH SAS",
    "DigitalOcean, LLC", "Comcast Cable Communications, LLC", "Deutsche Telekom AG",
    "AMAZON-02", "AMAZON-AES", "GOOGLE-CLOUD-PLATFORM", "MICROSOFT-CORP-MSN-AS-BLOCK",
    "Linode, LLC", "Vodafone GmbH", "Orange S.A.", "M247 Europe SRL", "Choopa, LLC",
]  # fmt: skip

RUNNING = {"items": [{"value": "running"}]}


@dataclass(frozen=True)
class FilePlan:
    index: int
    path: Path
    records: int
    delivered: datetime
    account: str
    region: str


# --- generating the input ----------------------------------------------------------


def _networks(rng: random.Random) -> list[AsnEntry]:
    """Distinct /24 (IPv4) and /48 (IPv6) networks; a few carry no organisation."""
    entries, seen = [], set()
    while len(entries) < ASN_NETWORKS:
        if rng.random() < 0.9:
            prefix = (rng.randint(11, 223), rng.randint(0, 255), rng.randint(0, 255))
            if prefix in seen or prefix[0] in (127, 169, 172, 192, 198):
                continue
            network = "{}.{}.{}.0/24".format(*prefix)
        else:
            prefix = (rng.randint(0x2001, 0x2A10), rng.randint(0, 0xFFFF), rng.randint(0, 0xFFFF))
            if prefix in seen:
                continue
            network = "{:x}:{:x}:{:x}::/48".format(*prefix)
        seen.add(prefix)
        number = 64512 + len(entries)
        organisation = None if rng.random() < 0.02 else f"{rng.choice(ORG_NAMES)} #{number}"
        entries.append(AsnEntry(network, number, organisation))
    return entries


def _addresses(rng: random.Random, networks: list[AsnEntry]) -> list[str]:
    """Source addresses, mostly inside the networks, some outside any of them."""
    addresses = set()
    while len(addresses) < DISTINCT_ADDRESSES:
        if rng.random() < 0.05:
            addresses.add(f"10.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}")
            continue
        network = rng.choice(networks).network
        if ":" in network:
            host = f":{rng.randint(0, 0xFFFF):x}::{rng.randint(1, 0xFFFF):x}"
            addresses.add(network.replace("::/48", host))
        else:
            addresses.add(network.replace(".0/24", f".{rng.randint(1, 254)}"))
    return sorted(addresses)


def _event_id(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class Principal:
    """An IAM user or role of one account, and the few addresses it usually calls from."""

    account: str
    name: str
    role: bool
    principal_id: str
    access_key_id: str
    home: tuple[str, ...]


def _principals(rng: random.Random, addresses: list[str]) -> dict[str, list[Principal]]:
    by_account: dict[str, list[Principal]] = {}
    for account in ACCOUNTS:
        principals = []
        for number in range(USERS_PER_ACCOUNT + ROLES_PER_ACCOUNT):
            role = number >= USERS_PER_ACCOUNT
            # Offices and NAT gateways: some addresses are shared by many principals.
            home = tuple(
                addresses[int(len(addresses) * rng.random() ** 4)] for _ in range(rng.randint(1, 3))
            )
            principals.append(
                Principal(
                    account=account,
                    name=f"role-{number}" if role else f"user-{number}",
                    role=role,
                    principal_id=f"{'AROA' if role else 'AIDA'}{rng.getrandbits(64):016X}",
                    access_key_id=f"AKIA{rng.getrandbits(64):016X}",
                    home=home,
                )
            )
        by_account[account] = principals
    return by_account


def _identity(rng: random.Random, principal: Principal) -> dict:
    account = principal.account
    if not principal.role:
        return {
            "type": "IAMUser",
            "principalId": principal.principal_id,
            "arn": f"arn:aws:iam::{account}:user/{principal.name}",
            "accountId": account,
            "accessKeyId": principal.access_key_id,
            "userName": principal.name,
        }
    session = f"session-{rng.getrandbits(16):04x}"
    return {
        "type": "AssumedRole",
        "principalId": f"{principal.principal_id}:{session}",
        "arn": f"arn:aws:sts::{account}:assumed-role/{principal.name}/{session}",
        "accountId": account,
        "accessKeyId": f"ASIA{rng.getrandbits(64):016X}",
        "sessionContext": {
            "sessionIssuer": {
                "type": "Role",
                "principalId": principal.principal_id,
                "arn": f"arn:aws:iam::{account}:role/{principal.name}",
                "accountId": account,
                "userName": principal.name,
            },
            "webIdFederationData": {},
            "attributes": {"creationDate": "2026-01-01T00:00:00Z", "mfaAuthenticated": "false"},
        },
    }


def _record(rng: random.Random, plan: FilePlan, world: "World") -> dict:
    account, region = plan.account, plan.region
    when = plan.delivered - timedelta(seconds=rng.randint(60, 900))
    principals = world.principals[account]
    # A few principals (automation) make most of the calls.
    principal = principals[int(len(principals) * rng.random() ** 3)]
    if rng.random() < ELSEWHERE_SHARE:
        address = rng.choice(world.addresses)
    else:
        address = rng.choice(principal.home)
    identity = _identity(rng, principal)
    record: dict = {
        "eventVersion": "1.09",
        "userIdentity": identity,
        "eventTime": _iso(when),
        "awsRegion": region,
        "sourceIPAddress": address,
        "userAgent": rng.choice(USER_AGENTS),
        "requestID": _event_id(rng),
        "eventID": _event_id(rng),
        "readOnly": True,
        "eventType": "AwsApiCall",
        "managementEvent": True,
        "recipientAccountId": account,
        "eventCategory": "Management",
        "tlsDetails": {
            "tlsVersion": "TLSv1.3",
            "cipherSuite": "TLS_AES_128_GCM_SHA256",
            "clientProvidedHostHeader": f"lambda.{region}.amazonaws.com",
        },
    }
    roll = rng.random()
    if roll < INVOKE_SHARE:
        function = f"arn:aws:lambda:{region}:{account}:function:fn-{rng.randint(1, 400)}"
        record.update(
            eventSource="lambda.amazonaws.com",
            eventName="Invoke",
            requestParameters={"functionName": function, "invocationType": "RequestResponse"},
            responseElements=None,
            additionalEventData={"functionVersion": f"{function}:$LATEST"},
            readOnly=False,
            resources=[{"accountId": account, "type": "AWS::Lambda::Function", "ARN": function}],
            managementEvent=False,
            eventCategory="Data",
        )
        if rng.random() < 0.15:
            # Invoked by another AWS service on the principal's behalf.
            identity["invokedBy"] = "apigateway.amazonaws.com"
            record["sourceIPAddress"] = "apigateway.amazonaws.com"
            record["userAgent"] = "apigateway.amazonaws.com"
    elif roll < 0.75:
        record.update(
            eventSource="sts.amazonaws.com",
            eventName="AssumeRole",
            requestParameters={
                "roleArn": f"arn:aws:iam::{account}:role/role-{rng.randint(1, 120)}",
                "roleSessionName": f"session-{rng.getrandbits(32):08x}",
                "durationSeconds": 3600,
            },
            responseElements={
                "credentials": {
                    "accessKeyId": f"ASIA{rng.getrandbits(64):016X}",
                    "sessionToken": f"IQoJb3JpZ2luX2VjE{rng.getrandbits(256):064x}",
                    "expiration": "Jan 1, 2026, 1:00:00 AM",
                },
                "assumedRoleUser": {
                    "assumedRoleId": f"AROA{rng.getrandbits(48):012X}:session",
                    "arn": f"arn:aws:sts::{account}:assumed-role/role/session",
                },
            },
            readOnly=True,
        )
        if rng.random() < 0.5:
            record["sourceIPAddress"] = "lambda.amazonaws.com"
            record["userAgent"] = "lambda.amazonaws.com"
            identity["invokedBy"] = "lambda.amazonaws.com"
    elif roll < 0.9:
        record.update(
            eventSource="ec2.amazonaws.com",
            eventName="DescribeInstances",
            requestParameters={
                "instancesSet": {},
                "filterSet": {"items": [{"name": "instance-state-name", "valueSet": RUNNING}]},
            },
            responseElements=None,
        )
    elif roll < 0.97:
        record.update(
            eventSource="lambda.amazonaws.com",
            eventName=rng.choice(["GetFunction20150331v2", "ListFunctions20150331"]),
            requestParameters={"functionName": f"fn-{rng.randint(1, 400)}"},
            responseElements=None,
        )
    else:
        record.update(
            eventSource="signin.amazonaws.com",
            eventName="ConsoleLogin",
            requestParameters=None,
            responseElements={"ConsoleLogin": "Success"},
            additionalEventData={"MFAUsed": "Yes", "MobileVersion": "No"},
            readOnly=False,
            eventType="AwsConsoleSignIn",
        )
    if rng.random() < 0.03:
        record["errorCode"] = "AccessDenied"
        record["errorMessage"] = f"User: {identity['arn']} is not authorized to perform this action"
    if rng.random() < 0.002:
        record["sourceIPAddress"] = "AWS Internal"
    return record


@dataclass(frozen=True)
class World:
    addresses: list[str]
    principals: dict[str, list[Principal]]


def _write_file(plan: FilePlan, seed: int, world: World) -> tuple[int, set[str]]:
    """Write one log file; returns how many records repeat an earlier one, and the sources."""
    rng = random.Random(seed)
    records: list[dict] = []
    repeats = 0
    for _ in range(plan.records):
        if records and rng.random() < REPEAT_SHARE:
            records.append(rng.choice(records))
            repeats += 1
        else:
            records.append(_record(rng, plan, world))
    rng.shuffle(records)
    plan.path.parent.mkdir(parents=True, exist_ok=True)
    plan.path.write_bytes(gzip.compress(json.dumps({"Records": records}).encode(), 6))
    return repeats, {record["sourceIPAddress"] for record in records}


_world_of_worker: World | None = None


def _init_worker(world: World) -> None:
    global _world_of_worker
    _world_of_worker = world


def _write_file_in_worker(job: tuple[FilePlan, int]) -> tuple[int, set[str]]:
    assert _world_of_worker is not None
    return _write_file(*job, _world_of_worker)


def generate(folder: Path, events: int) -> tuple[list[Path], int, int]:
    """Write the ASN database and the log files.

    Returns the files, how many records repeat another, and how many distinct
    source addresses the records have.
    """
    rng = random.Random(SEED)
    networks = _networks(rng)
    write_asn_database(folder / "asn.mmdb", networks)
    addresses = _addresses(rng, networks)
    world = World(addresses, _principals(rng, addresses))

    logs = folder / "logs"
    plans, left = [], events
    delivered = datetime(2026, 1, 1, tzinfo=UTC)
    while left > 0:
        count = min(left, rng.randint(*RECORDS_PER_FILE))
        account, region = rng.choice(ACCOUNTS), rng.choice(REGIONS)
        delivered += timedelta(seconds=rng.randint(1, 30))
        name = (
            f"{account}_CloudTrail_{region}_{delivered:%Y%m%dT%H%MZ}_"
            f"{rng.getrandbits(64):016X}.json.gz"
        )
        path = logs / "AWSLogs" / account / "CloudTrail" / region / f"{delivered:%Y/%m/%d}" / name
        plans.append(FilePlan(len(plans), path, count, delivered, account, region))
        left -= count
    jobs = [(plan, SEED + plan.index) for plan in plans]
    with multiprocessing.Pool(os.cpu_count(), initializer=_init_worker, initargs=(world,)) as pool:
        repeats, sources = 0, set()
        for file_repeats, file_sources in pool.imap_unordered(
            _write_file_in_worker, jobs, chunksize=8
        ):
            repeats += file_repeats
            sources |= file_sources
    return [plan.path for plan in plans], repeats, len(sources)


# --- measuring ---------------------------------------------------------------------


def measure_floor(paths: list[Path]) -> tuple[float, int]:
    """Seconds to read, decompress and parse every file, and the records found."""
    records = 0
    started = time.perf_counter()
    for path in paths:
        records += len(json.loads(gzip.decompress(path.read_bytes()))["Records"])
    return time.perf_counter() - started, records


def _tree_rss(pid: int) -> int:
    """Resident bytes of a process and all its descendants, now (0 once it has gone)."""
    total = 0
    pending = [pid]
    while pending:
        current = pending.pop()
        try:
            status = Path(f"/proc/{current}/status").read_text()
            children = Path(f"/proc/{current}/task/{current}/children").read_text()
        except OSError:
            continue
        for line in status.splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1]) * 1024
        pending.extend(int(child) for child in children.split())
    return total


def run_child(
    command: list[str], env: dict[str, str], cwd: Path = ROOT
) -> tuple[float, int, int, str, str]:
    """Run a command; returns (seconds, exit status, peak RSS in bytes, stdout, stderr).

    The peak is that of the command and its own child processes together,
    sampled every 20 ms.
    """
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        child = subprocess.Popen(command, cwd=cwd, env=env, stdout=out, stderr=err)
        peak = 0
        finished = threading.Event()

        def sample() -> None:
            nonlocal peak
            while not finished.wait(0.02):
                peak = max(peak, _tree_rss(child.pid))

        sampler = threading.Thread(target=sample)
        sampler.start()
        # wait4 gives this child's own rusage, not the sum over all children so far.
        _, status, usage = os.wait4(child.pid, 0)
        seconds = time.perf_counter() - started
        finished.set()
        sampler.join()
        child.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        return (
            seconds,
            child.returncode,
            max(peak, usage.ru_maxrss * 1024),  # ru_maxrss is in kilobytes on Linux
            out.read().decode(errors="replace"),
            err.read().decode(errors="replace"),
        )


def checkpoint(url: str) -> None:
    """Start a measurement with nothing left for PostgreSQL to write from the last."""
    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute("CHECKPOINT")


def measure_database_alone(url: str, folder: Path) -> tuple[float, int]:
    """Seconds PostgreSQL takes to store the stored events again, and how many there are.

    Each file's events, dumped in COPY's binary form, go back in with one COPY
    per file and a commit every FILES_PER_TRANSACTION files, as ingest_files
    stores them: the database's own share of ingestion (checking the JSON,
    the indexes, the WAL, the commits) with no Python work around it, and
    without the principal-network history. ingest_files cannot be faster.
    """
    dump = folder / "events.copy"
    chunks: list[tuple[int, int]] = []
    with psycopg.connect(url) as connection, dump.open("wb") as out:
        columns = sql.SQL(", ").join(
            sql.Identifier(name)
            for (name,) in connection.execute(
                "SELECT column_name FROM information_schema.columns"
                " WHERE table_name = 'ingest_event' AND column_name <> 'id'"
                " ORDER BY ordinal_position"
            )
        )
        # A file's events are stored in one transaction under a lock: their ids
        # are one run, and a range of the primary key finds them.
        files = connection.execute(
            "SELECT min(id), max(id) FROM ingest_event GROUP BY log_object_id ORDER BY 1"
        ).fetchall()
        for first, last in files:
            start = out.tell()
            query = sql.SQL(
                "COPY (SELECT {} FROM ingest_event WHERE id BETWEEN {} AND {} ORDER BY id)"
                " TO STDOUT (FORMAT BINARY)"
            ).format(columns, first, last)
            with connection.cursor().copy(query) as copy:
                for block in copy:
                    out.write(block)
            chunks.append((start, out.tell() - start))
        connection.execute("TRUNCATE ingest_event CASCADE")
        connection.commit()

    checkpoint(url)
    copy_in = sql.SQL("COPY ingest_event ({}) FROM STDIN (FORMAT BINARY)").format(columns)
    with psycopg.connect(url) as connection, dump.open("rb") as source:
        started = time.perf_counter()
        for group in range(0, len(chunks), FILES_PER_TRANSACTION):
            with connection.transaction():
                for start, length in chunks[group : group + FILES_PER_TRANSACTION]:
                    source.seek(start)
                    with connection.cursor().copy(copy_in) as copy:
                        copy.write(source.read(length))
        seconds = time.perf_counter() - started
    dump.unlink()
    return seconds, stored_events(url)


def wal_position(url: str) -> str:
    with psycopg.connect(url) as connection:
        return connection.execute("SELECT pg_current_wal_lsn()::text").fetchone()[0]


def wal_since(url: str, start: str) -> int:
    """Bytes of WAL the server wrote since start (every database on it: run nothing else)."""
    with psycopg.connect(url) as connection:
        return connection.execute(
            "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), %s::pg_lsn)::bigint", [start]
        ).fetchone()[0]


def storage(url: str) -> list[tuple[str, int]]:
    """Bytes on disk of each table of the database with its indexes and TOAST, largest first.

    A partitioned table counts as the sum of its partitions, under its own name.
    """
    with psycopg.connect(url) as connection:
        return connection.execute(
            """
            SELECT coalesce(parent.relname, c.relname) AS name,
                   sum(pg_total_relation_size(c.oid))::bigint AS bytes
              FROM pg_class c
              JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = 'public'
              LEFT JOIN pg_inherits i ON i.inhrelid = c.oid
              LEFT JOIN pg_class parent ON parent.oid = i.inhparent
             WHERE c.relkind = 'r'
             GROUP BY 1
             ORDER BY 2 DESC
            """
        ).fetchall()


@dataclass
class EndToEnd:
    seconds: float
    peak: int  # bytes of RSS
    wal: int  # bytes of WAL written while ingest_files ran


def ingest_end_to_end(checkout: Path, url: str, folder: Path, events: int) -> EndToEnd | None:
    """`manage.py ingest_files` of checkout into a fresh database."""
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "GEOIP_ASN_DB": str(folder / "asn.mmdb"),
        "ASNWATCH_VAR_DIR": str(folder / "var"),
        "PYTHONUNBUFFERED": "1",
    }
    env.pop("GEOIP_CITY_DB", None)
    recreate_database(url)
    manage = [sys.executable, str(checkout / "manage.py")]
    _, status, _, out, err = run_child([*manage, "migrate", "--verbosity=0"], env, checkout)
    if status != 0:
        print(f"{checkout}: migrate failed ({status}):\n{out}{err}", file=sys.stderr)
        return None
    checkpoint(url)
    start = wal_position(url)
    seconds, status, peak, out, err = run_child(
        [*manage, "ingest_files", str(folder / "logs")], env, checkout
    )
    wal = wal_since(url, start)
    print(f"{checkout}: {out.strip()}")
    if status != 0:
        print(f"{checkout}: ingest_files exited {status}:\n{err[-4000:]}", file=sys.stderr)
        return None
    return EndToEnd(seconds, peak, wal)


def compare(other: Path, rounds: int, url: str, folder: Path, events: int, expected: int) -> int:
    """End to end for this checkout and other in turns; the median rate of each."""
    rates: dict[Path, list[float]] = {ROOT: [], other: []}
    for round_number in range(1, rounds + 1):
        for checkout in (other, ROOT):
            measured = ingest_end_to_end(checkout, url, folder, events)
            if measured is None:
                return 1
            stored = stored_events(url)
            if stored != expected:
                print(f"{checkout}: stored {stored:,}, expected {expected:,}", file=sys.stderr)
                return 1
            rate = events / measured.seconds
            rates[checkout].append(rate)
            size = sum(bytes_ for _, bytes_ in storage(url))
            print(
                f"round {round_number} {checkout}: {measured.seconds:.1f}s, {rate:,.0f} "
                f"events/s, peak RSS {measured.peak / 2**20:,.0f} MB, "
                f"{size / stored:,.0f} bytes and {measured.wal / stored:,.0f} bytes of WAL "
                "per event"
            )
    for checkout, measured in rates.items():
        ordered = sorted(measured)
        print(
            f"{checkout}: median {ordered[len(ordered) // 2]:,.0f} events/s "
            f"(runs: {', '.join(f'{rate:,.0f}' for rate in measured)})"
        )
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument(
        "--database-url",
        default=DEFAULT_DATABASE_URL,
        help="a scratch PostgreSQL database: it is dropped and created again",
    )
    parser.add_argument("--keep", action="store_true", help="keep the files and the database")
    parser.add_argument(
        "--compare",
        type=Path,
        metavar="CHECKOUT",
        help="measure end to end for this checkout and CHECKOUT in turns",
    )
    parser.add_argument("--rounds", type=int, default=3, help="turns each, with --compare")
    arguments = parser.parse_args()
    url = arguments.database_url
    if not url.startswith(("postgres://", "postgresql://")):
        parser.error("--database-url must be a PostgreSQL URL")

    folder = Path(tempfile.mkdtemp(prefix="asnwatch-bench-"))
    try:
        started = time.perf_counter()
        paths, repeats, distinct = generate(folder, arguments.events)
        size = sum(path.stat().st_size for path in paths)
        print(
            f"input: {arguments.events:,} records in {len(paths):,} files "
            f"({size / 1e6:,.0f} MB gzip), {repeats:,} repeated records, "
            f"{distinct:,} distinct source addresses; "
            f"written in {time.perf_counter() - started:.0f}s"
        )

        if arguments.compare:
            other = arguments.compare.resolve()
            expected = arguments.events - repeats
            return compare(other, arguments.rounds, url, folder, arguments.events, expected)

        floor_seconds, records = measure_floor(paths)
        assert records == arguments.events, records
        floor_rate = records / floor_seconds
        print(f"floor (gunzip + json.loads): {floor_seconds:.1f}s, {floor_rate:,.0f} events/s")

        measured = ingest_end_to_end(ROOT, url, folder, arguments.events)
        if measured is None:
            return 1
        stored = stored_events(url)
        expected = arguments.events - repeats
        if stored != expected:
            print(f"stored {stored:,} events, expected {expected:,}", file=sys.stderr)
            return 1
        rate = arguments.events / measured.seconds
        print(
            f"end to end (ingest_files into PostgreSQL): {measured.seconds:.1f}s, "
            f"{rate:,.0f} events/s"
        )
        print(f"ratio floor / end to end: {floor_rate / rate:.1f}x")
        peak = measured.peak / 2**20
        print(f"peak RSS of ingest_files with its decoding process: {peak:,.0f} MB")
        tables = storage(url)
        total = sum(bytes_ for _, bytes_ in tables)
        print(
            f"stored: {total / stored:,.0f} bytes per event in tables and indexes "
            f"({total / 1e6:,.0f} MB), {measured.wal / stored:,.0f} bytes of WAL per event; "
            + ", ".join(f"{name} {bytes_ / stored:,.0f}" for name, bytes_ in tables[:4] if bytes_)
        )

        seconds, copied = measure_database_alone(url, folder)
        print(
            f"database alone (the stored events copied back in, one COPY per file, "
            f"a commit every {FILES_PER_TRANSACTION} files): "
            f"{seconds:.1f}s, {copied / seconds:,.0f} events/s"
        )
        return 0
    finally:
        if arguments.keep:
            print(f"kept {folder} and {url}")
        else:
            shutil.rmtree(folder, ignore_errors=True)
            drop_database(url)


if __name__ == "__main__":
    sys.exit(main())
