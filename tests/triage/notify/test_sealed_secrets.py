"""Destination URLs and secrets are encrypted at rest, and a key change is survivable.

What the database holds is read with plain SQL, as a dump or a backup would
show it; delivery goes to the loopback receiver, which checks the signature.
"""

import io
import json

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

from tests.peers import SECRET
from triage.notify.models import Destination, DestinationChange
from triage.notify.sealed import Unreadable
from triage.notify.services import (
    destination_create,
    destination_disable,
    destination_update,
    notify_due,
)

pytestmark = pytest.mark.django_db(transaction=True)
APPRISE_TOKEN = "T0KEN-of-the-chat-service"
OLD_KEY = "o" * 60
NEW_KEY = "n" * 60


def stored(destination: Destination) -> tuple[str, str]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT target, secret FROM notify_destination WHERE id = %s", [destination.pk]
        )
        return cursor.fetchone()


def webhook(receiver, **options) -> Destination:
    return destination_create(
        by="ops", name="siem", kind="webhook", target=receiver.url("/hook?token=abc123"),
        secret=SECRET, **options,
    )  # fmt: skip


def send_test(destination: Destination) -> None:
    call_command("destinations", "--by", "ops", "test", str(destination.pk), stdout=io.StringIO())


def test_the_database_holds_neither_the_secret_nor_a_url_and_sending_still_signs(receiver):
    hook = webhook(receiver)
    chat = destination_create(
        by="ops", name="chat", kind="apprise",
        target=receiver.url(f"/chat/{APPRISE_TOKEN}").replace("http", "json", 1),
    )  # fmt: skip
    dump = json.dumps([stored(hook), stored(chat)])
    for clear in (SECRET, "abc123", APPRISE_TOKEN, "127.0.0.1"):
        assert clear not in dump
    assert Destination.objects.get(pk=hook.pk).secret == SECRET

    send_test(hook)
    send_test(chat)
    [signed] = receiver.to("/hook?token=abc123")
    assert signed.verified()["type"] == "test"
    assert receiver.to(f"/chat/{APPRISE_TOKEN}")
    # Audit rows and listings mask them too.
    changes = json.dumps(list(DestinationChange.objects.values("before", "after")))
    assert SECRET not in changes and "abc123" not in changes and APPRISE_TOKEN not in changes
    out = io.StringIO()
    call_command("destinations", "list", stdout=out)
    listed = [json.loads(line) for line in out.getvalue().splitlines()]
    assert {entry["name"]: entry["target"] for entry in listed} == {
        "chat": "json://…",
        "siem": f"http://127.0.0.1:{receiver.server.server_address[1]}/…",
    }


def test_after_a_key_change_the_old_key_in_the_fallbacks_still_reads_and_saving_reseals(
    receiver, settings
):
    settings.SECRET_KEY = OLD_KEY
    hook = webhook(receiver)
    settings.SECRET_KEY, settings.SECRET_KEY_FALLBACKS = NEW_KEY, [OLD_KEY]

    send_test(Destination.objects.get(pk=hook.pk))
    assert receiver.to("/hook?token=abc123")[0].verified()["type"] == "test"

    before = stored(hook)
    destination_update(destination=Destination.objects.get(pk=hook.pk), by="ops", mode="summary")
    assert stored(hook) != before
    settings.SECRET_KEY_FALLBACKS = []
    assert Destination.objects.get(pk=hook.pk).secret == SECRET


@pytest.mark.usefixtures("learning_over")
def test_a_secret_no_key_decrypts_is_never_sent_and_must_be_entered_again(
    receiver, settings, make_alerts, client, admin_user
):
    settings.SECRET_KEY = OLD_KEY
    hook = webhook(receiver)
    settings.SECRET_KEY = NEW_KEY  # and no fallback

    lost = Destination.objects.get(pk=hook.pk)
    assert isinstance(lost.secret, Unreadable) and lost.secret == ""
    client.force_login(admin_user)  # a session signed under the new key
    page = client.get(f"/settings/notifications/{hook.pk}/").content.decode()
    assert "cannot be decrypted with <code>SECRET_KEY</code>" in page
    make_alerts()
    outcome = notify_due(now=timezone.now(), worker="test")

    assert outcome.summary() == "0 delivered, 0 to retry, 1 failed"
    assert receiver.requests == []
    [delivery] = lost.deliveries.all()
    assert "cannot be decrypted with SECRET_KEY" in delivery.last_error
    # Changing anything else is refused until the URL and secret are entered again;
    # the stored tokens are kept as they were meanwhile.
    tokens = stored(hook)
    with pytest.raises(ValidationError, match="cannot be decrypted"):
        destination_update(destination=lost, by="ops", mode="summary")
    assert stored(hook) == tokens
    destination_disable(destination=lost, by="ops")
    assert stored(hook) == tokens
    lost = destination_update(destination=lost, by="ops", enabled=True)
    destination_update(destination=lost, by="ops", target=receiver.url("/new"), secret=SECRET)
    send_test(Destination.objects.get(pk=hook.pk))
    assert receiver.to("/new")[0].verified()["type"] == "test"


def test_the_migration_seals_what_earlier_versions_stored_in_clear():
    executor = MigrationExecutor(connection)
    executor.migrate([("notify", "0006_assignment_emails")])
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO notify_destination (name, kind, target, secret, mode, throttle_minutes,"
            " accounts, user_names, as_organizations, as_numbers, report_joined, enabled,"
            " created_by, created_at) VALUES ('old', 'webhook', 'https://hooks.example/t0k3n',"
            " %s, 'each', 0, '[]', '[]', '[]', '[]', false, true, 'ops', now())",
            [SECRET],
        )
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(executor.loader.graph.leaf_nodes())

    old = Destination.objects.get(name="old")
    assert (old.target, old.secret) == ("https://hooks.example/t0k3n", SECRET)
    assert SECRET not in json.dumps(stored(old)) and "t0k3n" not in json.dumps(stored(old))
