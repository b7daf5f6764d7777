"""Shared fixtures: GeoIP databases written with mmdb-writer, the suite on PostgreSQL."""

import shutil
import tempfile
from pathlib import Path

import pytest
from django.conf import settings

from ingest.geoip import network_lookup
from ingest.mmdb import AsnEntry, CityEntry, write_asn_database, write_city_database

# The loopback peers' fixtures (receiver, smtp_server), for every test.
pytest_plugins = ["tests.peers"]

# The networks every test can rely on.
ASN_ENTRIES = [
    AsnEntry("203.0.113.0/24", 64500, "Evil VPS Ltd"),
    AsnEntry("198.51.100.0/24", 64501, "Example Office Networks"),
    AsnEntry("192.0.2.0/25", 64502, None),  # an AS number with no organisation
    AsnEntry("52.94.0.0/16", 16509, "AMAZON-02"),
    AsnEntry("2001:db8::/32", 64503, "IPv6 Transit GmbH"),
]
CITY_ENTRIES = [
    CityEntry("203.0.113.0/24", "NL", "Netherlands", "Amsterdam", 52.37, 4.89),
    CityEntry("198.51.100.0/24", "DE", "Germany", "Berlin", 52.52, 13.40),
]


def pytest_configure() -> None:
    engine = settings.DATABASES["default"]["ENGINE"]
    if "postgresql" not in engine:
        pytest.exit("the suite runs on PostgreSQL: set DATABASE_URL (make test does)", 2)
    # The suite serves static files from the finders (WHITENOISE_USE_FINDERS) and never
    # collects them: an empty STATIC_ROOT of its own keeps WhiteNoise from warning, as each
    # test client loads the middleware, that var/static/ was never collected.
    settings.STATIC_ROOT = tempfile.mkdtemp(prefix="asnwatch-static-")


def pytest_unconfigure() -> None:
    if str(settings.STATIC_ROOT).startswith(tempfile.gettempdir()):
        shutil.rmtree(settings.STATIC_ROOT, ignore_errors=True)


@pytest.fixture(autouse=True)
def no_immediate_notify(monkeypatch):
    """Detector runs and assignments inside the test process ask no broker for an
    immediate notify run; the tests send with notify_due or `manage.py notify`.

    The default broker is `make run`'s folder under var/; the tests of that request
    run the detector in a process of its own (tests/triage/notify/test_detect_notifies.py).
    """
    from triage import assignment, detector

    monkeypatch.setattr(detector, "notify_soon", lambda: None)
    monkeypatch.setattr(assignment, "notify_soon", lambda: None)


@pytest.fixture(scope="session")
def geoip_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("geoip")
    write_asn_database(folder / "asn.mmdb", ASN_ENTRIES)
    write_city_database(folder / "city.mmdb", CITY_ENTRIES)
    return folder


@pytest.fixture(autouse=True)
def geoip(settings, geoip_dir: Path):
    """Every test runs with the test ASN and City databases configured."""
    settings.GEOIP_ASN_DB = geoip_dir / "asn.mmdb"
    settings.GEOIP_CITY_DB = geoip_dir / "city.mmdb"
    network_lookup.cache_clear()
    yield network_lookup()
    network_lookup.cache_clear()
