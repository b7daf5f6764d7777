"""Write small MaxMind-format ASN and City databases (the demo data and tests).

Real deployments read GeoLite2-ASN or DB-IP's ASN lite; these files have the
same layout, so the same reader code path is exercised.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from mmdb_writer import MMDBWriter
from netaddr import IPSet


@dataclass(frozen=True)
class AsnEntry:
    network: str  # CIDR, IPv4 or IPv6
    as_number: int
    as_organization: str | None  # some entries have a number and no organisation


@dataclass(frozen=True)
class CityEntry:
    network: str
    country_iso_code: str
    country_name: str
    city_name: str | None = None
    latitude: float | None = None
    longitude: float | None = None


def _writer(database_type: str) -> MMDBWriter:
    return MMDBWriter(
        ip_version=6,
        ipv4_compatible=True,
        database_type=database_type,
        languages=["en"],
        description={"en": f"asnwatch {database_type}"},
    )


def write_asn_database(path: Path, entries: Iterable[AsnEntry]) -> Path:
    writer = _writer("GeoLite2-ASN")
    for entry in entries:
        record: dict = {"autonomous_system_number": entry.as_number}
        if entry.as_organization:
            record["autonomous_system_organization"] = entry.as_organization
        writer.insert_network(IPSet([entry.network]), record)
    path.parent.mkdir(parents=True, exist_ok=True)
    writer.to_db_file(str(path))
    return path


def write_city_database(path: Path, entries: Iterable[CityEntry]) -> Path:
    writer = _writer("GeoLite2-City")
    for entry in entries:
        record: dict = {
            "country": {"iso_code": entry.country_iso_code, "names": {"en": entry.country_name}},
        }
        if entry.city_name:
            record["city"] = {"names": {"en": entry.city_name}}
        if entry.latitude is not None and entry.longitude is not None:
            record["location"] = {"latitude": entry.latitude, "longitude": entry.longitude}
        writer.insert_network(IPSet([entry.network]), record)
    path.parent.mkdir(parents=True, exist_ok=True)
    writer.to_db_file(str(path))
    return path
