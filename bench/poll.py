"""Polling benchmark: a day of CloudTrail from an S3 API server into PostgreSQL.

    .venv/bin/python bench/poll.py [--records-per-file N] [--database-url URL] [--compare-files]

Writes one day of CloudTrail logs for 3 accounts x 4 regions — a file per
account, region and 5 minutes, as CloudTrail delivers them, with the record mix
of bench/ingest.py — into moto's S3 server (started here, on a loopback port),
then measures `manage.py poll` reading the bucket into a fresh database, run as
a child process as the worker would. With --compare-files it also measures
`manage.py ingest_files` on the same files from local disk, which is the same
work without S3.

The database named in --database-url is dropped and created again: point it at
a scratch database, never at one that holds anything.
"""

import argparse
import gzip
import json
import logging
import multiprocessing
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import boto3
from moto.server import ThreadedMotoServer

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.scratch import drop_database, recreate_database, stored_events  # noqa: E402
from ingest.mmdb import AsnEntry, write_asn_database  # noqa: E402

DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/asnwatch_bench_poll"
ACCOUNTS = ["111122223333", "444455556666", "777788889999"]
REGIONS = ["eu-west-1", "us-east-1", "us-west-2", "ap-southeast-2"]
ORG = "o-a1b2c3d4e5"
SEED = 20261128
NETWORKS = 2000
INVOKE_SHARE = 0.6
ORG_NAMES = [
    "Evil VPS Ltd",
    "Example Office Networks",
    "Hetzner Online GmbH",
    "OVH SAS",
    "AMAZON-02",
]
BUCKET = "bench-trail"
FILES_PER_DAY = 288  # one per 5 minutes


@dataclass(frozen=True)
class FilePlan:
    index: int
    key: str
    records: int
    delivered: datetime
    account: str
    region: str


def _networks(rng: random.Random) -> list[AsnEntry]:
    entries = []
    for number in range(NETWORKS):
        network = f"{11 + number // 256}.{number % 256}.{rng.randint(0, 255)}.0/24"
        entries.append(AsnEntry(network, 64512 + number, f"{rng.choice(ORG_NAMES)} #{number}"))
    return entries


def _record(rng: random.Random, plan: FilePlan, addresses: list[str]) -> dict:
    account, region = plan.account, plan.region
    user = f"user-{rng.randint(1, 200)}"
    when = plan.delivered - timedelta(seconds=rng.randint(60, 900))
    record = {
        "eventVersion": "1.09",
        "userIdentity": {
            "type": "IAMUser",
            "principalId": f"AIDA{rng.getrandbits(64):016X}",
            "arn": f"arn:aws:iam::{account}:user/{user}",
            "accountId": account,
            "accessKeyId": f"AKIA{rng.getrandbits(64):016X}",
            "userName": user,
        },
        "eventTime": when.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "awsRegion": region,
        # Popular addresses recur; the long tail is seen once or twice.
        "sourceIPAddress": addresses[int(len(addresses) * rng.random() ** 3)],
        "userAgent": "aws-cli/2.15.0 Python/3.11.6 Linux/6.1 botocore/1.34.0",
        "requestID": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
        "eventID": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
        "eventType": "AwsApiCall",
        "recipientAccountId": account,
    }
    function = f"arn:aws:lambda:{region}:{account}:function:fn-{rng.randint(1, 300)}"
    if rng.random() < INVOKE_SHARE:
        record.update(
            eventSource="lambda.amazonaws.com",
            eventName="Invoke",
            requestParameters={"functionName": function, "invocationType": "RequestResponse"},
            resources=[{"accountId": account, "type": "AWS::Lambda::Function", "ARN": function}],
            readOnly=False,
            managementEvent=False,
            eventCategory="Data",
        )
    else:
        record.update(
            eventSource=rng.choice(
                ["lambda.amazonaws.com", "sts.amazonaws.com", "ec2.amazonaws.com"]
            ),
            eventName=rng.choice(["GetFunction20150331v2", "AssumeRole", "DescribeInstances"]),
            requestParameters={"functionName": function.rsplit(":", 1)[-1]},
            readOnly=True,
            managementEvent=True,
            eventCategory="Management",
        )
    return record


def _write(job: tuple[FilePlan, int, list[str], Path]) -> int:
    plan, seed, addresses, logs = job
    rng = random.Random(seed)
    records = [_record(rng, plan, addresses) for _ in range(plan.records)]
    path = logs / plan.key
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(json.dumps({"Records": records}).encode(), 6))
    return path.stat().st_size


def generate(folder: Path, day: datetime, records_per_file: int) -> tuple[list[FilePlan], int]:
    """Write the ASN database and a day of log files in S3's layout; returns (plans, bytes)."""
    rng = random.Random(SEED)
    networks = _networks(rng)
    write_asn_database(folder / "asn.mmdb", networks)
    addresses = sorted(
        {
            rng.choice(networks).network.replace(".0/24", f".{rng.randint(1, 254)}")
            for _ in range(20_000)
        }
    )
    plans = []
    for account in ACCOUNTS:
        for region in REGIONS:
            for slot in range(FILES_PER_DAY):
                delivered = day + timedelta(minutes=5 * slot, seconds=rng.randint(0, 240))
                name = (
                    f"{account}_CloudTrail_{region}_{delivered:%Y%m%dT%H%MZ}_"
                    f"{rng.getrandbits(64):016X}.json.gz"
                )
                key = f"AWSLogs/{ORG}/{account}/CloudTrail/{region}/{delivered:%Y/%m/%d}/{name}"
                count = max(1, int(rng.gauss(records_per_file, records_per_file / 4)))
                plans.append(FilePlan(len(plans), key, count, delivered, account, region))
    jobs = [(plan, SEED + plan.index, addresses, folder / "logs") for plan in plans]
    with multiprocessing.Pool(os.cpu_count()) as pool:
        size = sum(pool.imap_unordered(_write, jobs, chunksize=16))
    return plans, size


