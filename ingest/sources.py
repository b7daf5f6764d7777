"""Poll every configured CloudTrail source once: S3 bucket, SQS queue, inbox folder.

Each source is polled on its own: one that cannot be read is reported on the
Sources page and does not stop the others. S3 and inbox polls hold their
source's lease (ingest.polls); SQS needs none, as the queue itself hands each
message to one reader at a time.
"""

import logging
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.utils import timezone

from ingest.files import (
    FILE_SOURCE,
    NotConfigured,
    Unreadable,
    log_files_under,
    read_log_file,
    require_asn_database,
    unreadable_reason,
)
from ingest.logfiles import is_event_log
from ingest.models import LogObject, SourceProblem, SourceState
from ingest.polls import LeaseLost, OutOfTime, PollReport, Progress, SourcePoll
from ingest.s3 import BucketSource, poll_bucket
from ingest.sqs import QueueSource, poll_queue
from ingest.store import content_version, store_log_file, store_refused_file

logger = logging.getLogger(__name__)

BACKFILL_DAYS = 10  # the rule's history window: learning is over after the first poll


@dataclass(frozen=True)
class InboxSource:
    folder: Path

    @property
    def name(self) -> str:
        return str(self.folder)


Source = BucketSource | QueueSource | InboxSource
_KINDS = {
    BucketSource: SourceState.Kind.S3,
    QueueSource: SourceState.Kind.SQS,
    InboxSource: SourceState.Kind.INBOX,
}


def configured_sources(*, now: datetime | None = None) -> list[Source]:
    sources: list[Source] = []
    if settings.CLOUDTRAIL_S3_BUCKET:
        start = settings.CLOUDTRAIL_START or (now or timezone.now()) - timedelta(days=BACKFILL_DAYS)
        sources.append(
            BucketSource(
                bucket=settings.CLOUDTRAIL_S3_BUCKET,
                prefix=settings.CLOUDTRAIL_S3_PREFIX or "",
                accounts=list(settings.CLOUDTRAIL_ACCOUNTS),
                regions=list(settings.CLOUDTRAIL_REGIONS),
                start=start,
                window_days=settings.CLOUDTRAIL_S3_WINDOW_DAYS,
            )
        )
    if settings.CLOUDTRAIL_SQS_QUEUE_URL:
        sources.append(
            QueueSource(
                queue_url=settings.CLOUDTRAIL_SQS_QUEUE_URL,
                wait_seconds=settings.CLOUDTRAIL_SQS_WAIT_SECONDS,
                visibility_timeout=settings.CLOUDTRAIL_SQS_VISIBILITY_TIMEOUT,
                max_receives=settings.CLOUDTRAIL_SQS_MAX_RECEIVES,
            )
        )
    if settings.CLOUDTRAIL_INBOX_DIR:
        sources.append(InboxSource(folder=Path(settings.CLOUDTRAIL_INBOX_DIR).resolve()))
    return sources


def source_state(source: Source) -> SourceState:
    state, _ = SourceState.objects.get_or_create(
        name=source.name, defaults={"kind": _KINDS[type(source)]}
    )
    return state


def poll_sources(
    *, deadline: datetime | None = None, progress: Progress | None = None
) -> list[PollReport]:
    """Poll each configured source once; returns what each poll did."""
    reports = []
    for source in configured_sources():
        reports.append(poll_source(source, deadline=deadline, progress=progress))
    return reports


def poll_source(
    source: Source, *, deadline: datetime | None = None, progress: Progress | None = None
) -> PollReport:
    state = source_state(source)
    poll = SourcePoll(
        state, leased=not isinstance(source, QueueSource), deadline=deadline, progress=progress
    )
    if not poll.claim():
        poll.progress("skipped: another poll holds this source")
        return poll.report
    try:
        require_asn_database()
        if isinstance(source, BucketSource):
            poll_bucket(poll, source)
        elif isinstance(source, QueueSource):
            poll_queue(poll, source)
        else:
            poll_inbox(poll, source)
    except NotConfigured as error:
        poll.source_error("GEOIP_ASN_DB", str(error))
    except (OutOfTime, LeaseLost) as stop:
        poll.report.note = str(stop)
    except SoftTimeLimitExceeded:
        poll.report.note = "stopped by the task's time limit; the next poll continues"
        poll.finish()
        raise
    except Exception as error:
        # One source's failure does not stop the others: recorded where an
        # operator looks, and logged with its traceback.
        logger.exception("polling %s failed", source.name)
        poll.source_error(source.name, f"{type(error).__name__}: {error}")
    report = poll.finish()
    poll.progress(report.summary())
    return report


