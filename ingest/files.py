"""Local CloudTrail log files and folders of them (ingest_files, the inbox folder)."""

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from ingest.geoip import network_lookup
from ingest.logfiles import is_event_log
from ingest.store import already_read, content_version, store_log_file

FILE_SOURCE = "file"


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
    """Read every CloudTrail log file under paths; one bad file loses nothing else."""
    require_asn_database()
    report = IngestReport()
    for root in paths:
        if not root.exists():
            report.failed += 1
            report.problems.append(f"{root}: no such file or folder")
            continue
        for path in _walk(root):
            ingest_file(path, report)
    return report


def ingest_file(path: Path, report: IngestReport) -> None:
    report.files += 1
    key = str(path.resolve())
    if not is_event_log(path.as_posix()):
        if path.name.endswith((".json", ".json.gz")):
            report.skipped += 1  # CloudTrail-Digest/ and CloudTrail-Insight/ are not event logs
        else:
            report.failed += 1
            report.problems.append(f"{path}: not a .json or .json.gz file")
        return
    try:
        content = path.read_bytes()
    except OSError as error:
        report.failed += 1
        report.problems.append(f"{path}: {error.strerror}")
        return
    version = content_version(content)
    if not content or already_read(source=FILE_SOURCE, key=key, version=version):
        report.skipped += 1
        return
    result = store_log_file(source=FILE_SOURCE, key=key, version=version, content=content)
    report.records += result.records
    report.new_events += result.new_events
    report.duplicates += result.duplicates
    report.failed += result.status == "failed"
    report.problems.extend(result.problems)