def run_child(command: list[str], env: dict[str, str]) -> tuple[float, int, int, str, str]:
    """Run a command; returns (seconds, exit status, peak RSS in bytes, stdout, stderr)."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        child = subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=err)
        _, status, usage = os.wait4(child.pid, 0)  # this child's own peak memory
        seconds = time.perf_counter() - started
        out.seek(0)
        err.seek(0)
        return (
            seconds,
            os.waitstatus_to_exitcode(status),
            usage.ru_maxrss * 1024,
            out.read().decode(errors="replace"),
            err.read().decode(errors="replace"),
        )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def upload(endpoint: str, logs: Path, plans: list[FilePlan]) -> None:
    s3 = boto3.client("s3", endpoint_url=endpoint)
    s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})

    def put(plan: FilePlan) -> None:
        s3.put_object(Bucket=BUCKET, Key=plan.key, Body=(logs / plan.key).read_bytes())

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(put, plans))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records-per-file", type=int, default=100)
    parser.add_argument(
        "--database-url",
        default=DEFAULT_DATABASE_URL,
        help="a scratch PostgreSQL database: it is dropped and created again",
    )
    parser.add_argument("--compare-files", action="store_true")
    arguments = parser.parse_args()
    url = arguments.database_url
    if not url.startswith(("postgres://", "postgresql://")):
        parser.error("--database-url must be a PostgreSQL URL")

    folder = Path(tempfile.mkdtemp(prefix="asnwatch-bench-poll-"))
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # the server's request log
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    # Fake credentials: the server takes any. The child processes inherit them.
    os.environ.update(
        AWS_ENDPOINT_URL=endpoint,
        AWS_ACCESS_KEY_ID="bench",
        AWS_SECRET_ACCESS_KEY="bench",  # noqa: S106
        AWS_DEFAULT_REGION="eu-west-1",
    )
    for name in ("AWS_PROFILE", "AWS_REGION"):
        os.environ.pop(name, None)
    try:
        # Yesterday, whole: the first poll reads it as its backfill.
        day = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        day -= timedelta(days=1)
        started = time.perf_counter()
        plans, size = generate(folder, day, arguments.records_per_file)
        records = sum(plan.records for plan in plans)
        upload(endpoint, folder / "logs", plans)
        print(
            f"input: {records:,} records in {len(plans):,} objects ({size / 1e6:,.0f} MB gzip), "
            f"{len(ACCOUNTS)} accounts x {len(REGIONS)} regions, {day:%Y-%m-%d}; "
            f"written and uploaded in "
            f"{time.perf_counter() - started:.0f}s"
        )

        env = {
            **os.environ,
            "DATABASE_URL": url,
            "GEOIP_ASN_DB": str(folder / "asn.mmdb"),
            "ASNWATCH_VAR_DIR": str(folder / "var"),
            "CLOUDTRAIL_S3_BUCKET": BUCKET,
            "CLOUDTRAIL_START": day.isoformat(),
            "PYTHONUNBUFFERED": "1",
        }
        for name in ("GEOIP_CITY_DB", "CLOUDTRAIL_SQS_QUEUE_URL", "CLOUDTRAIL_INBOX_DIR"):
            env.pop(name, None)
        manage = [sys.executable, str(ROOT / "manage.py")]
        expected = records

        recreate_database(url)
        seconds, status, _, out, err = run_child([*manage, "migrate", "--verbosity=0"], env)
        if status != 0:
            print(f"migrate failed ({status}):\n{out}{err}", file=sys.stderr)
            return 1
        seconds, status, peak, out, err = run_child([*manage, "poll", "--verbosity=0"], env)
        print(out.strip())
        if status != 0:
            print(f"poll exited {status}:\n{err[-4000:]}", file=sys.stderr)
            return 1
        stored = stored_events(url)
        if stored != expected:
            print(f"stored {stored:,} events, expected {expected:,}", file=sys.stderr)
            return 1
        rate = records / seconds
        print(
            f"poll (S3 API server into PostgreSQL): {seconds:.1f}s, {rate:,.0f} events/s, "
            f"{len(plans) / seconds:,.0f} objects/s, peak RSS {peak / 2**20:,.0f} MB"
        )
        seconds, status, _, out, _ = run_child([*manage, "poll", "--verbosity=0"], env)
        print(f"poll again (nothing new to read): {seconds:.1f}s; {out.strip()}")

        if arguments.compare_files:
            recreate_database(url)
            run_child([*manage, "migrate", "--verbosity=0"], env)
            files_env = {**env, "CLOUDTRAIL_S3_BUCKET": ""}
            seconds, status, _, out, err = run_child(
                [*manage, "ingest_files", str(folder / "logs")], files_env
            )
            print(out.strip())
            print(
                f"ingest_files (same files, local disk): {seconds:.1f}s, "
                f"{records / seconds:,.0f} events/s"
            )
        return 0
    finally:
        server.stop()
        shutil.rmtree(folder, ignore_errors=True)
        drop_database(url)


if __name__ == "__main__":
    sys.exit(main())
