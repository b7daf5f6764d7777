"""The sign-in throttle, through both sign-in pages (/login/ and /admin/login/): the admin's
page is throttled and counted like the app's, an attacker cannot lock the real user out
from elsewhere (behind the proxy too), one address is limited over many user names, and
parallel attempts are counted before their passwords are checked (PostgreSQL and SQLite).
"""

import http.client
import os
import re
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import MD5PasswordHasher
from django.test import Client
from django.utils import timezone

from signin.models import SignInCounter
from tests.helpers import PROJECT_ROOT, free_port, manage, wait_until_serving
from tests.triage import ui

PROXY = "127.0.0.1"  # the reverse proxy, as the app sees it
ATTACKER = "203.0.113.10"
OFFICE = "198.51.100.7"  # the real user's address


class CountingHasher(MD5PasswordHasher):
    """MD5 that counts password checks and takes a real hasher's time over each."""

    checks = 0
    lock = threading.Lock()

    def verify(self, password, encoded):
        with CountingHasher.lock:
            CountingHasher.checks += 1
        # A real hasher spends this long; a throttle that reads its count before the
        # check and writes it after would let every parallel attempt through meanwhile.
        time.sleep(0.05)
        return super().verify(password, encoded)


@pytest.fixture(autouse=True)
def fast_passwords(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def people(db):
    return ui.people()


def sign_in(
    username: str,
    password: str,
    *,
    page: str = "/login/",
    address: str = ATTACKER,
    forwarded: str | None = None,
    client: Client | None = None,
):
    headers = {"REMOTE_ADDR": address}
    if forwarded is not None:
        headers["HTTP_X_FORWARDED_FOR"] = forwarded
    client = client or Client()
    return client.post(
        f"{page}?next=/alerts/",
        {"username": username, "password": password, "next": "/alerts/"},
        **headers,
    )


def checked_and_wrong(response) -> bool:
    # The app says "a correct", the admin "the correct username and password".
    return response.status_code == 200 and "correct username and password" in page(response)


def refused(response) -> bool:
    return response.status_code == 200 and "Too many failed sign-ins" in page(response)


def page(response) -> str:
    return response.content.decode()


def test_it_refuses_the_admin_sign_in_for_an_account_the_app_sign_in_throttled(people, settings):
    for n in range(settings.LOGIN_FAILURE_LIMIT):
        sign_in("root", f"guess {n}")
    assert refused(sign_in("root", "another guess"))
    attacker, elsewhere = Client(), Client()

    guesses = [sign_in("root", f"guess {n}", page="/admin/login/") for n in range(30)]
    right = sign_in("root", ui.PASSWORD, page="/admin/login/", client=attacker)
    real_user = sign_in("root", ui.PASSWORD, page="/admin/login/", address=OFFICE, client=elsewhere)

    assert all(refused(guess) for guess in guesses)
    assert refused(right)
    assert "Wait 15 minutes and try again." in page(right)
    assert attacker.get("/alerts/").status_code == 302  # to the sign-in page: not signed in
    assert attacker.get("/admin/").status_code == 302
    assert real_user.status_code == 302
    assert elsewhere.get("/admin/").status_code == 200


def test_it_counts_failures_at_the_admin_sign_in_for_the_app_sign_in(people, settings):
    guesses = [
        sign_in("root", f"guess {n}", page="/admin/login/")
        for n in range(settings.LOGIN_FAILURE_LIMIT)
    ]

    assert all(checked_and_wrong(guess) for guess in guesses)
    assert refused(sign_in("root", ui.PASSWORD))
    assert refused(sign_in("root", ui.PASSWORD, page="/admin/login/"))


def test_it_counts_the_address_the_proxy_appended_behind_the_proxy(people, settings):
    settings.BEHIND_HTTPS_PROXY = True
    limit = settings.LOGIN_FAILURE_LIMIT
    # Every request comes from the proxy. The attacker writes a fresh address of its
    # own, and the real user's, before the one the proxy appends.
    guesses = [
        sign_in("ana", f"guess {n}", address=PROXY, forwarded=f"192.0.2.{n}, {OFFICE}, {ATTACKER}")
        for n in range(limit + 3)
    ]
    attacker = sign_in("ana", ui.PASSWORD, address=PROXY, forwarded=f"192.0.2.99, {ATTACKER}")

    real_user = sign_in("ana", ui.PASSWORD, address=PROXY, forwarded=OFFICE)

    assert all(checked_and_wrong(guess) for guess in guesses[:limit])
    assert all(refused(guess) for guess in guesses[limit:])
    assert refused(attacker)
    assert real_user.status_code == 302


def test_it_spares_an_address_without_failures_when_an_account_is_attacked_from_many(
    people, settings
):
    settings.LOGIN_FAILURE_LIMIT = limit = 5
    settings.LOGIN_ACCOUNT_FAILURE_LIMIT = 10
    attackers = [f"203.0.113.{n}" for n in range(1, 4)]
    guesses = {
        address: [sign_in("ana", f"guess {n}", address=address) for n in range(limit)]
        for address in attackers
    }
    # Past the account's limit an address that failed is refused, even with the right
    # password; an address without failures gets one check.
    sign_in("olga", "guess", address="203.0.113.20")
    failed_elsewhere = sign_in("ana", ui.PASSWORD, address="203.0.113.20")
    fresh = [sign_in("ana", f"fresh guess {n}", address="203.0.113.30") for n in range(3)]

    real_user = sign_in("ana", ui.PASSWORD, address=OFFICE)

    assert all(checked_and_wrong(guess) for guess in guesses[attackers[0]] + guesses[attackers[1]])
    assert checked_and_wrong(guesses[attackers[2]][0])
    assert all(refused(guess) for guess in guesses[attackers[2]][1:])
    assert "from several addresses" in page(guesses[attackers[2]][1])
    assert refused(failed_elsewhere)
    assert checked_and_wrong(fresh[0])
    assert all(refused(guess) for guess in fresh[1:])
    assert real_user.status_code == 302


def test_it_limits_failures_from_one_address_whatever_the_user_names(people, settings):
    settings.LOGIN_ADDRESS_FAILURE_LIMIT = limit = 20

    guesses = [sign_in(f"user{n}", "guess") for n in range(30)]

    assert [checked_and_wrong(guess) for guess in guesses[:limit]] == [True] * limit
    assert [refused(guess) for guess in guesses[limit:]] == [True] * (30 - limit)
    assert "Too many failed sign-ins from your address." in page(guesses[-1])
    assert refused(sign_in("ana", ui.PASSWORD))
    assert sign_in("ana", ui.PASSWORD, address=OFFICE).status_code == 302


def test_it_counts_an_ipv6_client_by_its_64_block(people, settings):
    for n in range(settings.LOGIN_FAILURE_LIMIT):
        sign_in("ana", f"guess {n}", address=f"2001:db8:0:1::{n + 1:x}")

    assert refused(sign_in("ana", ui.PASSWORD, address="2001:db8:0:1:ffff::1"))
    assert sign_in("ana", ui.PASSWORD, address="2001:db8:0:2::1").status_code == 302


def test_it_deletes_expired_counters(people):
    for n in range(30):
        sign_in(f"user{n}", "guess", address=f"203.0.113.{n}")
    SignInCounter.objects.update(expires_at=timezone.now())  # the window has passed

    sign_in("ana", "guess", address=OFFICE)

    assert SignInCounter.objects.count() == 3  # the last attempt's address, account, both


@pytest.mark.django_db(transaction=True)
def test_it_checks_at_most_the_limit_of_forty_parallel_attempts(live_server, settings):
    settings.PASSWORD_HASHERS = [f"{__name__}.CountingHasher"]
    get_user_model().objects.create_user("ana", password=ui.PASSWORD)
    CountingHasher.checks = 0
    with urllib.request.urlopen(f"{live_server.url}/login/", timeout=30) as response:
        cookie = re.search(r"csrftoken=([^;]+)", response.headers["Set-Cookie"]).group(1)
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', response.read().decode())
    form = {"csrfmiddlewaretoken": token.group(1), "username": "ana"}
    headers = {"Cookie": f"csrftoken={cookie}", "Content-Type": "application/x-www-form-urlencoded"}
    # Connected one after the other (the test server's listen queue is short), the 40
    # requests are then sent at once.
    host, port = urllib.parse.urlsplit(live_server.url).netloc.split(":")
    connections = [http.client.HTTPConnection(host, int(port), timeout=60) for _ in range(40)]
    for connection in connections:
        connection.connect()
    start = threading.Barrier(40)

    def attempt(n: int) -> str:
        body = urllib.parse.urlencode({**form, "password": f"guess {n}"})
        start.wait(timeout=60)
        connections[n].request("POST", "/login/", body, headers)
        return connections[n].getresponse().read().decode()

    try:
        with ThreadPoolExecutor(max_workers=40) as pool:
            pages = list(pool.map(attempt, range(40)))
    finally:
        for connection in connections:
            connection.close()

    limit = settings.LOGIN_FAILURE_LIMIT
    assert CountingHasher.checks == limit
    assert sum("correct username and password" in text for text in pages) == limit
    assert sum("Too many failed sign-ins" in text for text in pages) == 40 - limit


@pytest.mark.e2e
def test_it_throttles_on_the_embedded_sqlite_database(tmp_path: Path):
    env = {
        "DATABASE_URL": f"sqlite:///{tmp_path / 'asnwatch.sqlite3'}",
        "ASNWATCH_VAR_DIR": str(tmp_path),
        "SECURE_COOKIES": "false",
        "BEHIND_HTTPS_PROXY": "true",
    }
    assert manage("migrate", "--no-input", env=env).returncode == 0
    created = manage("ensure_login", "ana", env=env).stdout
    password = re.search(r"with password (\S+)", created).group(1)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(
        [Path(sys.executable).parent / "gunicorn", "config.wsgi", "--bind", f"127.0.0.1:{port}"],
        cwd=PROJECT_ROOT,
        env={**os.environ, **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_until_serving(f"{base}/login/", time.monotonic() + 60)
        guesses = [post_sign_in(base, "ana", f"guess {n}", ATTACKER) for n in range(7)]
        attacker = post_sign_in(base, "ana", password, ATTACKER)
        real_user = post_sign_in(base, "ana", password, OFFICE)
    finally:
        server.terminate()
        server.wait(timeout=30)

    assert all("correct username and password" in text for text in guesses[:5])
    assert all("Too many failed sign-ins" in text for text in guesses[5:])
    assert "Too many failed sign-ins" in attacker
    assert real_user == "signed in"


def post_sign_in(base: str, username: str, password: str, address: str) -> str:
    """A browser's sign-in through the proxy at `address`: the page, or "signed in"."""
    opener = urllib.request.build_opener(NoRedirects)
    with opener.open(f"{base}/login/", timeout=30) as response:
        cookie = re.search(r"csrftoken=([^;]+)", response.headers["Set-Cookie"]).group(1)
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', response.read().decode())
    data = urllib.parse.urlencode(
        {"csrfmiddlewaretoken": token.group(1), "username": username, "password": password}
    ).encode()
    headers = {"Cookie": f"csrftoken={cookie}", "X-Forwarded-For": address}
    try:
        with opener.open(urllib.request.Request(f"{base}/login/", data, headers), timeout=30) as r:
            return r.read().decode()
    except urllib.error.HTTPError as error:
        if error.code == 302:
            return "signed in"
        raise


class NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None
