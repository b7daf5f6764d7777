"""ASN and geo enrichment of source.ip from MaxMind-format databases.

The databases are opened once per process. A configured database that is
missing, corrupt or of the wrong type is an error at start-up: a silent
"no ASN" would silently disable detection. A database that opens but holds
bad data for some networks fails only their lookups: those come back with
an error for each record to report, and without the fields that failed.
"""

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import geoip2.database
import geoip2.errors
import maxminddb
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured


@dataclass(frozen=True)
class Network:
    as_number: int | None = None
    as_organization: str | None = None
    geo: dict[str, Any] | None = None
    errors: tuple[str, ...] = ()  # lookups that failed: the database, the address and why


NO_NETWORK = Network()

# What a database's reader raises for bad data where an address leads:
# maxminddb's own error, or geoip2's when the data is not the record it expects.
_BAD_DATA = (maxminddb.InvalidDatabaseError, ValueError, TypeError, KeyError)


def _open(variable: str, path: Path, kind: str) -> geoip2.database.Reader:
    try:
        reader = geoip2.database.Reader(str(path))
    except (OSError, ValueError, maxminddb.InvalidDatabaseError) as error:
        raise ImproperlyConfigured(
            f"{variable}={str(path)!r} is not a readable MaxMind database: {error}"
        ) from None
    database_type = reader.metadata().database_type
    if kind not in database_type:
        reader.close()
        raise ImproperlyConfigured(
            f"{variable}={str(path)!r} is a {database_type!r} database,"
            f" not {_article(kind)} {kind} database"
        )
    return reader


def _article(kind: str) -> str:
    return "an" if kind[0] in "AEIOU" else "a"


class NetworkLookup:
    def __init__(self, asn_db: Path | None, city_db: Path | None) -> None:
        self.asn_reader = _open("GEOIP_ASN_DB", asn_db, "ASN") if asn_db else None
        self.city_reader = _open("GEOIP_CITY_DB", city_db, "City") if city_db else None
        self._names = {"asn": f"GEOIP_ASN_DB={asn_db}", "city": f"GEOIP_CITY_DB={city_db}"}
        # A failed lookup is cached with its error, which each record reports.
        self.lookup = functools.lru_cache(maxsize=65536)(self._lookup)

    @property
    def configured(self) -> bool:
        return self.asn_reader is not None

    def _lookup(self, ip: str) -> Network:
        as_number = as_organization = geo = None
        errors = []
        if self.asn_reader is not None:
            try:
                asn = self.asn_reader.asn(ip)
            except geoip2.errors.AddressNotFoundError:
                pass
            except _BAD_DATA as error:
                errors.append(self._failed("asn", ip, error))
            else:
                as_number = asn.autonomous_system_number
                as_organization = asn.autonomous_system_organization or None
        if self.city_reader is not None:
            try:
                geo = _geo(self.city_reader.city(ip))
            except geoip2.errors.AddressNotFoundError:
                pass
            except _BAD_DATA as error:
                errors.append(self._failed("city", ip, error))
        if as_number is None and as_organization is None and geo is None and not errors:
            return NO_NETWORK
        return Network(as_number, as_organization, geo, tuple(errors))

    def _failed(self, database: str, ip: str, error: Exception) -> str:
        field = "source.as.*" if database == "asn" else "source.geo"
        return (
            f"stored without {field}: the lookup of {ip} in {self._names[database]} failed"
            f" ({type(error).__name__}: {error})"
        )


def _geo(city: Any) -> dict[str, Any] | None:
    """source.geo.* as ECS names them, only the parts the database has."""
    fields = {
        "continent_name": city.continent.name,
        "country_iso_code": city.country.iso_code,
        "country_name": city.country.name,
        "region_iso_code": (
            f"{city.country.iso_code}-{city.subdivisions.most_specific.iso_code}"
            if city.country.iso_code and city.subdivisions.most_specific.iso_code
            else None
        ),
        "region_name": city.subdivisions.most_specific.name,
        "city_name": city.city.name,
    }
    geo = {name: value for name, value in fields.items() if value}
    if city.location.latitude is not None and city.location.longitude is not None:
        geo["location"] = {"lat": city.location.latitude, "lon": city.location.longitude}
    return geo or None


@functools.cache
def network_lookup() -> NetworkLookup:
    """The process's lookup over the configured databases (opened on first use)."""
    return NetworkLookup(settings.GEOIP_ASN_DB, settings.GEOIP_CITY_DB)
