"""Notification tests' data: a network with a hostile organisation name, and alerts.

The loopback peers (webhook receiver, SMTP server) are in tests/peers.py.
"""

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from ingest.mmdb import AsnEntry, write_asn_database, write_city_database
from tests.cloudtrail import principal_invoke, run_detect
from tests.conftest import ASN_ENTRIES, CITY_ENTRIES
from tests.triage.conftest import RULE_ASN_ENTRIES
from triage.models import Alert

T0 = datetime(2026, 10, 1, 12, 0, tzinfo=UTC)
HOSTILE_ORGANISATION = "Evil <b>Corp</b> @here <!channel> *bold* [x](http://evil.example)"
HOSTILE_NETWORK = "198.18.66.6"  # AS64666, HOSTILE_ORGANISATION


@pytest.fixture(scope="session")
def geoip_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("geoip-notify")
    hostile = AsnEntry("198.18.66.0/24", 64666, HOSTILE_ORGANISATION)
    write_asn_database(folder / "asn.mmdb", [*ASN_ENTRIES, *RULE_ASN_ENTRIES, hostile])
    write_city_database(folder / "city.mmdb", CITY_ENTRIES)
    return folder


@pytest.fixture
def make_alerts(ingest) -> Callable[..., list[Alert]]:
    """Alerts from real CloudTrail records through ingest_files and the detector."""

    def make_alerts(*records: dict) -> list[Alert]:
        before = set(Alert.objects.values_list("pk", flat=True))
        ingest(*(records or [principal_invoke(T0)]))
        run_detect()
        return list(
            Alert.objects.exclude(pk__in=before)
            .select_related("event")
            .order_by("created_at", "id")
        )

    return make_alerts
