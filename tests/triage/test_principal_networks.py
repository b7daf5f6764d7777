"""Principal-network history kept at ingest: which networks each principal used, when, how often.

Events go in through `manage.py ingest_files`; the history is read from
ingest.models.PrincipalNetwork and PrincipalNetworkDay.
"""

from datetime import UTC, date, datetime, timedelta

import pytest

from ingest.models import CredentialNetwork, PrincipalNetwork, PrincipalNetworkDay
from tests.cloudtrail import (
    ACCOUNT,
    aws_service_identity,
    iam_user_identity,
    invoke_record,
    management_record,
    principal_invoke,
    run_ingest_files,
    write_log,
)
from tests.triage.conftest import EVIL_VPS, NO_ORGANISATION, OFFICE

pytestmark = pytest.mark.django_db
T0 = datetime(2026, 10, 1, 12, 0, tzinfo=UTC)
DAY = timedelta(days=1)
SECOND = timedelta(seconds=1)


def networks() -> set[tuple]:
    return set(
        PrincipalNetwork.objects.values_list(
            "account_id",
            "user_name",
            "as_number",
            "as_organization",
            "first_seen",
            "last_seen",
            "event_count",
        )
    )


def days(user: str, as_number: int, account: str = ACCOUNT) -> dict[date, int]:
    return dict(
        PrincipalNetworkDay.objects.filter(
            network__account_id=account, network__user_name=user, network__as_number=as_number
        ).values_list("day", "event_count")
    )


def test_it_records_each_network_each_principal_used(ingest):
    midnight = datetime(2026, 10, 2, tzinfo=UTC)
    ingest(
        principal_invoke(T0),
        principal_invoke(midnight - SECOND),
        # Any activity counts, not only invocations.
        management_record(when=midnight, sourceIPAddress=EVIL_VPS),
        principal_invoke(T0 + 3 * DAY, source_ip=OFFICE),
        principal_invoke(T0, user="bob"),
        principal_invoke(T0, account="444455556666"),
        principal_invoke(T0, source_ip=NO_ORGANISATION),
    )

    assert networks() == {
        (ACCOUNT, "alice", 64500, "Evil VPS Ltd", T0, midnight, 3),
        (ACCOUNT, "alice", 64501, "Example Office Networks", T0 + 3 * DAY, T0 + 3 * DAY, 1),
        (ACCOUNT, "bob", 64500, "Evil VPS Ltd", T0, T0, 1),
        ("444455556666", "alice", 64500, "Evil VPS Ltd", T0, T0, 1),
        (ACCOUNT, "alice", 64502, "", T0, T0, 1),
    }
    assert days("alice", 64500) == {date(2026, 10, 1): 2, date(2026, 10, 2): 1}
    assert days("alice", 64501) == {date(2026, 10, 4): 1}
    assert days("alice", 64500, account="444455556666") == {date(2026, 10, 1): 1}


@pytest.mark.parametrize(
    "record",
    [
        principal_invoke(T0, source_ip="lambda.amazonaws.com"),
        principal_invoke(T0, source_ip="AWS Internal"),
        principal_invoke(T0, source_ip="8.8.8.8"),
        invoke_record(when=T0, source_ip=EVIL_VPS, identity=aws_service_identity()),
        invoke_record(
            when=T0,
            source_ip=EVIL_VPS,
            identity={**iam_user_identity(), "accountId": None},
            recipientAccountId=None,
        ),
    ],
    ids=["host-name", "aws-internal", "address-not-in-database", "no-user-name", "no-account"],
)
def test_it_records_no_network_without_an_as_number_or_a_principal(ingest, record):
    ingest(record, principal_invoke(T0 - DAY, user="control"))

    assert {network[1] for network in networks()} == {"control"}
    assert PrincipalNetworkDay.objects.count() == 1


def test_it_counts_nothing_twice_when_events_are_read_again(tmp_path):
    first = [principal_invoke(T0 + n * DAY, event_id=f"e{n}") for n in range(3)]
    log = write_log(tmp_path / "a.json.gz", first)
    run_ingest_files(log)
    run_ingest_files(log)
    # Another file repeating two events, with one of its own.
    run_ingest_files(
        write_log(tmp_path / "b.json", [*first[1:], principal_invoke(T0 + 3 * DAY, event_id="e3")])
    )
    # The same event twice in one file.
    repeated = principal_invoke(T0 + 4 * DAY, event_id="e4")
    run_ingest_files(write_log(tmp_path / "c.json", [repeated, repeated]))

    assert networks() == {(ACCOUNT, "alice", 64500, "Evil VPS Ltd", T0, T0 + 4 * DAY, 5)}
    assert days("alice", 64500) == {(T0 + n * DAY).date(): 1 for n in range(5)}


def test_it_moves_first_and_last_seen_for_late_and_new_files(ingest):
    ingest(principal_invoke(T0))
    ingest(principal_invoke(T0 - 3 * DAY + SECOND), principal_invoke(T0 - 3 * DAY))
    ingest(principal_invoke(T0 + 2 * DAY))

    assert networks() == {(ACCOUNT, "alice", 64500, "Evil VPS Ltd", T0 - 3 * DAY, T0 + 2 * DAY, 4)}
    assert days("alice", 64500) == {
        date(2026, 9, 28): 2,
        date(2026, 10, 1): 1,
        date(2026, 10, 3): 1,
    }


def credentials() -> set[tuple]:
    return set(
        CredentialNetwork.objects.values_list(
            "access_key_id",
            "as_number",
            "as_organization",
            "first_seen",
            "last_seen",
            "event_count",
        )
    )


def test_it_records_where_each_access_key_was_used_once_per_event(tmp_path, ingest):
    key = iam_user_identity("alice")["accessKeyId"]
    late = principal_invoke(T0 - DAY, event_id="late", source_ip=EVIL_VPS)
    ingest(principal_invoke(T0, event_id="first"), principal_invoke(T0 + DAY, source_ip=OFFICE))
    ingest(late, principal_invoke(T0 + 2 * DAY, event_id="newest"))
    run_ingest_files(write_log(tmp_path / "again.json", [late]))  # counted once
    # A service's host name has no AS number: recorded as none.
    ingest(principal_invoke(T0, sourceIPAddress="lambda.amazonaws.com"))

    assert credentials() == {
        (key, 64500, "Evil VPS Ltd", T0 - DAY, T0 + 2 * DAY, 3),
        (key, 64501, "Example Office Networks", T0 + DAY, T0 + DAY, 1),
        (key, CredentialNetwork.NO_AS, None, T0, T0, 1),
    }
