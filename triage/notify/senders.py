"""Sending one message to one destination: e-mail, a signed webhook, or an Apprise URL.

A sender returns the reply code of a message the peer took, or raises SendError
saying whether a later try can succeed (timeouts, refused connections, 429 and
5xx) or not (other 4xx, a refused address). Every network call has connect and
read timeouts, so one slow peer holds up only its own deliveries.
"""

import email.utils
import ipaddress
import logging
import smtplib
import socket
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import apprise
import urllib3
from django.conf import settings
from django.core.mail import EmailMultiAlternatives, get_connection
from standardwebhooks.webhooks import Webhook

CONNECT_TIMEOUT = 5.0
READ_TIMEOUT = 15.0
# Longest a webhook's reply is read: the status line and headers are what count.
MAX_REPLY_BYTES = 64 * 1024
# Apprise's and urllib3's debug lines print each URL sent to, a service's token included:
# they stay unwritten however verbose LOG_LEVEL is.
for _name in ("apprise", "urllib3.connectionpool"):
    logging.getLogger(_name).setLevel(logging.INFO)
NAT64 = ipaddress.ip_network("64:ff9b::/96")
# Cloud metadata services and link-local addresses: a webhook there would hand
# the instance's credentials to whoever chose the URL.
REFUSED_NETWORKS = (
    ipaddress.ip_network("169.254.0.0/16"),
    ipaddress.ip_network("fe80::/10"),
    ipaddress.ip_network("fd00:ec2::254/128"),
)


@dataclass
class SendError(Exception):
    reason: str
    retry: bool
    status_code: int | None = None
    retry_after: timedelta | None = None

    def __str__(self) -> str:
        return self.reason


@dataclass(frozen=True)
class Message:
    """One notification in every channel's form; each part is escaped for its channel."""

    subject: str
    text: str
    html: str
    chat_title: str
    chat_body: str
    body: dict[str, Any] = field(default_factory=dict)


def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        address = ipaddress.ip_address(text.split("%")[0])
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address):
        # An IPv4 address inside IPv6 (mapped, 6to4, NAT64) reaches that IPv4 address.
        embedded = address.ipv4_mapped or address.sixtofour
        if embedded is None and address in NAT64:
            embedded = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
        if embedded is not None:
            return embedded
    return address


def _is_loopback_name(host: str) -> bool:
    address = _address(host)
    return host == "localhost" if address is None else address.is_loopback


def webhook_url_problem(url: str) -> str | None:
    """Why url cannot be a webhook's, or None: https anywhere, plain http only on loopback."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 — a port that is not a number raises here
    except ValueError as error:
        return f"not a URL: {error}"
    if parts.scheme not in ("https", "http") or not parts.hostname:
        return "a webhook URL starts with https:// and names a host"
    if parts.username or parts.password:
        return "a webhook URL carries no user name or password: sign with the secret instead"
    if parts.scheme == "http" and not _is_loopback_name(parts.hostname):
        return "plain http is allowed only to loopback (127.0.0.1, ::1, localhost); use https"
    address = _address(parts.hostname)
    if address is not None and any(address in network for network in REFUSED_NETWORKS):
        return f"{parts.hostname} is a link-local or metadata address"
    return None


def resolve_allowed(host: str, port: int, *, loopback_only: bool = False) -> str:
    """The address to connect to for host, after checking every address it resolves to.

    The connection goes to the address checked here, so a name that resolves
    differently a moment later (DNS rebinding) cannot slip past the check.
    """
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as error:
        raise SendError(f"cannot resolve {host}: {error}", retry=True) from None
    addresses = [info[4][0] for info in infos]
    for text in addresses:
        address = _address(text)
        if address is None:
            continue
        if any(address in network for network in REFUSED_NETWORKS):
            raise SendError(
                f"refused: {host} resolves to {text}, a link-local or metadata address", retry=False
            )
        if loopback_only and not address.is_loopback:
            raise SendError(
                f"refused: plain http to {host}, which resolves to {text}, not loopback",
                retry=False,
            )
    return addresses[0]


def retry_after(value: str | None, *, now: datetime) -> timedelta | None:
    """Retry-After (seconds, or an HTTP date) as a delay; None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return timedelta(seconds=int(value))
    try:
        moment = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return max(moment - now, timedelta(0))


