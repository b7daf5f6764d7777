"""Fixtures for the rule's tests: the networks its query tells apart, learning over, log files."""

import itertools
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from ingest.mmdb import AsnEntry, write_asn_database, write_city_database
from tests.cloudtrail import IngestRun, run_ingest_files, write_log
from tests.conftest import ASN_ENTRIES, CITY_ENTRIES

# Organisations on either side of the query's prefix clauses, and one organisation
# announced by two AS numbers (an exclusion by number then splits its history).
RULE_ASN_ENTRIES = [
    AsnEntry("198.18.1.0/24", 64601, "Amazon.com, Inc."),
    AsnEntry("198.18.2.0/24", 64602, "AMAZON-AES"),
    AsnEntry("198.18.3.0/24", 64603, "Google LLC"),
    AsnEntry("198.18.4.0/24", 64604, "GOOGLE-CLOUD-PLATFORM"),
    AsnEntry("198.18.5.0/24", 64605, "Microsoft Corporation"),
    AsnEntry("198.18.6.0/24", 64606, "MICROSOFT-CORP-MSN-AS-BLOCK"),
    AsnEntry("198.18.7.0/24", 64607, "amazon-ish Hosting"),
    AsnEntry("198.18.8.0/24", 64608, "google fiber resale"),
    AsnEntry("198.18.9.0/24", 64609, "microsoft-ish Labs"),
    AsnEntry("198.18.10.0/24", 64610, "AMAZon Networks"),
    AsnEntry("198.18.11.0/24", 64599, "Evil VPS Ltd"),
    AsnEntry("198.18.12.0/24", 64612, "Hosting.example (AS Ltd.)"),
    AsnEntry("198.18.13.0/24", 64613, "Hosting.example (AS Ltd.)"),
]

EVIL_VPS = "203.0.113.10"  # AS64500 Evil VPS Ltd
EVIL_VPS_OTHER_AS = "198.18.11.10"  # AS64599 Evil VPS Ltd
OFFICE = "198.51.100.7"  # AS64501 Example Office Networks
NO_ORGANISATION = "192.0.2.9"  # AS64502, no organisation


@pytest.fixture(scope="session")
def geoip_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("geoip-rule")
    write_asn_database(folder / "asn.mmdb", [*ASN_ENTRIES, *RULE_ASN_ENTRIES])
    write_city_database(folder / "city.mmdb", CITY_ENTRIES)
    return folder


@pytest.fixture
def learning_over(settings) -> datetime:
    """A baseline long before every test's events, so that only learning tests see learning."""
    settings.DETECTION_BASELINE_START = datetime(2026, 1, 1, tzinfo=UTC)
    return settings.DETECTION_BASELINE_START


@pytest.fixture
def ingest(tmp_path: Path) -> Callable[..., IngestRun]:
    """Write records to a new log file and read it with `manage.py ingest_files`."""
    names = itertools.count(1)

    def ingest(*records: dict, name: str | None = None) -> IngestRun:
        path = write_log(tmp_path / "logs" / (name or f"{next(names):03d}.json.gz"), list(records))
        run = run_ingest_files(path)
        assert run.error is None, run.stderr
        return run

    return ingest
