"""One poll of one source: its lease, what it read, and the problems it met.

Readers (ingest/s3.py, ingest/sqs.py, the inbox in ingest/sources.py) report
into a SourcePoll; it keeps the source's SourceState row current as it goes,
so the Sources page shows a long backfill's progress while it runs.
"""

import os
import socket
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from django.db.models import F, Q
from django.utils import timezone

from ingest.models import LogObject, SourceProblem, SourceState
from ingest.store import FileResult

# Renewed after every object, so only a poll stuck on one object this long loses it.
LEASE_TIME = timedelta(minutes=10)
# Problems not seen again for this long are dropped (a dead-lettered message is never seen again).
PROBLEM_MEMORY = timedelta(days=7)

Progress = Callable[[str], None]


class LeaseLost(RuntimeError):
    """Another poll took this source over: this one stopped."""


class OutOfTime(RuntimeError):
    """The poll reached its deadline; the next poll continues where it stopped."""


@dataclass
class PollReport:
    """What one poll of one source did."""

    source: str
    objects: int = 0
    events: int = 0
    duplicates: int = 0
    skipped: int = 0
    failed: int = 0
    left: int = 0  # objects or messages left for the next poll
    problems: list[str] = field(default_factory=list)
    busy: bool = False
    source_error: bool = False
    note: str = ""

    def summary(self) -> str:
        if self.busy:
            return "skipped: another poll holds this source"
        text = (
            f"{self.objects} objects, {self.events} new events, {self.duplicates} duplicates, "
            f"{self.skipped} skipped, {self.failed} failed, {self.left} left for the next poll, "
            f"{len(self.problems)} problems"
        )
        return f"{text}; {self.note}" if self.note else text


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # running, as another user
    return True


