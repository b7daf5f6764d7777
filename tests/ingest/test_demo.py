"""manage.py demo: the demo data `make run` starts with, read back through ingest_files.

The demo is written and ingested once for the module (ingesting ~400 files
per test would make the module slow); the ingested events live in a
transaction that is rolled back when the module ends.
"""

import gzip
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.db import transaction
from django.db.models import Min
from django.test import override_settings
from pytest_django import DjangoDbBlocker
from pytest_django.fixtures import Settings

from ingest.geoip import network_lookup
from ingest.logfiles import parse_key
from ingest.models import Event, LogObject, with_details

NOW = datetime(2026, 3, 6, 12, 0, tzinfo=UTC)  # a Friday
THIS_WEEK = datetime(
    2026, 3, 2, tzinfo=UTC
)  # its Monday: the review's default week is the one before
LAST_WEEK = THIS_WEEK - timedelta(days=7)
PROD, STAGING, SANDBOX = "402186593710", "583920174455", "719305528146"
TRUSTED_PREFIXES = ("Amazon", "AMAZON", "Google", "GOOGLE", "Microsoft", "MICROSOFT")


def run_demo(target: Path, *args: str) -> str:
    out = StringIO()
    call_command("demo", "--target", str(target), "--now", NOW.isoformat(), *args, stdout=out)
    return out.getvalue()


def log_files(target: Path) -> dict[str, bytes]:
    logs = target / "logs"
    return {path.relative_to(logs).as_posix(): path.read_bytes() for path in logs.rglob("*.gz")}


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = tmp_path_factory.mktemp("demo")
    run_demo(target)
    return target


@pytest.fixture(scope="module")
def ingested(
    demo_dir: Path, django_db_setup: None, django_db_blocker: DjangoDbBlocker
) -> Iterator[str]:
    """ingest_files' output for the demo logs, read with the demo's own databases."""
    databases = override_settings(
        GEOIP_ASN_DB=demo_dir / "asn.mmdb", GEOIP_CITY_DB=demo_dir / "city.mmdb"
    )
    with django_db_blocker.unblock(), transaction.atomic(), databases:
        network_lookup.cache_clear()
        out = StringIO()
        try:
            call_command("ingest_files", str(demo_dir / "logs"), stdout=out)
        finally:
            network_lookup.cache_clear()
        yield out.getvalue()
        transaction.set_rollback(True)


@pytest.mark.django_db
def test_it_stores_every_event_of_three_accounts_without_a_problem(ingested: str) -> None:
    assert ", 0 failed, 0 problems" in ingested
    assert set(Event.objects.values_list("account_id", flat=True)) == {PROD, STAGING, SANDBOX}
    assert {event.region for event in with_details(Event.objects.all())} == {
        "eu-west-1",
        "eu-central-1",
        "us-east-1",
    }
    assert Event.objects.count() > 1500
    assert Event.objects.filter(outcome="failure").exists()


@pytest.mark.django_db
def test_it_writes_cloudtrails_layout_and_digests_that_are_skipped(
    ingested: str, demo_dir: Path
) -> None:
    keys = list(log_files(demo_dir))
    digests = [key for key in keys if "/CloudTrail-Digest/" in key]
    event_logs = [key for key in keys if key not in digests]
    assert digests
    assert all(parse_key(key) is not None for key in event_logs)
    assert f"{len(keys)} files" in ingested
    assert f"{len(digests)} skipped, 0 failed" in ingested
    assert LogObject.objects.count() == len(event_logs)
    assert not LogObject.objects.exclude(status=LogObject.Status.DONE).exists()


