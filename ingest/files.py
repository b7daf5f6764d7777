"""Local CloudTrail log files and folders of them (ingest_files, the inbox folder)."""

import ctypes
import errno
import functools
import gc
import multiprocessing
import os
import signal
import stat
import sys
from collections.abc import Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings
from django.db import connections

from ingest.ahead import worked_ahead
from ingest.geoip import network_lookup
from ingest.logfiles import is_event_log
from ingest.store import (
    PreparedFile,
    already_read,
    content_version,
    copy_wanted,
    prepare_log_file,
    store_prepared,
    too_large,
)

FILE_SOURCE = "file"
# Files stored in one transaction: the principal-network history their events
# share is written once, and a transaction's own costs are paid once.
FILES_PER_TRANSACTION = 8
# Files decoded ahead: the next two transactions' worth, so that decoding,
# which shares the two cores with storing, keeps ahead through uneven files.
PREPARE_AHEAD = 2 * FILES_PER_TRANSACTION
# Memory stays bounded whatever the files: a file decoded ahead may expand to
# DECODED_AHEAD_BYTES; one that expands to more (rare: CloudTrail's files are a
# few MB) is decoded again by itself when its turn comes, up to
# INGEST_MAX_FILE_BYTES. A transaction's files hold at most about
# TRANSACTION_BYTES of JSON, or one file more.
DECODED_AHEAD_BYTES = 16 * 2**20
TRANSACTION_BYTES = FILES_PER_TRANSACTION * DECODED_AHEAD_BYTES


class NotConfigured(RuntimeError):
    pass


class Unreadable(Exception):
    """A path that is not a log file that can be read; the message says why.

    lasting: it is refused for what it is (not a regular file, too large), so
    reading it again would change nothing until it changes.
    """

    def __init__(self, reason: str, *, lasting: bool = False) -> None:
        super().__init__(reason)
        self.lasting = lasting


@dataclass
class IngestReport:
    files: int = 0
    records: int = 0
    new_events: int = 0
    duplicates: int = 0
    skipped: int = 0
    failed: int = 0
    problems: list[str] = field(default_factory=list)

    def summary(self) -> str:
        return (
            f"{self.files} files, {self.records} records, {self.new_events} new events, "
            f"{self.duplicates} duplicates, {self.skipped} skipped, {self.failed} failed, "
            f"{len(self.problems)} problems"
        )


def require_asn_database() -> None:
    if not network_lookup().configured:
        raise NotConfigured(
            "GEOIP_ASN_DB is not set: events would be stored without source.as.* "
            "and the rule could never match (see README, 'Real data')"
        )


def log_files_under(folder: Path) -> Iterator[Path]:
    """Every path under folder named as a log file is, but for folders.

    FIFOs, sockets and broken links are among them, for read_log_file to
    refuse by name; other files (notes, checksums) are not CloudTrail's and
    are passed over.
    """
    for path in sorted(folder.rglob("*")):
        if path.name.endswith((".json", ".json.gz")) and not path.is_dir():
            yield path


def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    return "another kind of entry"


def unreadable_reason(path: Path, error: OSError) -> str:
    """Why stat or open of path failed, in a few words."""
    if error.errno == errno.ELOOP:
        return "a symbolic link loop"
    if error.errno == errno.ENOENT:
        return "a symbolic link to nothing" if path.is_symlink() else "no such file or folder"
    return error.strerror or str(error)


def _regular_file_size(path: Path) -> int:
    """The size of the regular file at path; raises Unreadable for anything else.

    Nothing is opened: a FIFO would block the reader until a writer came.
    """
    try:
        info = path.stat()
    except OSError as error:
        raise Unreadable(unreadable_reason(path, error)) from None
    if not stat.S_ISREG(info.st_mode):
        raise Unreadable(f"not a regular file ({_kind(info.st_mode)})", lasting=True)
    return info.st_size


def read_log_file(path: Path, *, max_bytes: int) -> bytes:
    """The content of the regular file at path, of at most max_bytes; raises
    Unreadable saying why not. Never blocks, whatever is at path."""
    size = _regular_file_size(path)
    if size > max_bytes:
        raise Unreadable(too_large(size), lasting=True)
    try:
        # Non-blocking, should a FIFO have taken the file's place since.
        descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except OSError as error:
        raise Unreadable(unreadable_reason(path, error)) from None
    with open(descriptor, "rb") as file:
        mode = os.fstat(descriptor).st_mode
        if not stat.S_ISREG(mode):
            raise Unreadable(f"not a regular file ({_kind(mode)})", lasting=True)
        try:
            content = file.read(max_bytes + 1)
        except OSError as error:
            raise Unreadable(unreadable_reason(path, error)) from None
    if len(content) > max_bytes:  # it grew since
        raise Unreadable(too_large(len(content)), lasting=True)
    return content


