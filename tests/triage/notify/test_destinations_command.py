"""manage.py destinations add|list|test|disable and manage.py notify, as an operator runs them."""

import json
import re

import pytest

from tests.aws import database_url
from tests.helpers import manage
from tests.peers import SECRET
from triage.notify.models import Destination, DestinationChange

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("learning_over")]


def destinations(*arguments: str):
    return manage("destinations", "--by", "ops", *arguments, env={"DATABASE_URL": database_url()})


def listed() -> list[dict]:
    result = destinations("list")
    assert result.returncode == 0, result.stderr
    return [json.loads(line) for line in result.stdout.splitlines()]


def test_it_adds_destinations_and_lists_them_with_secrets_masked(receiver):
    hook = destinations(
        "add", "--kind", "webhook", "--name", "siem", "--url", receiver.url(), "--secret", SECRET
    )
    chat = destinations(
        "add", "--kind", "apprise", "--name", "slack",
        "--url", "slack://T1JJ3T3L2/A1BRTD4JD/TIiajkdnlazkcOXrIdevi7FQ/#soc", "--mode", "summary",
    )  # fmt: skip
    mail = destinations(
        "add", "--kind", "email", "--name", "soc", "--to", "soc@example.com,lead@example.com",
        "--account", "111122223333", "--as-org", "evil*", "--throttle-minutes", "15",
    )  # fmt: skip

    assert [hook.returncode, chat.returncode, mail.returncode] == [0, 0, 0], (
        hook.stderr + chat.stderr + mail.stderr
    )
    assert hook.stdout == f"destinations: added {Destination.objects.get(name='siem').pk}\n"
    rows = listed()
    assert [(row["name"], row["kind"], row["mode"], row["enabled"]) for row in rows] == [
        ("siem", "webhook", "each", True),
        ("slack", "apprise", "summary", True),
        ("soc", "email", "each", True),
    ]
    assert rows[0]["secret"] == "********"
    assert rows[1]["target"] == "slack://…"
    assert rows[2]["target"] == "soc@example.com,lead@example.com"
    assert (rows[2]["accounts"], rows[2]["as_organizations"], rows[2]["throttle_minutes"]) == (
        ["111122223333"],
        ["evil*"],
        15,
    )
    everything_shown = json.dumps(rows) + json.dumps(
        list(DestinationChange.objects.values("before", "after"))
    )
    assert "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw" not in everything_shown
    assert "TIiajkdnlazkcOXrIdevi7FQ" not in everything_shown


def test_a_webhook_added_without_a_secret_gets_one_shown_once_that_signs_its_test(receiver):
    added = destinations("add", "--kind", "webhook", "--name", "siem", "--url", receiver.url())
    [secret] = re.findall(r"signing secret \(shown only now\): (whsec_\S+)", added.stdout)
    pk = str(Destination.objects.get().pk)

    tested = destinations("test", pk)

    assert tested.returncode == 0, tested.stderr
    assert tested.stdout == f"destinations: test message delivered to {pk}\n"
    [request] = receiver.requests
    assert request.verified(secret)["type"] == "test"
    assert secret not in destinations("list").stdout


def test_a_failing_test_message_says_why_and_exits_non_zero(receiver):
    destinations(
        "add", "--kind", "webhook", "--name", "siem", "--url", receiver.url(), "--secret", SECRET
    )
    receiver.answer(500)

    tested = destinations("test", str(Destination.objects.get().pk))

    assert tested.returncode == 1
    assert tested.stderr.strip().splitlines()[-1].endswith("the test message failed: HTTP 500")


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--kind", "email", "--to", "not-an-address"], "not an e-mail address: 'not-an-address'"),
        (
            ["--kind", "webhook", "--url", "http://example.com/"],
            "plain http is allowed only to loopback",
        ),
        (
            ["--kind", "webhook", "--url", "https://169.254.169.254/"],
            "link-local or metadata address",
        ),
        (
            ["--kind", "webhook", "--url", "https://x.example/", "--secret", "s3cr3t"],
            "the secret is whsec_",
        ),
        (["--kind", "email", "--url", "https://x.example/"], "an e-mail destination takes --to"),
    ],
)
def test_it_refuses_a_bad_destination_in_one_line_and_adds_nothing(arguments, message):
    result = destinations("add", "--name", "bad", *arguments)

    assert result.returncode == 1
    [line] = result.stderr.strip().splitlines()
    assert message in line
    assert not Destination.objects.exists()


def test_it_disables_a_destination_and_records_who_did(receiver):
    destinations(
        "add", "--kind", "webhook", "--name", "siem", "--url", receiver.url(), "--secret", SECRET
    )
    pk = Destination.objects.get().pk

    result = destinations("disable", str(pk))

    assert result.stdout == f"destinations: disabled {pk}\n"
    assert [row["enabled"] for row in listed()] == [False]
    assert list(DestinationChange.objects.order_by("id").values_list("action", "changed_by")) == [
        ("created", "ops"),
        ("disabled", "ops"),
    ]
    assert destinations("disable", "999999").stderr.strip() == "CommandError: no destination 999999"


def test_it_enables_again_and_removes_and_a_removed_destination_leaves_the_list(receiver):
    destinations(
        "add", "--kind", "webhook", "--name", "siem", "--url", receiver.url(), "--secret", SECRET
    )
    destinations("add", "--kind", "email", "--name", "soc", "--to", "soc@example.com")
    siem, soc = Destination.objects.order_by("id").values_list("pk", flat=True)
    destinations("disable", str(siem))

    assert destinations("enable", str(siem)).stdout == f"destinations: enabled {siem}\n"
    assert destinations("remove", str(soc)).stdout == f"destinations: removed {soc}\n"

    assert [(row["name"], row["enabled"]) for row in listed()] == [("siem", True)]
    everything = destinations("list", "--all")
    assert [
        (row["name"], row["enabled"], row["removed"])
        for row in map(json.loads, everything.stdout.splitlines())
    ] == [("siem", True, False), ("soc", False, True)]
    assert destinations("enable", str(soc)).stderr.strip() == (
        f"CommandError: destination {soc} is removed; add a new one instead"
    )
    assert list(
        DestinationChange.objects.filter(destination_id=siem)
        .order_by("id")
        .values_list("action", flat=True)
    ) == ["created", "disabled", "enabled"]


def test_notify_delivers_what_is_due_and_says_so_in_one_line(make_alerts, receiver):
    from triage.notify.services import deliveries_enqueue_for_alerts

    destinations(
        "add", "--kind", "webhook", "--name", "siem", "--url", receiver.url(), "--secret", SECRET
    )
    deliveries_enqueue_for_alerts(alerts=make_alerts())

    result = manage("notify", env={"DATABASE_URL": database_url()})

    assert result.returncode == 0, result.stderr
    assert result.stdout == "notify: 1 delivered, 0 to retry, 0 failed\n"
    assert receiver.requests[0].verified()["type"] == "alert.created"
