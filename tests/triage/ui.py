"""What the triage UI tests share: the personas, and two stories read in through
`ingest_files` and turned into alerts by the detector, as in production.

- alice, an IAM user who invokes `billing-export` from her office every day,
  has her access key used from a VPS: discovery, then the invocation (an alert).
- the execution role `billing-fn-role` normally calls from AWS; its temporary
  key is used from a network whose organisation name is markup, with a user
  agent and a function name that are markup too (an alert whose every field
  is hostile).
"""

import functools
import tempfile
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.contrib.auth.models import Group
from django.test import Client
from django.utils import timezone

from ingest.mmdb import AsnEntry, write_asn_database, write_city_database
from ingest.models import Event
from tests.cloudtrail import (
    ACCOUNT,
    REGION,
    assumed_role_identity,
    iam_user_identity,
    invoke_record,
    management_record,
    run_ingest_files,
    write_log,
)
from tests.conftest import ASN_ENTRIES, CITY_ENTRIES
from triage import detector
from triage.models import Alert

PASSWORD = "correct horse battery staple"
OFFICE = "198.51.100.7"  # AS64501 Example Office Networks
EVIL_VPS = "203.0.113.10"  # AS64500 Evil VPS Ltd, Amsterdam
AWS = "52.94.1.20"  # AS16509 AMAZON-02
HOSTILE = "198.18.66.6"

HOSTILE_ORG = '<script>alert("org")</script> Hosting'
HOSTILE_UA = '<img src=x onerror=alert("ua")>'
HOSTILE_FUNCTION = '"><svg onload=alert("fn")>'
# The escaped forms a browser shows as text.
ESCAPED_ORG = "&lt;script&gt;alert(&quot;org&quot;)&lt;/script&gt; Hosting"
ESCAPED_UA = "&lt;img src=x onerror=alert(&quot;ua&quot;)&gt;"
ESCAPED_FUNCTION = "&quot;&gt;&lt;svg onload=alert(&quot;fn&quot;)&gt;"
RAW_TAGS = ("<script>alert(", "<img src=x onerror", "<svg onload")

UI_ASN_ENTRIES = [*ASN_ENTRIES, AsnEntry("198.18.66.0/24", 64666, HOSTILE_ORG)]


def write_geoip(folder: Path) -> Path:
    write_asn_database(folder / "asn.mmdb", UI_ASN_ENTRIES)
    write_city_database(folder / "city.mmdb", CITY_ENTRIES)
    return folder


@dataclass
class People:
    analyst: object
    admin: object
    outsider: object
    superuser: object


@functools.cache
def _password_hash(hashers: tuple[str, ...]) -> str:
    # Hashing is slow on purpose; once per configured hasher is enough for a test run.
    return make_password(PASSWORD)


def people() -> People:
    """The personas: an analyst, an allowlist admin, a user in no group, a superuser."""
    users = get_user_model()
    password = _password_hash(tuple(settings.PASSWORD_HASHERS))
    analysts, _ = Group.objects.get_or_create(name="analyst")
    admins, _ = Group.objects.get_or_create(name="allowlist-admin")
    analyst = users.objects.create(username="ana", password=password)
    analyst.groups.add(analysts)
    admin = users.objects.create(username="adam", password=password)
    admin.groups.add(admins)
    outsider = users.objects.create(username="olga", password=password)
    superuser = users.objects.create(
        username="root", password=password, is_superuser=True, is_staff=True
    )
    return People(analyst, admin, outsider, superuser)


def client_for(user) -> Client:
    client = Client()
    if user is not None:
        client.force_login(user)
    return client


@dataclass
class Story:
    alice: Alert  # IAM user, key used from Evil VPS Ltd
    role: Alert  # assumed role, every field hostile


def hostile_function_arn() -> str:
    return f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{HOSTILE_FUNCTION}"


def stories(settings, now: datetime | None = None) -> Story:
    """Ingest both stories and run the detector; returns their alerts.

    Learning ends three days ago, so the first days of routine use are history
    and the routine itself raises no alert.
    """
    now = now or timezone.now()
    settings.DETECTION_BASELINE_START = now - timedelta(days=13)
    alice = iam_user_identity()
    role = assumed_role_identity()
    day = timedelta(days=1)
    records = []
    for days_ago in range(6, 0, -1):
        records.append(invoke_record(when=now - days_ago * day, source_ip=OFFICE, identity=alice))
        records.append(invoke_record(when=now - days_ago * day, source_ip=AWS, identity=role))
    attack = now - timedelta(hours=2)
    records += [
        management_record(
            when=attack - timedelta(minutes=5),
            event_name="GetCallerIdentity",
            identity=alice,
            sourceIPAddress=EVIL_VPS,
            eventSource="sts.amazonaws.com",
        ),
        invoke_record(when=attack, source_ip=EVIL_VPS, identity=alice, event_id="alice-attack"),
        management_record(
            when=attack + timedelta(minutes=3),
            event_name="ListFunctions20150331",
            identity=alice,
            sourceIPAddress=EVIL_VPS,
        ),
        invoke_record(
            when=attack + timedelta(minutes=30),
            source_ip=HOSTILE,
            identity=role,
            event_id="role-attack",
            userAgent=HOSTILE_UA,
            requestParameters={"functionName": hostile_function_arn()},
        ),
    ]
    with tempfile.TemporaryDirectory() as folder:
        run = run_ingest_files(write_log(Path(folder) / "stories.json.gz", records))
        assert run.error is None, run.stderr
    detector.detect()
    return Story(
        alice=Alert.objects.get(event__event_id="alice-attack"),
        role=Alert.objects.get(event__event_id="role-attack"),
    )


def htmx(client: Client, method: str, url: str, data: dict | None = None, target: str = ""):
    """A request as htmx sends it."""
    headers = {"HX-Request": "true"}
    if target:
        headers["HX-Target"] = target
    return getattr(client, method)(url, data or {}, headers=headers)


def assert_inert(html: str, *escaped: str) -> None:
    """Hostile values are present as text (escaped), never as markup."""
    for tag in RAW_TAGS:
        assert tag not in html, f"raw markup {tag!r} in the page"
    for text in escaped:
        assert text in html, f"{text!r} missing from the page"


def stored_alerts(
    count: int,
    *,
    label: str = "stored",
    user_name: str | None = None,
    account_id: str = "444455556666",
    organization: str = "Evil VPS Ltd",
    as_number: int | None = 64500,
    status: str = "open",
    minutes_ago: int = 0,
) -> list[Alert]:
    """Alerts on events of their own, straight into the tables (the list does not care how):
    each a minute older than the one before from minutes_ago, each its own principal
    (user-000, user-001, …) unless user_name names one for all."""
    now = timezone.now()
    users = [user_name or f"user-{index:03d}" for index in range(count)]
    events = Event.objects.bulk_create(
        Event(
            event_id=f"{label}-{index}",
            timestamp=now - timedelta(minutes=minutes_ago + index),
            ingested=now,
            provider="lambda.amazonaws.com",
            action="Invoke",
            outcome="success",
            account_id=account_id,
            user_name=users[index],
            as_number=as_number,
            as_organization=organization,
            function_name=f"fn-{index}",
        )
        for index in range(count)
    )
    return Alert.objects.bulk_create(
        Alert(
            event=event,
            as_organization=organization,
            account_id=account_id,
            user_name=event.user_name,
            as_number=as_number,
            original_time=event.timestamp,
            episode_start=event.timestamp,
            episode_end=event.timestamp,
            severity="medium",
            risk_score=47,
            reason=f"Lambda Invoke fn by {event.user_name}",
            status=status,
        )
        for event in events
    )
