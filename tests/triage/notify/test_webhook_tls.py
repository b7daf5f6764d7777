"""Webhooks over HTTPS to a real TLS peer, and names that resolve to metadata addresses.

The receiver on loopback serves a certificate from a private CA (tls_ca) that
no system trusts; WEBHOOK_CA_BUNDLE is what makes the sender trust it. A
certificate that does not check out is retried with backoff like a refused
connection: it is most often a configuration to fix (the CA bundle, or the
receiver's certificate), and the messages wait for the fix instead of being
lost, while the Sources page lists the destination once it has failed for 30
minutes (triage/notify/health.py).
"""

import socket
from datetime import timedelta
from pathlib import Path

import pytest
import trustme
from django.utils import timezone

from tests.peers import SECRET, Receiver
from triage.notify import senders
from triage.notify.models import Delivery, Destination
from triage.notify.services import deliveries_enqueue_for_alerts, destination_create, notify_due

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("learning_over")]
MINUTE = timedelta(minutes=1)


@pytest.fixture(autouse=True)
def short_timeouts(monkeypatch):
    # Were anything to connect to 169.254.169.254, the test fails in a second.
    monkeypatch.setattr(senders, "CONNECT_TIMEOUT", 1.0)
    monkeypatch.setattr(senders, "READ_TIMEOUT", 1.0)


def trust(settings, ca: trustme.CA, folder: Path) -> None:
    """Point WEBHOOK_CA_BUNDLE at a PEM file holding ca."""
    bundle = folder / "ca.pem"
    ca.cert_pem.write_to_path(bundle)
    settings.WEBHOOK_CA_BUNDLE = bundle


@pytest.fixture
def trusted_ca(settings, tls_ca: trustme.CA, tmp_path: Path) -> None:
    trust(settings, tls_ca, tmp_path)


