"""Polling a CloudTrail trail bucket in S3.

Accounts (also under an organisation trail's o-ORGID/ level) and regions are
discovered by listing with Delimiter="/". Each poll lists every account and
region's day folders from the first one not yet read completely through
today, and at least the trailing window (today and yesterday by default):
CloudTrail delivers files late and out of key order, so a "highest key seen"
watermark would lose them. What was read is remembered per object and ETag
(LogObject), so nothing is read twice however often a folder is listed.
"""

import re
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import botocore.exceptions
from django.conf import settings

from ingest import aws
from ingest.ahead import worked_ahead
from ingest.logfiles import is_event_log
from ingest.models import LogObject
from ingest.polls import SourcePoll
from ingest.store import store_log_file, store_refused_file, too_large

# Downloads overlap with storing: the store is serial, the network need not be.
# The objects downloaded ahead hold at most INGEST_MAX_FILE_BYTES between them
# (or one object, alone).
FETCH_AHEAD = 4
_ORG = re.compile(r"o-[a-z0-9]{10,32}")
_ACCOUNT = re.compile(r"\d{12}")
_AWS_ERRORS = (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError)
_BROKEN_BODY = (
    botocore.exceptions.ResponseStreamingError,
    botocore.exceptions.IncompleteReadError,
    botocore.exceptions.ReadTimeoutError,
)


class SourceGone(Exception):
    """The bucket no longer exists: nothing else in this poll can succeed."""


@dataclass(frozen=True)
class Fetched:
    """An object as downloaded: its content, or None when it was too large to read."""

    content: bytes | None
    version: str
    size: int


@dataclass(frozen=True)
class Trail:
    """One account and region's folder of a trail."""

    prefix: str  # …/AWSLogs/[o-ORGID/]ACCOUNT/CloudTrail/REGION/
    account: str
    region: str


@dataclass(frozen=True)
class BucketSource:
    bucket: str
    prefix: str
    accounts: list[str]
    regions: list[str]
    start: datetime
    window_days: int

    @property
    def root(self) -> str:
        prefix = self.prefix.strip("/")
        return f"{prefix}/AWSLogs/" if prefix else "AWSLogs/"

    @property
    def name(self) -> str:
        return f"s3://{self.bucket}/{self.prefix.strip('/')}"


def log_object_source(bucket: str) -> str:
    """LogObject.source of the bucket's objects, whether polled or notified through SQS."""
    return f"s3://{bucket}"


def normalise_etag(etag: str) -> str:
    # Listings quote ETags, event notifications do not.
    return etag.strip('"')


def _folders(client: Any, bucket: str, prefix: str) -> list[str]:
    paginator = client.get_paginator("list_objects_v2")
    folders = []
    for page in paginator.paginate(Bucket=bucket, Prefix=prefix, Delimiter="/"):
        folders.extend(entry["Prefix"] for entry in page.get("CommonPrefixes", []))
    return folders


def discover_trails(client: Any, source: BucketSource) -> list[Trail]:
    """Every account/region folder under the trail's AWSLogs/, as configured."""
    root = source.root
    account_folders = []
    for folder in _folders(client, source.bucket, root):
        name = folder[len(root) : -1]
        if _ORG.fullmatch(name):
            account_folders.extend(
                inner
                for inner in _folders(client, source.bucket, folder)
                if _ACCOUNT.fullmatch(inner[len(folder) : -1])
            )
        elif _ACCOUNT.fullmatch(name):
            account_folders.append(folder)
    trails = []
    for folder in sorted(account_folders):
        account = folder[:-1].rsplit("/", 1)[-1]
        if source.accounts and account not in source.accounts:
            continue
        events = f"{folder}CloudTrail/"
        regions = source.regions or [
            region[len(events) : -1] for region in _folders(client, source.bucket, events)
        ]
        trails.extend(Trail(f"{events}{region}/", account, region) for region in regions)
    return trails


def poll_bucket(poll: SourcePoll, source: BucketSource) -> None:
    client = aws.client("s3")
    try:
        trails = discover_trails(client, source)
    except _AWS_ERRORS as error:
        poll.source_error(f"s3://{source.bucket}/{source.root}", aws.describe(error))
        return
    if not trails:
        poll.report.note = f"no CloudTrail logs under s3://{source.bucket}/{source.root} yet"

    today = datetime.now(UTC).date()
    start = source.start.astimezone(UTC).date()
    window_start = today - timedelta(days=source.window_days - 1)
    state = poll.state
    resume = state.backfill_next_day if state.backfill_from == start else None
    first = max(start, min(resume or start, window_start))
    days = [first + timedelta(days=n) for n in range((today - first).days + 1)]
    if first < window_start:
        poll.progress(
            f"reading day folders {first} to {today} of {len(trails)} account/region folders"
        )
    incomplete: date | None = None
    try:
        for day in days:
            before = (poll.report.objects, poll.report.events)
            if not _read_day(poll, client, source.bucket, trails, day):
                incomplete = incomplete or day
            objects, events = poll.report.objects - before[0], poll.report.events - before[1]
            if day < window_start or objects:
                poll.progress(f"{day}: {objects} objects, {events} new events")
            if day < window_start:
                poll.backfill(start=start, next_day=incomplete or day + timedelta(days=1))
    except SourceGone as error:
        poll.source_error(f"s3://{source.bucket}/", str(error))
        return
    poll.backfill(start=start, next_day=min(incomplete or window_start, window_start))