def send_webhook(*, url: str, secret: str, webhook_id: str, payload: bytes) -> int:
    """POST payload to url, signed per Standard Webhooks with secret."""
    problem = webhook_url_problem(url)
    if problem:
        raise SendError(f"refused: {problem}", retry=False)
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    address = resolve_allowed(parts.hostname, port, loopback_only=parts.scheme == "http")
    sent_at = datetime.now(UTC)
    headers = {
        "Host": parts.netloc,
        "Content-Type": "application/json",
        "User-Agent": "asnwatch",
        "webhook-id": webhook_id,
        "webhook-timestamp": str(int(sent_at.timestamp())),
        "webhook-signature": Webhook(secret).sign(webhook_id, sent_at, payload.decode()),
    }
    timeout = urllib3.Timeout(connect=CONNECT_TIMEOUT, read=READ_TIMEOUT)
    if parts.scheme == "https":
        ca_bundle = settings.WEBHOOK_CA_BUNDLE
        pool = urllib3.HTTPSConnectionPool(
            address, port, timeout=timeout, retries=False,
            server_hostname=parts.hostname, assert_hostname=parts.hostname,
            ca_certs=str(ca_bundle) if ca_bundle else None,
        )  # fmt: skip
    else:
        pool = urllib3.HTTPConnectionPool(address, port, timeout=timeout, retries=False)
    path = parts.path or "/"
    if parts.query:
        path += f"?{parts.query}"
    try:
        with pool:
            response = pool.urlopen(
                "POST", path, body=payload, headers=headers, redirect=False, preload_content=False
            )
            response.read(MAX_REPLY_BYTES)
            response.release_conn()
    except urllib3.exceptions.HTTPError as error:
        raise SendError(f"{type(error).__name__}: {error}", retry=True) from None
    return _classify(response.status, response.headers.get("Retry-After"))


def _classify(status: int, retry_after_header: str | None) -> int:
    if 200 <= status < 300:
        return status
    if status == 429:
        delay = retry_after(retry_after_header, now=datetime.now(UTC))
        raise SendError(
            "HTTP 429 Too Many Requests", retry=True, status_code=status, retry_after=delay
        )
    if status >= 500:
        raise SendError(f"HTTP {status}", retry=True, status_code=status)
    if 300 <= status < 400:
        raise SendError(
            f"HTTP {status}: redirects are not followed", retry=False, status_code=status
        )
    raise SendError(f"HTTP {status}", retry=False, status_code=status)


def send_email(*, to: list[str], message: Message) -> int:
    """The message as multipart text + HTML, through the EMAIL_* settings."""
    connection = get_connection(timeout=READ_TIMEOUT)
    mail = EmailMultiAlternatives(
        message.subject, message.text, settings.DEFAULT_FROM_EMAIL, to, connection=connection
    )
    mail.attach_alternative(message.html, "text/html")
    try:
        mail.send()
    except smtplib.SMTPRecipientsRefused as error:
        raise SendError(f"every recipient refused: {error.recipients}", retry=False) from None
    except smtplib.SMTPResponseException as error:
        # 5xx replies are permanent in SMTP; 4xx ask the sender to try later.
        raise SendError(
            f"SMTP {error.smtp_code}: {error.smtp_error!r}",
            retry=error.smtp_code < 500,
            status_code=error.smtp_code,
        ) from None
    except (smtplib.SMTPException, OSError) as error:
        raise SendError(f"{type(error).__name__}: {error}", retry=True) from None
    return 250


def send_apprise(*, url: str, message: Message) -> int:
    """The chat form of message through Apprise (Slack, Teams, PagerDuty, …, json://)."""
    notifier = apprise.Apprise()
    if not notifier.add(url):
        raise SendError("refused: not a URL Apprise knows", retry=False)
    for service in notifier:
        service.socket_connect_timeout = CONNECT_TIMEOUT
        service.socket_read_timeout = READ_TIMEOUT
        host = getattr(service, "host", None)
        if host:
            resolve_allowed(host, getattr(service, "port", None) or 443)
    # Apprise answers only yes or no, so every failure is worth another try.
    if not notifier.notify(
        title=message.chat_title, body=message.chat_body, body_format=apprise.NotifyFormat.TEXT
    ):
        raise SendError("the service did not take the message (Apprise)", retry=True)
    return 200
