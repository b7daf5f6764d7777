"""API tests' fixtures: the personas of tests/triage/ui.py, each with a token.

`story` is the alert data the page tests use (hostile text included); `api`
gives a Django test client whose every request carries a persona's token.
"""

from dataclasses import dataclass

import pytest
from django.test import Client

from tests.triage import ui
from triage.api.tokens import token_create


@dataclass
class Tokens:
    analyst: str
    admin: str
    outsider: str
    superuser: str


class ApiClient:
    """Requests to /api/v1/ with one token (or none)."""

    def __init__(self, token: str | None) -> None:
        self.client = Client()
        self.headers = {"Authorization": f"Bearer {token}"} if token else {}

    def _url(self, path: str) -> str:
        return "/api/v1/" + path.lstrip("/")

    def get(self, path: str, **query):
        return self.client.get(self._url(path), query, headers=self.headers)

    def post(self, path: str, body=None):
        return self.client.post(
            self._url(path), body or {}, content_type="application/json", headers=self.headers
        )

    def patch(self, path: str, body=None):
        return self.client.patch(
            self._url(path), body or {}, content_type="application/json", headers=self.headers
        )

    def delete(self, path: str):
        return self.client.delete(self._url(path), headers=self.headers)


@pytest.fixture(scope="session")
def geoip_dir(tmp_path_factory):
    return ui.write_geoip(tmp_path_factory.mktemp("geoip-api"))


@pytest.fixture
def story(settings) -> ui.Story:
    return ui.stories(settings)


@pytest.fixture
def people(story) -> ui.People:
    return ui.people()


@pytest.fixture
def tokens(people) -> Tokens:
    return Tokens(
        *(
            token_create(user=user, name="tests").secret
            for user in (people.analyst, people.admin, people.outsider, people.superuser)
        )
    )


@pytest.fixture
def api(tokens):
    """api("analyst") → a client acting with that persona's token; api(None) → no token."""

    def client(persona: str | None = "analyst") -> ApiClient:
        return ApiClient(getattr(tokens, persona) if persona else None)

    return client
