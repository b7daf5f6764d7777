"""Settings come from the environment; a bad value stops start-up naming the variable."""

import re

import pytest

from tests.helpers import manage


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("DEBUG", "maybe"),
        ("DATABASE_URL", "nonsense://x"),
        ("EVENT_RETENTION_DAYS", "5"),
        ("EVENT_RETENTION_DAYS", "thirty"),
        ("CLOUDTRAIL_START", "last tuesday"),
        ("DETECTION_BASELINE_START", "2026-13-01"),
        ("GEOIP_ASN_DB", "/nonexistent/GeoLite2-ASN.mmdb"),
        ("CLOUDTRAIL_INBOX_DIR", "/nonexistent/inbox"),
        ("SECRET_KEY", "short"),
        ("REVIEW_SCHEDULE", "mondays at 8"),
        ("REVIEW_SCHEDULE", "0 25 * * mon"),
    ],
)
def test_it_refuses_a_bad_value_naming_the_variable(variable, value, tmp_path):
    result = manage("check", env={variable: value, "ASNWATCH_VAR_DIR": str(tmp_path)})

    assert result.returncode != 0
    assert variable in result.stderr
    assert "Traceback" not in result.stderr.splitlines()[-1]


def test_it_starts_on_embedded_defaults_with_a_generated_secret_key(tmp_path):
    result = manage("check", env={"ASNWATCH_VAR_DIR": str(tmp_path), "SECRET_KEY": ""})

    assert result.returncode == 0, result.stderr
    key = (tmp_path / "secret_key").read_text()
    assert len(key) >= 50
    assert (tmp_path / "secret_key").stat().st_mode & 0o077 == 0


def test_it_passes_the_deploy_check_but_for_what_the_https_proxy_handles(tmp_path):
    result = manage(
        "check",
        "--deploy",
        env={"DEBUG": "false", "ASNWATCH_VAR_DIR": str(tmp_path), "SECRET_KEY": ""},
    )

    warnings = set(re.findall(r"\(security\.(W\d+)\)", result.stderr + result.stdout))
    # HSTS (W004) and the HTTP→HTTPS redirect (W008) belong to the reverse proxy.
    assert warnings <= {"W004", "W008"}, result.stderr


def test_it_checks_the_embedded_sqlite_database_without_warnings(tmp_path):
    result = manage(
        "check",
        "--database",
        "default",
        env={
            "DATABASE_URL": f"sqlite:///{tmp_path / 'asnwatch.sqlite3'}",
            "ASNWATCH_VAR_DIR": str(tmp_path),
        },
    )

    assert result.returncode == 0, result.stderr
    assert "System check identified no issues" in result.stdout, result.stdout + result.stderr
