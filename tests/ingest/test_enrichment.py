"""source.as.* and source.geo.* from the configured MaxMind-format databases.

The autouse `geoip` fixture (tests/conftest.py) configures databases holding
ASN_ENTRIES and CITY_ENTRIES; these tests read addresses inside and outside them.
"""

from datetime import UTC, datetime

import geoip2.database
import pytest
from django.core.management import CommandError

from ingest.geoip import network_lookup
from ingest.mmdb import AsnEntry, CityEntry, write_asn_database, write_city_database
from ingest.models import Event, LogObject
from tests.cloudtrail import invoke_record, run_ingest_files, write_log
from tests.helpers import manage

pytestmark = pytest.mark.django_db
T0 = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


def stored(tmp_path, source_ip: str) -> Event:
    write_log(tmp_path / "log.json.gz", [invoke_record(when=T0, source_ip=source_ip)])
    run = run_ingest_files(tmp_path)
    assert run.error is None, run.stderr
    return Event.objects.get()


@pytest.mark.parametrize(
    ("address", "as_number", "as_organization"),
    [
        ("203.0.113.10", 64500, "Evil VPS Ltd"),
        ("52.94.7.1", 16509, "AMAZON-02"),
        ("2001:db8:85a3::8a2e:370:7334", 64503, "IPv6 Transit GmbH"),
        ("192.0.2.10", 64502, None),
        ("192.0.2.200", None, None),
        ("8.8.8.8", None, None),
        ("10.1.2.3", None, None),
    ],
    ids=[
        "ipv4",
        "amazon",
        "ipv6",
        "number-without-organisation",
        "just-outside-a-network",
        "not-in-database",
        "private",
    ],
)
def test_it_looks_up_the_network_of_the_source_ip(tmp_path, address, as_number, as_organization):
    event = stored(tmp_path, address)

    assert event.source_address == address
    assert event.source_ip == address
    assert event.as_number == as_number
    assert event.as_organization == as_organization


def test_it_adds_where_the_address_is_from_the_city_database(tmp_path):
    event = stored(tmp_path, "203.0.113.10")

    assert event.geo["country_iso_code"] == "NL"
    assert event.geo["country_name"] == "Netherlands"
    assert event.geo["city_name"] == "Amsterdam"
    assert event.geo["location"] == {
        "lat": pytest.approx(52.37, abs=1e-3),
        "lon": pytest.approx(4.89, abs=1e-3),
    }


def test_it_adds_where_an_ipv6_address_is_from(tmp_path, settings):
    settings.GEOIP_CITY_DB = write_city_database(
        tmp_path / "geoip" / "city-v6.mmdb",
        [CityEntry("2001:db8::/32", "AT", "Austria", "Vienna", 48.21, 16.37)],
    )
    network_lookup.cache_clear()

    event = stored(tmp_path / "logs", "2001:db8::1")

    assert event.as_number == 64503
    assert event.geo["country_name"] == "Austria"
    assert event.geo["city_name"] == "Vienna"


@pytest.mark.parametrize("address", ["10.1.2.3", "192.0.2.10"])
def test_it_adds_no_place_for_an_address_the_city_database_lacks(tmp_path, address):
    assert stored(tmp_path, address).geo is None


def test_it_adds_no_place_without_a_city_database(tmp_path, settings):
    settings.GEOIP_CITY_DB = None
    network_lookup.cache_clear()

    event = stored(tmp_path, "203.0.113.10")

    assert event.as_organization == "Evil VPS Ltd"
    assert event.geo is None


@pytest.mark.parametrize("host", ["lambda.amazonaws.com", "AWS Internal"])
def test_it_keeps_only_the_address_of_a_host_name(tmp_path, host):
    event = stored(tmp_path, host)

    assert event.source_address == host
    assert event.source_ip is None
    assert event.as_number is None
    assert event.as_organization is None
    assert event.geo is None