def poll_inbox(poll: SourcePoll, source: InboxSource) -> None:
    """Read files in the inbox folder not read before; the folder is never changed.

    A file whose size is unchanged since it was read is passed over without
    reading it again, so a large inbox costs a directory walk per poll. What
    is refused for what it is (a FIFO, a file larger than
    INGEST_MAX_FILE_BYTES) is recorded as failed, and passed over until it
    changes; what cannot be read now (a link loop, no permission) is tried again.
    """
    if not source.folder.is_dir():
        poll.source_error(str(source.folder), "no such folder")
        return
    known = {
        key: (size, read_at)
        for key, size, read_at in LogObject.objects.filter(
            source=FILE_SOURCE, key__startswith=f"{source.folder}/"
        ).values_list("key", "size", "read_at")
    }
    for path in log_files_under(source.folder):
        key = str(path)
        if not is_event_log(key):
            poll.skipped()
            continue
        try:
            stat = path.stat()
        except OSError as error:
            poll.left(key, unreadable_reason(path, error))
            continue
        seen = known.get(key)
        if seen and seen[0] == stat.st_size and seen[1].timestamp() >= stat.st_mtime:
            continue
        try:
            content = read_log_file(path, max_bytes=settings.INGEST_MAX_FILE_BYTES)
        except Unreadable as error:
            if error.lasting:
                poll.check()
                # No content to tell versions apart: the entry's size and time do.
                version = f"unread {stat.st_size} {stat.st_mtime_ns}"
                result = store_refused_file(
                    source=FILE_SOURCE,
                    key=key,
                    version=version,
                    size=stat.st_size,
                    error=str(error),
                )
                poll.stored(result, subject=key)
            else:
                poll.left(key, str(error))
            continue
        version = content_version(content)
        if not content:
            poll.skipped()
            continue
        if LogObject.objects.filter(source=FILE_SOURCE, key=key, version=version).exists():
            continue
        poll.check()
        result = store_log_file(source=FILE_SOURCE, key=key, version=version, content=content)
        poll.stored(result, subject=key)


# --- what the Sources page and the monitoring endpoint show -------------------------

# Three missed 5-minute polls: the worker or the scheduler is not running.
STALE_AFTER = timedelta(minutes=15)
_NEEDS_ATTENTION = (
    SourceProblem.Kind.SOURCE,
    SourceProblem.Kind.OBJECT,
    SourceProblem.Kind.MESSAGE,
)


@dataclass
class SourceOverview:
    name: str
    kind: str
    state: SourceState | None
    problems: list[SourceProblem]
    ok: bool
    status: str
    lag: timedelta | None
    backfill: str | None
    leased_until: datetime | None


def _backfill(state: SourceState, today: date) -> str | None:
    if state.backfill_from is None or state.backfill_next_day is None:
        return None
    total = (today - state.backfill_from).days + 1
    done = min(max((state.backfill_next_day - state.backfill_from).days, 0), total)
    if state.backfill_next_day >= today - timedelta(days=settings.CLOUDTRAIL_S3_WINDOW_DAYS - 1):
        return f"complete: every day folder from {state.backfill_from} on has been read"
    return (
        f"in progress: {done} of {total} day folders from {state.backfill_from} read completely;"
        f" next {state.backfill_next_day}"
    )


def source_overview(*, now: datetime | None = None) -> list[SourceOverview]:
    """Each configured source with what its polls did, and whether it needs attention."""
    now = now or timezone.now()
    sources = configured_sources(now=now)
    states = {
        state.name: state
        for state in SourceState.objects.filter(name__in=[s.name for s in sources])
    }
    problems: dict[int, list[SourceProblem]] = {}
    for problem in SourceProblem.objects.filter(source__in=states.values()).order_by(
        "-last_seen", "-id"
    ):
        problems.setdefault(problem.source_id, []).append(problem)
    overview = []
    for source in sources:
        state = states.get(source.name)
        found = problems.get(state.pk, []) if state else []
        ok, status = _health(state, found, now)
        overview.append(
            SourceOverview(
                name=source.name,
                kind=SourceState.Kind(_KINDS[type(source)]).label,
                state=state,
                problems=found,
                ok=ok,
                status=status,
                lag=now - state.newest_event_at if state and state.newest_event_at else None,
                backfill=_backfill(state, now.date()) if state else None,
                leased_until=(
                    state.lease_expires_at
                    if state and state.lease_expires_at and state.lease_expires_at > now
                    else None
                ),
            )
        )
    return overview


def _health(
    state: SourceState | None, problems: list[SourceProblem], now: datetime
) -> tuple[bool, str]:
    if state is None or state.last_poll_started_at is None:
        return False, "never polled: is the worker running?"
    if any(problem.kind == SourceProblem.Kind.SOURCE for problem in problems):
        return False, "cannot be read"
    if state.last_success_at is None:
        return False, "no poll has finished yet"
    if now - state.last_success_at > STALE_AFTER:
        minutes = int((now - state.last_success_at).total_seconds() // 60)
        return False, f"no successful poll for {minutes} minutes: is the worker running?"
    if any(problem.kind in _NEEDS_ATTENTION for problem in problems):
        return False, "some objects or messages could not be read"
    return True, "ok"
