"""manage.py detect with exclusions (the ASN allowlist) added through `manage.py exclusions`.

An exclusion in force suppresses the events it matches and hides them from
history; each run counts what each exclusion suppressed.
"""

import io
from datetime import UTC, datetime, timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from tests.cloudtrail import ACCOUNT, principal_invoke, run_detect
from tests.triage.conftest import EVIL_VPS, EVIL_VPS_OTHER_AS, OFFICE
from triage.models import Alert, DetectionRun, Exclusion, RunSuppression

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("learning_over")]
T0 = datetime(2026, 10, 1, 12, 0, tzinfo=UTC)
DAY = timedelta(days=1)
HOUR = timedelta(hours=1)


def add_exclusion(*arguments: str) -> Exclusion:
    stdout = io.StringIO()
    call_command("exclusions", "--by", "allowlist-admin", "add", *arguments, stdout=stdout)
    return Exclusion.objects.get(pk=int(stdout.getvalue().split()[-1]))


def alerted() -> dict[str, int]:
    return dict(Alert.objects.values_list("event__event_id", "event_count"))


def suppressions(run: DetectionRun) -> dict[int, int]:
    return dict(run.suppressions.values_list("exclusion_id", "events"))


def last_run() -> DetectionRun:
    return DetectionRun.objects.order_by("-id").first()


@pytest.mark.parametrize(
    ("conditions", "applies"),
    [
        (["--asn", "64500"], True),
        (["--asn", "64501"], False),
        (["--as-org", "Evil VPS Ltd"], True),
        (["--as-org", "eVIL vps LTD"], True),
        (["--as-org", "evil*"], True),
        (["--as-org", "*VPS*"], True),
        (["--as-org", "*ltd"], True),
        (["--as-org", "Evil"], False),
        (["--as-org", "*VPS"], False),
        (["--as-org", "Evil?VPS*"], False),
        (["--account", ACCOUNT], True),
        (["--account", "444455556666"], False),
        (["--user-name", "alice"], True),
        (["--user-name", "Alice"], False),
        (["--asn", "64500", "--user-name", "alice"], True),
        (["--asn", "64500", "--user-name", "bob"], False),
        (["--as-org", "evil*", "--account", "444455556666"], False),
        (
            ["--asn", "64500", "--as-org", "EVIL*", "--account", ACCOUNT, "--user-name", "alice"],
            True,
        ),
    ],
    ids=[
        "asn",
        "other-asn",
        "organisation",
        "organisation-any-case",
        "prefix-pattern",
        "infix-pattern",
        "suffix-pattern-any-case",
        "pattern-is-the-whole-name",
        "pattern-without-trailing-star",
        "question-mark-is-literal",
        "account",
        "other-account",
        "user-name",
        "user-name-is-case-sensitive",
        "asn-and-user-name",
        "asn-and-other-user-name",
        "pattern-and-other-account",
        "all-four",
    ],
)
def test_it_suppresses_the_events_an_exclusion_matches(ingest, conditions, applies):
    exclusion = add_exclusion(*conditions, "--reason", "known network")
    ingest(principal_invoke(T0, event_id="e"), principal_invoke(T0 + HOUR, event_id="e2"))

    output = run_detect()

    assert alerted() == ({} if applies else {"e": 2})
    run = last_run()
    assert suppressions(run) == ({exclusion.pk: 2} if applies else {})
    assert run.suppressed == (2 if applies else 0)
    assert f"{run.suppressed} suppressed by exclusions" in output.summary


@pytest.mark.parametrize(
    ("pattern", "applies"),
    [
        ("hosting.example (as*", True),
        ("HOSTING.EXAMPLE (AS LTD.)", True),
        ("*(as ltd.)", True),
        ("hostin..example*", False),
        ("*(as ltd)", False),
    ],
)
def test_it_matches_special_characters_literally_in_events_and_in_history(ingest, pattern, applies):
    # One organisation on two AS numbers: the exclusion hides only the first
    # one's event, so the second alerts only if history skips the first too.
    add_exclusion("--as-org", pattern, "--asn", "64612", "--reason", "old exit")
    ingest(
        principal_invoke(T0, source_ip="198.18.12.5", event_id="first-as"),
        principal_invoke(T0 + DAY, source_ip="198.18.13.5", event_id="second-as"),
    )

    run_detect()

    assert alerted() == ({"second-as": 1} if applies else {"first-as": 2})