def test_it_refuses_to_ingest_without_an_asn_database_and_loses_nothing(tmp_path, settings):
    settings.GEOIP_ASN_DB = None
    network_lookup.cache_clear()
    log = write_log(tmp_path / "log.json.gz", [invoke_record(when=T0)])

    run = run_ingest_files(log)

    assert isinstance(run.error, CommandError)
    assert "GEOIP_ASN_DB" in str(run.error)
    # Events stored without source.as.* could never match the rule.
    assert not Event.objects.exists()
    assert not LogObject.objects.exists()

    settings.GEOIP_ASN_DB = write_asn_database(
        tmp_path / "asn.mmdb", [AsnEntry("203.0.113.0/24", 64500, "Evil VPS Ltd")]
    )
    network_lookup.cache_clear()
    run_ingest_files(log)

    assert Event.objects.get().as_number == 64500


def test_it_opens_the_databases_once_per_process(tmp_path, monkeypatch, geoip):
    opened = []

    class CountingReader(geoip2.database.Reader):
        def __init__(self, *args, **kwargs):
            opened.append(args)
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(geoip2.database, "Reader", CountingReader)
    write_log(tmp_path / "1.json", [invoke_record(when=T0, source_ip="203.0.113.10")])
    run_ingest_files(tmp_path)
    write_log(tmp_path / "2.json", [invoke_record(when=T0, source_ip="198.51.100.7")])
    run_ingest_files(tmp_path)

    assert opened == []
    assert network_lookup() is geoip
    assert Event.objects.filter(as_number__isnull=False).count() == 2


def corrupt(path):
    path.write_bytes(b"\x00\x01not a MaxMind database" * 64)
    return path


def truncated(path, geoip_dir):
    # The metadata sits at the end of the file, so this is what an interrupted download leaves.
    path.write_bytes((geoip_dir / "asn.mmdb").read_bytes()[:1000])
    return path


@pytest.mark.parametrize(
    ("variable", "database", "says"),
    [
        ("GEOIP_ASN_DB", lambda tmp, geoip_dir: corrupt(tmp / "asn.mmdb"), "MaxMind"),
        ("GEOIP_ASN_DB", lambda tmp, geoip_dir: truncated(tmp / "asn.mmdb", geoip_dir), "MaxMind"),
        ("GEOIP_ASN_DB", lambda tmp, geoip_dir: tmp / "GeoLite2-ASN.mmdb", "no such file"),
        ("GEOIP_ASN_DB", lambda tmp, geoip_dir: geoip_dir / "city.mmdb", "City"),
        ("GEOIP_CITY_DB", lambda tmp, geoip_dir: corrupt(tmp / "city.mmdb"), "MaxMind"),
        ("GEOIP_CITY_DB", lambda tmp, geoip_dir: geoip_dir / "asn.mmdb", "ASN"),
    ],
    ids=[
        "corrupt",
        "truncated",
        "missing",
        "asn-is-a-city-database",
        "city-corrupt",
        "city-is-an-asn-database",
    ],
)
def test_it_stops_at_start_up_on_a_database_it_cannot_use(
    tmp_path, geoip_dir, variable, database, says
):
    env = {
        "GEOIP_ASN_DB": str(geoip_dir / "asn.mmdb"),
        "GEOIP_CITY_DB": "",
        "ASNWATCH_VAR_DIR": str(tmp_path),
        variable: str(database(tmp_path, geoip_dir)),
    }

    result = manage("check", env=env)

    assert result.returncode != 0
    last_line = result.stderr.strip().splitlines()[-1]
    assert variable in last_line
    assert says in last_line


def test_it_starts_with_usable_databases(tmp_path, geoip_dir):
    result = manage(
        "check",
        env={
            "GEOIP_ASN_DB": str(geoip_dir / "asn.mmdb"),
            "GEOIP_CITY_DB": str(geoip_dir / "city.mmdb"),
            "ASNWATCH_VAR_DIR": str(tmp_path),
        },
    )

    assert result.returncode == 0, result.stderr
