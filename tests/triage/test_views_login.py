"""Sign-in: where it leads, the limit on one user name's failures from one address, and
sessions that expire. tests/test_signin_throttle.py tests the rest of the throttle."""

from datetime import timedelta

import pytest
from django.contrib.sessions.models import Session
from django.test import Client
from django.utils import timezone

from signin.models import SignInCounter
from tests.triage import ui

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def fast_passwords(settings):
    # Each sign-in checks a password; the production hasher is slow on purpose.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def people():
    return ui.people()


def sign_in(password: str, username: str = "ana", address: str = "192.0.2.50"):
    return Client(REMOTE_ADDR=address).post("/login/", {"username": username, "password": password})


def refused(response) -> bool:
    return "Too many failed sign-ins" in response.content.decode()


def test_it_signs_in_to_the_alert_list(people):
    client = Client()

    response = client.post("/login/", {"username": "ana", "password": ui.PASSWORD}, follow=True)

    assert response.redirect_chain == [("/", 302), ("/alerts/", 302)]
    assert response.status_code == 200


def test_it_says_when_the_password_is_wrong(people):
    response = sign_in("wrong")

    assert response.status_code == 200
    assert "Please enter a correct username and password." in response.content.decode()


def test_it_refuses_sign_in_after_five_failures_even_with_the_right_password(people, settings):
    failures = [sign_in("wrong") for _ in range(settings.LOGIN_FAILURE_LIMIT)]

    response = sign_in(ui.PASSWORD)

    assert not any(refused(failure) for failure in failures)
    assert response.status_code == 200
    assert refused(response)
    assert "Wait 15 minutes" in response.content.decode()


def test_it_counts_failures_per_user_name_and_address(people):
    for _ in range(5):
        sign_in("wrong", username="ANA")  # user names are compared case-insensitively

    assert refused(sign_in(ui.PASSWORD, username="ana"))
    assert sign_in(ui.PASSWORD, address="192.0.2.51").status_code == 302
    assert sign_in(ui.PASSWORD, username="adam").status_code == 302


def test_it_forgets_failures_after_the_window(people):
    for _ in range(5):
        sign_in("wrong")
    SignInCounter.objects.update(expires_at=timezone.now())

    assert sign_in(ui.PASSWORD).status_code == 302


def test_it_forgets_earlier_failures_after_a_success(people):
    for _ in range(4):
        sign_in("wrong")
    assert sign_in(ui.PASSWORD).status_code == 302

    later = [sign_in("wrong") for _ in range(4)]

    assert not any(refused(failure) for failure in later)
    assert sign_in(ui.PASSWORD).status_code == 302


def test_it_expires_sessions(people, settings):
    client = Client()
    client.post("/login/", {"username": "ana", "password": ui.PASSWORD})

    session = Session.objects.get()
    lifetime = session.expire_date - timezone.now()
    assert timedelta(seconds=settings.SESSION_COOKIE_AGE - 60) < lifetime
    assert lifetime <= timedelta(seconds=settings.SESSION_COOKIE_AGE)
    assert settings.SESSION_COOKIE_AGE <= 8 * 3600


def test_it_signs_out_only_with_a_post(people):
    client = ui.client_for(people.analyst)

    assert client.get("/logout/").status_code == 405
    assert client.post("/logout/").status_code == 302
    assert client.get("/alerts/").status_code == 302