def ingest_paths(paths: list[Path]) -> IngestReport:
    """Read every CloudTrail log file under paths; one bad file loses nothing else.

    The next files are decoded in other processes while some are being stored.
    """
    require_asn_database()
    report = IngestReport()
    max_bytes = settings.INGEST_MAX_FILE_BYTES
    for_copy = copy_wanted()
    ahead = min(DECODED_AHEAD_BYTES, max_bytes)
    with _decoder() as pool:
        prepared = worked_ahead(
            _files_to_read(paths, report, max_bytes=max_bytes),
            functools.partial(_prepare, for_copy=for_copy, max_bytes=ahead),
            pool=pool,
            depth=PREPARE_AHEAD,
            # What a file holds while ahead: its content, and what it may expand to.
            weigh=lambda unread: max(len(unread.content), ahead),
            budget=PREPARE_AHEAD * ahead,
        )
        if ahead < max_bytes:
            prepared = _larger_decoded_alone(prepared, for_copy=for_copy, max_bytes=max_bytes)
        for batch in _transactions(prepared):
            for result in store_prepared(batch, source=FILE_SOURCE):
                report.records += result.records
                report.new_events += result.new_events
                report.duplicates += result.duplicates
                report.failed += result.status == "failed"
                report.problems.extend(result.problems)
    return report


_PR_SET_PDEATHSIG = 1  # prctl(2): the signal this process gets when its parent dies


DECODERS = 2  # decoding a file costs about twice what storing it does


def _decoder() -> ProcessPoolExecutor:
    """Processes that decode files while this one stores: a thread could not, as
    decoding JSON holds the interpreter lock for a whole file at a time. The files
    decoded ahead weigh no more with two than with one (see ingest_paths).

    Forked, they start at once with the ASN database open (as apps.py opens it);
    they do no database work (see _decoding).
    """
    return ProcessPoolExecutor(
        max_workers=DECODERS, mp_context=multiprocessing.get_context("fork"), initializer=_decoding
    )


def _decoding() -> None:
    """Start the decoding process: out of the parent's database session, without the
    cyclic garbage collector, and ending with the parent.

    The process inherits the parent's database socket. Were it to keep it, a
    parent killed in the middle of a transaction would leave its session open
    behind it, holding its locks and the detector's watermark back for as long
    as this process lived. So its copy is pointed at /dev/null, without a word
    to the server: the parent's session goes on, and ends when the parent does.

    Decoded records hold no reference cycles: reference counting frees each
    file's objects once its rows are made. The collector would only walk them,
    tens of thousands per file, again and again (a sixth of decoding), and
    walk and so copy the whole heap inherited from the parent.
    """
    for database in connections.all(initialized_only=True):
        if database.vendor == "postgresql" and database.connection is not None:
            null = os.open(os.devnull, os.O_RDWR)
            os.dup2(null, database.connection.fileno())
            os.close(null)
    if sys.platform == "linux":  # not left waiting for work when the parent is killed
        ctypes.CDLL(None).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    gc.disable()


@dataclass(frozen=True)
class UnreadFile:
    key: str
    version: str
    content: bytes


def _prepare(unread: UnreadFile, *, for_copy: bool, max_bytes: int) -> PreparedFile:
    return prepare_log_file(
        key=unread.key, content=unread.content, for_copy=for_copy, max_bytes=max_bytes
    )


def _larger_decoded_alone(
    prepared: Iterable[tuple[UnreadFile, PreparedFile]], *, for_copy: bool, max_bytes: int
) -> Iterator[tuple[UnreadFile, PreparedFile]]:
    """Files too large to be decoded ahead, decoded here and now, up to max_bytes."""
    for unread, file in prepared:
        if file.too_large:
            file = _prepare(unread, for_copy=for_copy, max_bytes=max_bytes)
        yield unread, file


def _transactions(
    prepared: Iterable[tuple[UnreadFile, PreparedFile]],
) -> Iterator[list[tuple[PreparedFile, str]]]:
    """Files and their versions, FILES_PER_TRANSACTION (or TRANSACTION_BYTES) at a time."""
    batch: list[tuple[PreparedFile, str]] = []
    size = 0
    for unread, file in prepared:
        batch.append((file, unread.version))
        size += file.decoded
        if len(batch) == FILES_PER_TRANSACTION or size >= TRANSACTION_BYTES:
            yield batch
            batch, size = [], 0
    if batch:
        yield batch


def _roots(paths: list[Path], report: IngestReport) -> Iterator[Path]:
    """Each file named, and each log file in the folders named."""
    for root in paths:
        try:
            is_folder = stat.S_ISDIR(root.stat().st_mode)
        except OSError as error:
            report.failed += 1
            report.problems.append(f"{root}: {unreadable_reason(root, error)}")
            continue
        yield from log_files_under(root) if is_folder else [root]


def _files_to_read(
    paths: list[Path], report: IngestReport, *, max_bytes: int
) -> Iterator[UnreadFile]:
    """Each event log file under paths not read before; counts the others."""
    visited: set[str] = set()
    for path in _roots(paths, report):
        key = os.path.realpath(path)  # unlike Path.resolve, not raising for a link loop
        if key in visited:  # named twice, as a file and within a folder
            continue
        visited.add(key)
        report.files += 1
        if not is_event_log(path.as_posix()):
            if path.name.endswith((".json", ".json.gz")):
                report.skipped += 1  # CloudTrail-Digest/ and CloudTrail-Insight/
            else:
                report.failed += 1
                report.problems.append(f"{path}: not a .json or .json.gz file")
            continue
        try:
            content = read_log_file(path, max_bytes=max_bytes)
        except Unreadable as error:
            # Not a file that can be read (a FIFO, a link loop, too large):
            # it could not be processed, and the exit status says so.
            report.failed += 1
            report.problems.append(f"{path}: {error}")
            continue
        version = content_version(content)
        if not content or already_read(source=FILE_SOURCE, key=key, version=version):
            report.skipped += 1
            continue
        yield UnreadFile(key, version, content)