@pytest.mark.django_db
def test_it_has_invokes_by_principals_and_by_services(ingested: str) -> None:
    invokes = Event.objects.filter(provider="lambda.amazonaws.com", action="Invoke")
    assert set(invokes.values_list("invoked_by", flat=True)) == {
        None,
        "apigateway.amazonaws.com",
        "events.amazonaws.com",
    }
    # API Gateway with a credentials role: an assumed role, and invokedBy all the same.
    assert invokes.filter(identity_type="AssumedRole", invoked_by__isnull=False).exists()
    assert invokes.filter(identity_type="IAMUser", invoked_by__isnull=True).exists()
    assert invokes.filter(identity_type="AssumedRole", invoked_by__isnull=True).exists()
    sessions = Event.objects.filter(
        action="AssumeRole", invoked_by="lambda.amazonaws.com", user_name__isnull=True
    )
    assert sessions.count() > 20


@pytest.mark.django_db
def test_it_enriches_sources_with_the_demo_networks(ingested: str) -> None:
    organizations = set(Event.objects.values_list("as_organization", flat=True))
    assert {
        "AMAZON-02",
        "AMAZON-AES",
        "GOOGLE-CLOUD-PLATFORM",
        "MICROSOFT-CORP-MSN-AS-BLOCK",
        "Deutsche Telekom AG",
        "British Telecommunications PLC",
        "Comcast Cable Communications, LLC",
        "DIGITALOCEAN-ASN",
        "OVH SAS",
        "Hetzner Online GmbH",
        "M247 Europe SRL",
        "TELEFONICA BRASIL S.A",
    } <= organizations
    ipv6 = Event.objects.filter(source_ip__contains=":", as_organization="Deutsche Telekom AG")
    assert ipv6.exists()
    number_only = Event.objects.filter(as_number=211252)
    assert number_only.exists()
    assert not number_only.filter(as_organization__isnull=False).exists()
    events = list(with_details(Event.objects.all()))
    assert any(
        (event.geo or {}).get("country_iso_code") == "BR"
        and event.geo.get("city_name") == "São Paulo"
        for event in events
    )
    # Service principals' addresses are host names, not IPs: nothing to look up.
    from_gateway = [e for e in events if e.source_address == "apigateway.amazonaws.com"]
    assert from_gateway
    assert all(event.as_number is None for event in from_gateway)


@pytest.mark.django_db
def test_it_tells_stolen_credential_stories_in_last_week_and_this_week(ingested: str) -> None:
    recent = Event.objects.filter(timestamp__gte=LAST_WEEK)
    invokes = recent.filter(provider="lambda.amazonaws.com", action="Invoke", invoked_by=None)

    droplet = invokes.filter(
        identity_type="AssumedRole", as_organization="DIGITALOCEAN-ASN", user_name="orders-api-role"
    ).first()
    assert droplet is not None
    same_address = set(recent.filter(source_ip=droplet.source_ip).values_list("action", flat=True))
    assert {"GetCallerIdentity", "ListFunctions20150331", "Invoke"} <= same_address
    # The session key was the function's own, used from AWS before it was stolen.
    assert Event.objects.filter(
        access_key_id=droplet.access_key_id, as_organization="AMAZON-02"
    ).exists()

    abroad = [
        event
        for event in with_details(invokes.filter(identity_type="IAMUser"))
        if (event.geo or {}).get("country_iso_code") == "BR"
    ]
    assert {event.user_name for event in abroad} == {"james.wright"}
    assert any(
        (event.geo or {}).get("country_iso_code") == "BR"
        and event.error_code == "AccessDeniedException"
        for event in with_details(recent.filter(action="UpdateFunctionCode20150331v2"))
    )

    hostile = invokes.filter(user_name="ci-deployer", as_organization="M247 Europe SRL")
    assert {event.user_agent for event in hostile} == {"<img src=x onerror=alert(1)>"}
    assert any("<script>" in event.request_parameters["functionName"] for event in hostile)

    # The weekly review shows last week by default: two stories fall in it, one in this week.
    assert LAST_WEEK <= droplet.timestamp < THIS_WEEK
    assert all(LAST_WEEK <= event.timestamp < THIS_WEEK for event in abroad)
    assert all(THIS_WEEK <= event.timestamp < NOW for event in hostile)


