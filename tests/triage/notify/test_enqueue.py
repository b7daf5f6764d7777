"""Which destinations hear of which alerts: filters, modes, the on/off switch, SSRF refusals."""

import importlib
import io

import pytest
from django.apps import apps
from django.contrib.auth.models import Group
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.management import call_command
from django.utils import timezone

from tests.cloudtrail import principal_invoke
from tests.peers import SECRET
from tests.triage.conftest import EVIL_VPS, OFFICE
from tests.triage.notify.conftest import T0
from triage.notify.models import Delivery, Destination, DestinationChange
from triage.notify.services import (
    deliveries_enqueue_for_alerts,
    destination_create,
    notify_due,
)

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("learning_over")]
OTHER_ACCOUNT = "444455556666"
HOSTING = "198.18.12.10"  # AS64612 Hosting.example (AS Ltd.)


def add(name: str, receiver, *options: str) -> None:
    call_command(
        "destinations", "--by", "ops", "add", "--kind", "apprise", "--name", name,
        "--url", receiver.url(f"/{name}").replace("http", "json", 1), *options,
        stdout=io.StringIO(),
    )  # fmt: skip


def received(receiver, name: str) -> list[str]:
    return [request.json()["message"] for request in receiver.to(f"/{name}")]


@pytest.fixture
def three_alerts(make_alerts):
    return make_alerts(
        principal_invoke(T0, user="alice", source_ip=EVIL_VPS),
        principal_invoke(T0, user="bob", source_ip=OFFICE),
        principal_invoke(T0, user="carol", account=OTHER_ACCOUNT, source_ip=HOSTING),
    )


def test_each_destination_hears_only_of_the_alerts_its_filters_let_through(three_alerts, receiver):
    add("evil", receiver, "--as-org", "evil*")
    add("office-as", receiver, "--asn", "64501")
    add("other-account", receiver, "--account", OTHER_ACCOUNT)
    add("two-users", receiver, "--user-name", "alice", "--user-name", "carol")
    add("both", receiver, "--user-name", "alice", "--as-org", "*office*")
    add("everything", receiver)

    deliveries_enqueue_for_alerts(alerts=three_alerts)
    notify_due(now=timezone.now(), worker="test")

    def principals(name: str) -> list[str]:
        return sorted(
            line.split(": ", 1)[1]
            for message in received(receiver, name)
            for line in message.splitlines()
            if line.startswith("Principal: ")
        )

    assert principals("evil") == ["alice"]
    assert principals("office-as") == ["bob"]
    assert principals("other-account") == ["carol"]
    assert principals("two-users") == ["alice", "carol"]
    assert principals("both") == []
    assert principals("everything") == ["alice", "bob", "carol"]


def test_a_summary_destination_gets_one_message_listing_twenty_and_how_many_more(
    make_alerts, receiver
):
    alerts = make_alerts(*(principal_invoke(T0, user=f"user{n:02d}") for n in range(23)))
    add("summary", receiver, "--mode", "summary")
    destination_create(
        by="ops", name="hook", kind="webhook", target=receiver.url(), secret=SECRET, mode="summary"
    )

    deliveries_enqueue_for_alerts(alerts=alerts)
    notify_due(now=timezone.now(), worker="test")

    [message] = received(receiver, "summary")
    assert message.count("user") == 20
    assert message.splitlines()[-1] == "and 3 more"
    [hook] = receiver.to("/hook")
    body = hook.verified()
    assert body["type"] == "alerts.summary"
    assert sorted(document["user"]["name"] for document in body["data"]) == [
        f"user{n:02d}" for n in range(23)
    ]


def test_a_disabled_destination_hears_nothing(three_alerts, receiver):
    add("off", receiver)
    call_command("destinations", "--by", "ops", "disable", str(Destination.objects.get().pk))

    assert deliveries_enqueue_for_alerts(alerts=three_alerts) == []
    assert not Delivery.objects.exists()


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("http://example.com/hook", "plain http is allowed only to loopback"),
        ("https://169.254.169.254/latest/meta-data/", "link-local or metadata address"),
        ("https://[fd00:ec2::254]/", "link-local or metadata address"),
        ("https://[::ffff:169.254.169.254]/", "link-local or metadata address"),
        ("https://[fe80::1]/", "link-local or metadata address"),
        ("https://[2002:a9fe:a9fe::1]/", "link-local or metadata address"),  # 6to4
        ("https://[64:ff9b::a9fe:a9fe]/", "link-local or metadata address"),  # NAT64
        ("ftp://example.com/", "a webhook URL starts with https://"),
        ("https://user:pass@example.com/", "carries no user name or password"),
    ],
)
def test_it_refuses_webhook_urls_that_reach_metadata_or_leave_loopback_unencrypted(url, problem):
    with pytest.raises(ValidationError) as refused:
        destination_create(by="ops", name="hook", kind="webhook", target=url, secret=SECRET)

    assert any(problem in message for message in refused.value.messages)
    assert not Destination.objects.exists()


def test_it_refuses_to_send_through_apprise_to_a_metadata_address(make_alerts):
    destination_create(
        by="ops", name="chat", kind="apprise", target="json://169.254.169.254/latest/meta-data"
    )
    deliveries_enqueue_for_alerts(alerts=make_alerts())

    assert notify_due(now=timezone.now(), worker="test").summary() == (
        "0 delivered, 0 to retry, 1 failed"
    )
    assert "169.254.169.254, a link-local or metadata address" in Delivery.objects.get().last_error


def test_only_integrations_admins_and_superusers_change_destinations(django_user_model):
    migration = importlib.import_module("triage.notify.migrations.0002_integrations_admin_role")
    migration.create_role(apps, None)
    migration.create_role(apps, None)  # and again, as a re-run migration would
    analyst = django_user_model.objects.create_user("ana")
    admin = django_user_model.objects.create_user("ida")
    admin.groups.add(Group.objects.get(name="integrations-admin"))
    root = django_user_model.objects.create_superuser("root")

    with pytest.raises(PermissionDenied):
        destination_create(by=analyst, name="x", kind="email", target="soc@example.com")
    destination_create(by=admin, name="ida's", kind="email", target="soc@example.com")
    destination_create(by=root, name="root's", kind="email", target="soc@example.com")

    assert list(DestinationChange.objects.order_by("id").values_list("changed_by", flat=True)) == [
        "ida",
        "root",
    ]


def test_a_destination_disabled_after_alerts_were_queued_is_not_sent_them(three_alerts, receiver):
    add("chat", receiver)
    deliveries_enqueue_for_alerts(alerts=three_alerts)
    call_command("destinations", "--by", "ops", "disable", str(Destination.objects.get().pk))

    assert notify_due(now=timezone.now(), worker="test").summary() == (
        "0 delivered, 0 to retry, 0 failed"
    )
    assert receiver.requests == []
    assert set(Delivery.objects.values_list("status", flat=True)) == {"pending"}


def test_a_change_record_is_never_rewritten_or_deleted():
    destination_create(by="ops", name="soc", kind="email", target="soc@example.com")
    change = DestinationChange.objects.get()

    change.changed_by = "someone else"
    with pytest.raises(ValidationError):
        change.save()
    with pytest.raises(ValidationError):
        change.delete()
    assert DestinationChange.objects.get().changed_by == "ops"
