"""Local CloudTrail log files and folders of them (ingest_files, the inbox folder)."""

import functools
import gc
import multiprocessing
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path

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
)

FILE_SOURCE = "file"
# Files stored in one transaction: the principal-network history their events
# share is written once, and a transaction's own costs are paid once.
FILES_PER_TRANSACTION = 8
# Files decoded ahead: the next two transactions' worth, so that decoding,
# which shares the two cores with storing, keeps ahead through uneven files.
PREPARE_AHEAD = 2 * FILES_PER_TRANSACTION


class NotConfigured(RuntimeError):
    pass


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


def _walk(path: Path) -> Iterator[Path]:
    if path.is_dir():
        # Other files in a folder (notes, checksums) are not CloudTrail's and are passed over.
        for child in sorted(path.rglob("*")):
            if child.is_file() and child.name.endswith((".json", ".json.gz")):
                yield child
    else:
        yield path


def ingest_paths(paths: list[Path]) -> IngestReport:
    """Read every CloudTrail log file under paths; one bad file loses nothing else.

    The next files are decoded in another process while some are being stored.
    """
    require_asn_database()
    report = IngestReport()
    prepare = functools.partial(_prepare, for_copy=copy_wanted())
    with _decoder() as pool:
        prepared = worked_ahead(
            _files_to_read(paths, report), prepare, pool=pool, depth=PREPARE_AHEAD
        )
        for group in iter(lambda: list(islice(prepared, FILES_PER_TRANSACTION)), []):
            batch = [(file, unread.version) for unread, file in group]
            for result in store_prepared(batch, source=FILE_SOURCE):
                report.records += result.records
                report.new_events += result.new_events
                report.duplicates += result.duplicates
                report.failed += result.status == "failed"
                report.problems.extend(result.problems)
    return report


def _decoder() -> ProcessPoolExecutor:
    """One process that decodes files while this one stores: a thread could
    not, as decoding JSON holds the interpreter lock for a whole file at a time.

    Forked, it starts at once with the ASN database open (as apps.py opens it);
    it does no database work, so the connection it inherits is never used.
    """
    return ProcessPoolExecutor(
        max_workers=1, mp_context=multiprocessing.get_context("fork"), initializer=_decoding
    )


def _decoding() -> None:
    """Run the decoding process without the cyclic garbage collector.

    Decoded records hold no reference cycles: reference counting frees each
    file's objects once its rows are made. The collector would only walk them,
    tens of thousands per file, again and again (a sixth of decoding), and
    walk and so copy the whole heap inherited from the parent.
    """
    gc.disable()


@dataclass(frozen=True)
class UnreadFile:
    key: str
    version: str
    content: bytes


def _prepare(unread: UnreadFile, *, for_copy: bool) -> PreparedFile:
    return prepare_log_file(key=unread.key, content=unread.content, for_copy=for_copy)


def _files_to_read(paths: list[Path], report: IngestReport) -> Iterator[UnreadFile]:
    """Each event log file under paths not read before; counts the others."""
    visited: set[str] = set()
    for root in paths:
        if not root.exists():
            report.failed += 1
            report.problems.append(f"{root}: no such file or folder")
            continue
        for path in _walk(root):
            key = str(path.resolve())
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
                content = path.read_bytes()
            except OSError as error:
                report.failed += 1
                report.problems.append(f"{path}: {error.strerror}")
                continue
            version = content_version(content)
            if not content or already_read(source=FILE_SOURCE, key=key, version=version):
                report.skipped += 1
                continue
            yield UnreadFile(key, version, content)