@pytest.mark.parametrize(
    ("state", "applies"),
    [("disabled", False), ("expired", False), ("expires-later", True)],
)
def test_it_applies_only_exclusions_in_force(ingest, state, applies):
    expires = {
        "expired": timezone.now() - timedelta(minutes=1),
        "expires-later": timezone.now() + DAY,
    }.get(state)
    arguments = ["--user-name", "alice", "--reason", "contractor"]
    if expires:
        arguments += ["--expires", expires.isoformat()]
    exclusion = add_exclusion(*arguments)
    if state == "disabled":
        call_command("exclusions", "disable", str(exclusion.pk), stdout=io.StringIO())
    ingest(principal_invoke(T0, event_id="e"))

    run_detect()

    assert alerted() == ({} if applies else {"e": 1})
    assert suppressions(last_run()) == ({exclusion.pk: 1} if applies else {})


@pytest.mark.parametrize("same_run", [True, False], ids=["same-run", "next-run"])
@pytest.mark.parametrize("excluded", [True, False], ids=["excluded", "not-excluded"])
def test_it_alerts_when_the_only_earlier_use_was_excluded(ingest, same_run, excluded):
    if excluded:
        add_exclusion("--asn", "64500", "--reason", "the VPN's old exit")
    earlier = principal_invoke(T0, source_ip=EVIL_VPS, event_id="earlier")
    # The same organisation, and so the same terms, from an AS no exclusion names.
    later = principal_invoke(T0 + DAY, source_ip=EVIL_VPS_OTHER_AS, event_id="later")
    if same_run:
        ingest(earlier, later)
    else:
        ingest(earlier)
        run_detect()
        ingest(later)

    run_detect()

    assert alerted() == ({"later": 1} if excluded else {"earlier": 2})


def test_it_counts_a_disabled_exclusions_events_as_history_again(ingest):
    exclusion = add_exclusion("--asn", "64500", "--reason", "the VPN's old exit")
    ingest(principal_invoke(T0, source_ip=EVIL_VPS, event_id="earlier"))
    run_detect()
    call_command("exclusions", "disable", str(exclusion.pk), stdout=io.StringIO())
    ingest(principal_invoke(T0 + DAY, source_ip=EVIL_VPS_OTHER_AS, event_id="later"))

    run_detect()

    assert alerted() == {}


def test_it_records_how_many_events_each_exclusion_suppressed(ingest):
    office = add_exclusion("--as-org", "example office*", "--reason", "headquarters")
    ci = add_exclusion("--user-name", "ci-deployer", "--reason", "CI runners")
    unused = add_exclusion("--asn", "64999", "--reason", "nothing comes from here")
    ingest(
        *[principal_invoke(T0 + n * HOUR, source_ip=OFFICE) for n in range(3)],
        *[principal_invoke(T0 + n * HOUR, user="ci-deployer") for n in range(2)],
        principal_invoke(T0, user="carol", event_id="carol"),
    )
    ingest(principal_invoke(T0 + DAY, user="ci-deployer", source_ip=OFFICE))

    output = run_detect()

    run = last_run()
    assert alerted() == {"carol": 1}
    # The event both exclusions match is suppressed, and counted, once.
    assert run.suppressed == 6
    assert suppressions(run) in ({office.pk: 4, ci.pk: 2}, {office.pk: 3, ci.pk: 3})
    assert unused.pk not in suppressions(run)
    assert "7 candidates, 1 alerts created, 0 joined alerts, 6 suppressed by exclusions" in (
        output.summary
    )

    run_detect()

    assert last_run().suppressed == 0
    assert not RunSuppression.objects.filter(run=last_run()).exists()