def _read_day(poll: SourcePoll, client: Any, bucket: str, trails: list[Trail], day: date) -> bool:
    """Read one day folder of every trail; False if anything was left for the next poll."""
    complete = True
    paginator = client.get_paginator("list_objects_v2")
    for trail in trails:
        prefix = f"{trail.prefix}{day:%Y/%m/%d}/"
        try:
            for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
                complete &= _read_listed(poll, client, bucket, page.get("Contents", []))
        except _AWS_ERRORS as error:
            if aws.error_code(error) in aws.MISSING_SOURCE_CODES:
                raise SourceGone(aws.describe(error)) from None
            poll.source_error(f"s3://{bucket}/{prefix}", aws.describe(error))
            complete = False
    return complete


def processed_versions(source: str, keys: list[str]) -> dict[str, set[str]]:
    """The versions of these keys already read (or found corrupt): never read again."""
    versions: dict[str, set[str]] = {}
    rows = LogObject.objects.filter(source=source, key__in=keys).values_list("key", "version")
    for key, version in rows:
        versions.setdefault(key, set()).add(version)
    return versions


def _read_listed(poll: SourcePoll, client: Any, bucket: str, listed: list[dict]) -> bool:
    wanted = []
    for entry in listed:
        if not is_event_log(entry["Key"]) or not entry.get("Size"):
            poll.skipped()
        else:
            wanted.append(entry)
    if not wanted:
        return True
    source = log_object_source(bucket)
    done = processed_versions(source, [entry["Key"] for entry in wanted])
    todo = [e for e in wanted if normalise_etag(e["ETag"]) not in done.get(e["Key"], ())]
    complete = True
    for entry, outcome in fetch_all(client, bucket, todo):
        poll.check()
        complete &= _store(poll, bucket, entry["Key"], outcome)
    return complete


def read_object(poll: SourcePoll, client: Any, bucket: str, key: str) -> bool:
    """Read one notified object unless read before; False if left for the next attempt."""
    source = log_object_source(bucket)
    if not is_event_log(key):
        poll.skipped()
        return True
    outcome = fetch(client, bucket, key)
    if isinstance(outcome, Fetched) and (
        not outcome.size or outcome.version in processed_versions(source, [key]).get(key, ())
    ):
        poll.skipped()
        return True
    return _store(poll, bucket, key, outcome)


def _store(poll: SourcePoll, bucket: str, key: str, outcome: Fetched | Exception) -> bool:
    subject = f"s3://{bucket}/{key}"
    if isinstance(outcome, Exception):
        if aws.error_code(outcome) in ("NoSuchKey", "404"):
            poll.skipped()  # deleted since it was listed or notified: nothing left to read
            return True
        poll.left(subject, aws.describe(outcome))
        return False
    source = log_object_source(bucket)
    if outcome.content is None:
        result = store_refused_file(
            source=source,
            key=key,
            version=outcome.version,
            size=outcome.size,
            error=too_large(outcome.size),
        )
    else:
        result = store_log_file(
            source=source, key=key, version=outcome.version, content=outcome.content
        )
    poll.stored(result, subject=subject)
    return True


def fetch(client: Any, bucket: str, key: str) -> Fetched | Exception:
    """An object's content and ETag, or the error that remained after retries.

    An object larger than INGEST_MAX_FILE_BYTES is not downloaded, and no
    more than that is ever read of one.
    """
    max_bytes = settings.INGEST_MAX_FILE_BYTES
    for attempt in (1, 2):
        try:
            response = client.get_object(Bucket=bucket, Key=key)
            version = normalise_etag(response["ETag"])
            with response["Body"] as body:
                if response["ContentLength"] > max_bytes:
                    return Fetched(None, version, response["ContentLength"])
                content = body.read(max_bytes + 1)
            size = len(content)
            return Fetched(content if size <= max_bytes else None, version, size)
        except _BROKEN_BODY as error:
            # botocore retries requests, not a body that broke off half-way.
            if attempt == 2:
                return error
        except _AWS_ERRORS as error:
            return error
    raise AssertionError("unreachable")


def fetch_all(
    client: Any, bucket: str, listed: Iterable[dict]
) -> Iterator[tuple[dict, Fetched | Exception]]:
    """fetch() each listed object, a few ahead of the consumer, in the given order."""
    max_bytes = settings.INGEST_MAX_FILE_BYTES
    with ThreadPoolExecutor(max_workers=FETCH_AHEAD, thread_name_prefix="s3-fetch") as pool:
        yield from worked_ahead(
            listed,
            lambda entry: fetch(client, bucket, entry["Key"]),
            pool=pool,
            depth=FETCH_AHEAD,
            weigh=lambda entry: min(entry["Size"], max_bytes),
            budget=max_bytes,
        )
