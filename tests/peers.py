"""Real peers on loopback for the messages asnwatch sends: an HTTP receiver for
webhooks and an SMTP server, each with the fixture that starts it (registered
for every test by tests/conftest.py).

The receiver checks each webhook's Standard Webhooks signature with the
destination's secret and answers as the test tells it: 2xx by default, or a
planned 500, 429 with Retry-After, an answer slower than the read timeout, or
one held until the test lets it go. Given a certificate (tls_receiver: one for
localhost and 127.0.0.1 from the test CA, tls_ca) it serves HTTPS instead.
"""

import email
import email.policy
import json
import ssl
import threading
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import trustme
from aiosmtpd.controller import Controller
from standardwebhooks.webhooks import Webhook

from tests.helpers import free_port

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


@dataclass
class Request:
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self):
        return json.loads(self.body)

    def verified(self, secret: str = SECRET):
        """The body, once its signature checks out with secret (raises otherwise)."""
        return Webhook(secret).verify(self.body, self.headers)


class _Server(ThreadingHTTPServer):
    """Counts connections; with a TLS context, handshakes in each connection's thread."""

    daemon_threads = True

    def __init__(self, receiver: "Receiver", tls: ssl.SSLContext | None) -> None:
        self.receiver = receiver
        self.tls = tls
        super().__init__(("127.0.0.1", 0), receiver._handler())

    def finish_request(self, request, client_address) -> None:
        with self.receiver.lock:
            self.receiver.connections += 1
        if self.tls is None:
            super().finish_request(request, client_address)
            return
        try:
            request = self.tls.wrap_socket(request, server_side=True)
        except OSError:
            return  # the sender refused the certificate: nothing was sent
        with request:
            super().finish_request(request, client_address)


class Receiver:
    """An HTTP(S) server on loopback that records every POST and answers as planned."""

    def __init__(self, certificate: trustme.LeafCert | None = None) -> None:
        self.requests: list[Request] = []
        self.connections = 0
        # The host name each TLS handshake asked for (SNI).
        self.server_names: list[str | None] = []
        self.plan: deque = deque()
        # A planned answer for the first request to a path, before the plan's next one.
        self.answer_by_path: dict = {}
        self.release = threading.Event()
        self.lock = threading.Lock()
        tls = None
        if certificate is not None:
            tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            certificate.configure_cert(tls)
            tls.sni_callback = lambda _socket, name, _context: self.server_names.append(name)
        self.server = _Server(self, tls)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> "Receiver":
        self.thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()

    def url(self, path: str = "/hook") -> str:
        """The receiver's URL; over HTTPS, by the name its certificate is for."""
        if self.server.tls is None:
            return f"http://127.0.0.1:{self.server.server_address[1]}{path}"
        return f"https://localhost:{self.server.server_address[1]}{path}"

    def answer(self, *answers) -> None:
        """Plan the next answers: a status, (status, headers), "slow", "hold" (until
        release is set) or ("hold until", path): until a request to path arrives."""
        self.plan.extend(answers)

    def to(self, path: str) -> list[Request]:
        return [request for request in self.requests if request.path == path]

    def wait_for(self, count: int, *, seconds: float = 30) -> None:
        deadline = time.monotonic() + seconds
        while len(self.requests) < count:
            if time.monotonic() > deadline:
                pytest.fail(f"the receiver got {len(self.requests)} requests, not {count}")
            time.sleep(0.02)

    def wait_for_path(self, path: str, *, seconds: float) -> bool:
        deadline = time.monotonic() + seconds
        while not self.to(path):
            if time.monotonic() > deadline:
                return False
            time.sleep(0.02)
        return True

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with receiver.lock:
                    receiver.requests.append(Request(self.path, dict(self.headers), body))
                    answer = receiver.answer_by_path.pop(self.path, None) or (
                        receiver.plan.popleft() if receiver.plan else 204
                    )
                if answer == "slow":
                    time.sleep(2)  # past the read timeout the tests set
                    answer = 204
                elif answer == "hold":
                    receiver.release.wait(60)
                    answer = 204
                elif isinstance(answer, tuple) and answer[0] == "hold until":
                    receiver.wait_for_path(answer[1], seconds=60)
                    answer = 204
                status, headers = answer if isinstance(answer, tuple) else (answer, {})
                try:
                    self.send_response(status)
                    for name, value in headers.items():
                        self.send_header(name, value)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                except OSError:
                    pass  # the sender gave up waiting: nobody reads this answer

            def log_message(self, *args) -> None:
                pass

        return Handler


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as receiver:
        yield receiver


@pytest.fixture(scope="session")
def tls_ca() -> trustme.CA:
    """A private CA that no system trusts: senders trust it only when told to."""
    return trustme.CA()


@pytest.fixture
def tls_receiver(tls_ca: trustme.CA) -> Iterator[Receiver]:
    """The receiver over HTTPS, with a certificate for localhost and 127.0.0.1 from tls_ca."""
    with Receiver(tls_ca.issue_cert("localhost", "127.0.0.1")) as receiver:
        yield receiver


class Inbox:
    """aiosmtpd's handler: every message the SMTP server accepted, parsed."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []

    async def handle_DATA(self, server, session, envelope) -> str:
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        message["X-Envelope-To"] = ", ".join(envelope.rcpt_tos)
        self.messages.append(message)
        return "250 OK"


@pytest.fixture
def smtp_server(settings) -> Iterator[Inbox]:
    """An SMTP server on loopback, and the EMAIL_* settings pointing at it."""
    inbox = Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = "127.0.0.1"
    settings.EMAIL_PORT = port
    settings.EMAIL_USE_TLS = False
    settings.EMAIL_HOST_USER = ""
    settings.EMAIL_HOST_PASSWORD = ""
    yield inbox
    controller.stop()