def resolving(monkeypatch, name: str, *answers: tuple[str, ...]) -> list[str]:
    """Make name's lookups answer answers[0], then answers[1], … (the last one repeats).

    There is no DNS server here, and none to point at a hostile answer, so
    socket.getaddrinfo (as the sender module sees it, which is also what urllib3
    and Apprise's requests call) is patched for this one name; every other name
    resolves as usual. Returns the lookups of name made so far.
    """
    real = socket.getaddrinfo
    lookups: list[str] = []

    def getaddrinfo(host, port, family=0, type=0, proto=0, flags=0):
        if host != name:
            return real(host, port, family, type, proto, flags)
        lookups.append(host)
        found = []
        for address in answers[min(len(lookups), len(answers)) - 1]:
            ipv6 = ":" in address
            address_family = socket.AF_INET6 if ipv6 else socket.AF_INET
            sockaddr = (address, int(port or 0), 0, 0) if ipv6 else (address, int(port or 0))
            if family in (0, address_family):
                found.append((address_family, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", sockaddr))
        return found

    monkeypatch.setattr(senders.socket, "getaddrinfo", getaddrinfo)
    return lookups


def webhook(url: str) -> Destination:
    return destination_create(by="ops", name="hook", kind="webhook", target=url, secret=SECRET)


def deliver(now=None) -> str:
    return notify_due(now=now or timezone.now(), worker="test").summary()


def port_of(receiver: Receiver) -> int:
    return receiver.server.server_address[1]


def test_it_delivers_over_https_when_the_receivers_ca_is_trusted(
    make_alerts, tls_receiver, trusted_ca, monkeypatch
):
    # localhost rebinds to the metadata address after its first lookup: the
    # connection must go to the address the check saw, by name only in TLS.
    lookups = resolving(monkeypatch, "localhost", ("127.0.0.1",), ("169.254.169.254",))
    webhook(tls_receiver.url())
    deliveries_enqueue_for_alerts(alerts=make_alerts())

    assert deliver() == "1 delivered, 0 to retry, 0 failed"

    [request] = tls_receiver.requests
    assert request.verified()["type"] == "alert.created"
    assert request.headers["Host"] == f"localhost:{port_of(tls_receiver)}"
    assert tls_receiver.server_names == ["localhost"]
    assert lookups == ["localhost"]
    attempt = Delivery.objects.get().tries.get()
    assert (attempt.status_code, attempt.outcome, attempt.error) == (204, "delivered", "")


def test_a_certificate_from_an_untrusted_ca_is_not_sent_to_and_retried(
    make_alerts, tls_receiver, settings, tls_ca, tmp_path
):
    settings.WEBHOOK_CA_BUNDLE = None  # the system's trust store
    webhook(tls_receiver.url())
    deliveries_enqueue_for_alerts(alerts=make_alerts())
    now = timezone.now()

    assert deliver(now) == "0 delivered, 1 to retry, 0 failed"

    assert tls_receiver.requests == []
    assert tls_receiver.connections == 1  # reached, and refused for its certificate
    delivery = Delivery.objects.get()
    assert delivery.status == "pending"
    assert now + 0.8 * MINUTE <= delivery.next_attempt_at <= now + 1.2 * MINUTE
    [attempt] = delivery.tries.all()
    assert attempt.outcome == "retry"
    assert attempt.status_code is None
    assert "CERTIFICATE_VERIFY_FAILED" in attempt.error
    assert "unable to get local issuer certificate" in attempt.error

    # Once the CA is configured, the waiting message goes out.
    trust(settings, tls_ca, tmp_path)
    assert deliver(now + 2 * MINUTE) == "1 delivered, 0 to retry, 0 failed"
    [request] = tls_receiver.requests
    assert request.verified()["type"] == "alert.created"


def test_a_certificate_for_another_name_is_refused_as_a_hostname_mismatch(
    make_alerts, tls_ca, trusted_ca
):
    with Receiver(tls_ca.issue_cert("example.test")) as elsewhere:
        webhook(elsewhere.url())
        deliveries_enqueue_for_alerts(alerts=make_alerts())

        assert deliver() == "0 delivered, 1 to retry, 0 failed"

        assert elsewhere.requests == []
        assert elsewhere.connections == 1
    [attempt] = Delivery.objects.get().tries.all()
    assert attempt.outcome == "retry"
    assert attempt.error == "SSLError: hostname 'localhost' doesn't match 'example.test'"


# What a hostile name answers: a metadata or link-local address, alone or after
# the receiver's own loopback address (which, unchecked, would be connected to).
HOSTILE_ANSWERS = [
    ("169.254.169.254",),
    ("fd00:ec2::254",),
    ("::ffff:169.254.169.254",),
    ("127.0.0.1", "169.254.169.254"),
]


@pytest.mark.parametrize("answer", HOSTILE_ANSWERS)
def test_a_webhook_whose_name_resolves_to_a_metadata_address_is_refused_unsent(
    make_alerts, tls_receiver, trusted_ca, monkeypatch, answer
):
    resolving(monkeypatch, "hook.test", answer)
    webhook(f"https://hook.test:{port_of(tls_receiver)}/hook")
    deliveries_enqueue_for_alerts(alerts=make_alerts())

    assert deliver() == "0 delivered, 0 to retry, 1 failed"

    assert tls_receiver.connections == 0
    assert tls_receiver.requests == []
    [attempt] = Delivery.objects.get().tries.all()
    assert attempt.outcome == "failed"
    assert attempt.error == (
        f"refused: hook.test resolves to {answer[-1]}, a link-local or metadata address"
    )


@pytest.mark.parametrize("answer", HOSTILE_ANSWERS)
def test_an_apprise_url_whose_host_resolves_to_a_metadata_address_is_refused_unsent(
    make_alerts, receiver, monkeypatch, answer
):
    resolving(monkeypatch, "hook.test", answer)
    destination_create(
        by="ops",
        name="chat",
        kind="apprise",
        target=f"json://hook.test:{port_of(receiver)}/apprise",
    )
    deliveries_enqueue_for_alerts(alerts=make_alerts())

    assert deliver() == "0 delivered, 0 to retry, 1 failed"

    assert receiver.connections == 0
    assert receiver.requests == []
    assert Delivery.objects.get().last_error == (
        f"refused: hook.test resolves to {answer[-1]}, a link-local or metadata address"
    )