def holder_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class SourcePoll:
    def __init__(
        self,
        state: SourceState,
        *,
        leased: bool,
        deadline: datetime | None = None,
        progress: Progress | None = None,
    ) -> None:
        self.state = state
        self.leased = leased
        self.deadline = deadline
        self.report = PollReport(source=state.name)
        self.started_at = timezone.now()
        self.holder = holder_name()
        self.newest: datetime | None = None  # the latest eventTime among new events
        self._progress = progress

    # --- the lease ----------------------------------------------------------

    def claim(self) -> bool:
        """Start the poll; False when another poll holds the source's lease."""
        now = self.started_at
        rows = SourceState.objects.filter(pk=self.state.pk)
        if self.leased:
            rows = rows.filter(Q(lease_expires_at__isnull=True) | Q(lease_expires_at__lt=now))
        changes = {"last_poll_started_at": now}
        if self.leased:
            changes.update(lease_holder=self.holder, lease_expires_at=now + LEASE_TIME)
        claimed = rows.update(**changes)
        if not claimed and self.leased:
            claimed = self._take_over_from_the_dead(changes)
        if not claimed:
            self.report.busy = True
        return bool(claimed)

    def _take_over_from_the_dead(self, changes: dict) -> int:
        """Claim a lease whose holder was a process on this machine that no longer runs.

        A worker killed mid-poll would otherwise hold its source until the
        lease expires. Holders elsewhere are trusted until then. (Two machines
        sharing a host name could at worst poll one source at once, which reads
        more but stores nothing twice.)
        """
        holder = SourceState.objects.filter(pk=self.state.pk).values_list(
            "lease_holder", flat=True
        )[0]
        host, _, rest = holder.partition(":")
        pid = rest.partition(":")[0]
        if host != socket.gethostname() or not pid.isdigit() or _running(int(pid)):
            return 0
        return SourceState.objects.filter(pk=self.state.pk, lease_holder=holder).update(**changes)

    def _mine(self):
        rows = SourceState.objects.filter(pk=self.state.pk)
        return rows.filter(lease_holder=self.holder) if self.leased else rows

    def _touch(self, **changes) -> None:
        """Apply changes to the state row, renewing the lease; raise if it was lost."""
        if self.leased:
            changes["lease_expires_at"] = timezone.now() + LEASE_TIME
        if changes and not self._mine().update(**changes) and self.leased:
            raise LeaseLost(f"{self.state.name}: another poll took over this source")

    def check(self) -> None:
        """Between objects: stop if out of time; renew the lease."""
        if self.deadline is not None and timezone.now() >= self.deadline:
            raise OutOfTime("reached the poll's time budget; the next poll continues")
        self._touch()

    # --- what was read ------------------------------------------------------

    def stored(self, result: FileResult, *, subject: str) -> None:
        """Count what store_log_file did with one object."""
        report = self.report
        if result.status == LogObject.Status.FAILED:
            report.failed += 1
            error = "; ".join(result.problems) or "could not be read"
            report.problems.append(error)
            self.problem(SourceProblem.Kind.CORRUPT, subject, error, counted=False)
            self._touch(objects_failed=F("objects_failed") + 1)
            return
        report.objects += 1
        report.events += result.new_events
        report.duplicates += result.duplicates
        report.problems.extend(result.problems)
        self.resolve(subject)
        changes = {
            "objects_read": F("objects_read") + 1,
            "events_read": F("events_read") + result.new_events,
        }
        newest = result.newest_event
        if newest is not None and (self.newest is None or newest > self.newest):
            self.newest = newest
        self._touch(**changes)

    def skipped(self, count: int = 1) -> None:
        self.report.skipped += count

    def left(self, subject: str, error: str, *, kind: str = SourceProblem.Kind.OBJECT) -> None:
        """An object or message that could not be read now; the next poll tries again."""
        self.report.left += 1
        self.problem(kind, subject, error)

    def source_error(self, subject: str, error: str) -> None:
        self.report.source_error = True
        self.problem(SourceProblem.Kind.SOURCE, subject, error)

    def problem(self, kind: str, subject: str, error: str, *, counted: bool = True) -> None:
        subject = subject[:1500]  # within what a unique index entry can hold
        if counted:
            self.report.problems.append(f"{subject}: {error}")
        now = timezone.now()
        updated = SourceProblem.objects.filter(source=self.state, subject=subject).update(
            kind=kind, error=error[:10_000], last_seen=now, count=F("count") + 1
        )
        if not updated:
            SourceProblem.objects.get_or_create(
                source=self.state,
                subject=subject,
                defaults={
                    "kind": kind,
                    "error": error[:10_000],
                    "first_seen": now,
                    "last_seen": now,
                },
            )

    def resolve(self, subject: str) -> None:
        SourceProblem.objects.filter(source=self.state, subject=subject[:1500]).exclude(
            kind=SourceProblem.Kind.CORRUPT
        ).delete()

    def backfill(self, *, start: date, next_day: date) -> None:
        self._touch(backfill_from=start, backfill_next_day=next_day)

    def progress(self, message: str) -> None:
        if self._progress is not None:
            self._progress(f"{self.state.name}: {message}")

    # --- the end ------------------------------------------------------------

    def finish(self) -> PollReport:
        """Record the outcome and let go of the lease."""
        now = timezone.now()
        report = self.report
        changes = {
            "last_poll_finished_at": now,
            "last_summary": report.summary(),
            "lease_holder": "",
            "lease_expires_at": None,
        }
        if not report.source_error:
            changes["last_success_at"] = now
            # The source was readable: what was wrong with it before is over.
            SourceProblem.objects.filter(
                source=self.state, kind=SourceProblem.Kind.SOURCE, last_seen__lt=self.started_at
            ).delete()
        self._mine().update(**changes)
        if self.newest is not None:
            SourceState.objects.filter(pk=self.state.pk).filter(
                Q(newest_event_at__isnull=True) | Q(newest_event_at__lt=self.newest)
            ).update(newest_event_at=self.newest)
        SourceProblem.objects.filter(source=self.state, last_seen__lt=now - PROBLEM_MEMORY).exclude(
            kind=SourceProblem.Kind.CORRUPT
        ).delete()
        return report
