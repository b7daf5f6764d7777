"""A GeoIP database or setting that stops start-up: one line naming it, exit 78, no traceback."""

from pathlib import Path

import pytest

from tests.helpers import manage

EXIT_CONFIG = 78


def garbage(folder: Path) -> Path:
    path = folder / "GeoLite2-ASN.mmdb"
    path.write_bytes(b"not a MaxMind database\n" * 100)
    return path


CASES = {
    "asn-missing": ("GEOIP_ASN_DB", lambda geoip, tmp: tmp / "absent.mmdb"),
    "asn-corrupt": ("GEOIP_ASN_DB", lambda geoip, tmp: garbage(tmp)),
    "asn-given-a-city-database": ("GEOIP_ASN_DB", lambda geoip, tmp: geoip / "city.mmdb"),
    "city-given-an-asn-database": ("GEOIP_CITY_DB", lambda geoip, tmp: geoip / "asn.mmdb"),
}
COMMANDS = {"ingest_files": ["ingest_files", "."], "migrate": ["migrate", "--no-input"]}


@pytest.mark.parametrize("command", COMMANDS.values(), ids=COMMANDS.keys())
@pytest.mark.parametrize(("variable", "database"), CASES.values(), ids=CASES.keys())
def test_it_names_the_broken_geoip_database_in_one_line(
    variable, database, command, geoip_dir, tmp_path
):
    path = database(geoip_dir, tmp_path)
    env = {"GEOIP_ASN_DB": str(geoip_dir / "asn.mmdb"), variable: str(path)}

    result = manage(*command, env=env)

    assert result.returncode == EXIT_CONFIG, result.stderr
    assert "Traceback" not in result.stderr
    assert result.stderr.splitlines() == [result.stderr.strip()]
    assert result.stderr.startswith(f"asnwatch: {variable}={str(path)!r}")


def test_it_prints_a_settings_error_as_its_message_alone():
    result = manage("detect", env={"DEBUG": "maybe"})

    assert result.returncode == EXIT_CONFIG
    assert result.stderr == "asnwatch: DEBUG='maybe' is not a boolean (use true or false)\n"