@pytest.mark.django_db
def test_its_routine_is_not_new_after_learning_only_the_stories_are(ingested: str) -> None:
    # The rule's query and new terms (DESIGN.md section 3), applied to the demo's events.
    candidates = (
        Event.objects.filter(
            provider="lambda.amazonaws.com",
            action__startswith="Invoke",
            outcome="success",
            invoked_by=None,
            as_organization__isnull=False,
            account_id__isnull=False,
            user_name__isnull=False,
        )
        .order_by("timestamp")
        .values_list("as_organization", "account_id", "user_name", "timestamp")
    )
    learning_ends = Event.objects.aggregate(first=Min("timestamp"))["first"] + timedelta(days=10)
    last_seen: dict[tuple[str, str, str], datetime] = {}
    new_terms = set()
    for organization, account, user, timestamp in candidates:
        if organization.startswith(TRUSTED_PREFIXES):
            continue
        terms = (organization, account, user)
        previous = last_seen.get(terms)
        if timestamp >= learning_ends and (
            previous is None or previous < timestamp - timedelta(days=10)
        ):
            new_terms.add(terms)
        last_seen[terms] = timestamp

    assert new_terms == {
        ("DIGITALOCEAN-ASN", PROD, "orders-api-role"),
        ("TELEFONICA BRASIL S.A", PROD, "james.wright"),
        ("M247 Europe SRL", PROD, "ci-deployer"),
        ("OVH SAS", PROD, "uptime-probe"),
    }


def test_it_writes_the_same_bytes_for_the_same_seed_and_now(
    tmp_path: Path, settings: Settings
) -> None:
    settings.GEOIP_ASN_DB = settings.GEOIP_CITY_DB = None  # demo makes them; it needs none
    network_lookup.cache_clear()
    run_demo(tmp_path / "one", "--days", "3")
    run_demo(tmp_path / "two", "--days", "3")
    run_demo(tmp_path / "other-seed", "--days", "3", "--seed", "8")

    assert log_files(tmp_path / "one") == log_files(tmp_path / "two")
    assert log_files(tmp_path / "one") != log_files(tmp_path / "other-seed")


@pytest.mark.parametrize(
    "now",
    [NOW, THIS_WEEK + timedelta(minutes=20), THIS_WEEK + timedelta(hours=2)],
    ids=["friday", "monday-00-20", "monday-02-00"],
)
@pytest.mark.parametrize("days", [1, 2, 9])
def test_it_writes_short_demos_telling_only_the_stories_inside_them(
    tmp_path: Path, days: int, now: datetime
) -> None:
    out = StringIO()
    call_command("demo", target=tmp_path, days=days, now=now, stdout=out)

    assert "log files with" in out.getvalue()
    for content in log_files(tmp_path).values():
        for record in json.loads(gzip.decompress(content)).get("Records", []):
            moment = datetime.fromisoformat(record["eventTime"])
            assert now - timedelta(days=days + 1) <= moment < now


def test_it_keeps_existing_data_unless_forced(tmp_path: Path) -> None:
    first = run_demo(tmp_path, "--days", "3")
    written = log_files(tmp_path)
    assert first.splitlines()[-1] == (
        f"GEOIP_ASN_DB={tmp_path / 'asn.mmdb'} GEOIP_CITY_DB={tmp_path / 'city.mmdb'}"
    )

    again = run_demo(tmp_path, "--days", "3", "--seed", "8")
    assert f"kept the demo data in {tmp_path}" in again
    assert log_files(tmp_path) == written

    out = StringIO()
    later = NOW + timedelta(days=30)
    call_command("demo", target=tmp_path, days=3, now=later, force=True, stdout=out)
    rewritten = log_files(tmp_path)
    assert "log files with" in out.getvalue()
    assert rewritten
    assert not set(written) & set(rewritten)  # nothing left over from the first run
