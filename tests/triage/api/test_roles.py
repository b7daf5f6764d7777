"""Every operation of the schema refuses requests without a valid token (401) and
tokens of users without a role (403), before reading their input."""

import re
from datetime import timedelta

import pytest
from django.utils import timezone

from triage.api.api import api as the_api
from triage.api.models import ApiToken
from triage.api.tokens import token_create, token_revoke

pytestmark = pytest.mark.django_db


def operations() -> list[tuple[str, str]]:
    schema = the_api.get_openapi_schema(path_prefix="/api/v1")
    return [
        (
            method.upper(),
            re.sub(r"\{[^}]+\}", "1", path),
        )
        for path, methods in schema["paths"].items()
        for method in methods
    ]


@pytest.fixture
def refused_tokens(people) -> dict[str, str | None]:
    expired = token_create(user=people.analyst, name="expired", expires_days=1)
    ApiToken.objects.filter(pk=expired.token.pk).update(expires_at=timezone.now() - timedelta(1))
    revoked = token_create(user=people.analyst, name="revoked")
    token_revoke(token=revoked.token, by="ops")
    return {
        "anonymous": None,
        "unknown": "aw_" + "x" * 43,
        "expired": expired.secret,
        "revoked": revoked.secret,
    }


def call(client, method: str, path: str, token: str | None):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return client.generic(method, path, b"{}", content_type="application/json", headers=headers)


def test_the_schema_has_operations_to_check():
    assert len(operations()) >= 20


@pytest.mark.parametrize(("method", "path"), operations())
def test_every_operation_refuses_a_missing_or_invalid_token_and_a_user_without_role(
    client, method, path, refused_tokens, tokens
):
    for persona, token in refused_tokens.items():
        response = call(client, method, path, token)
        assert response.status_code == 401, (persona, response.content)
        assert response["Content-Type"] == "application/problem+json"

    response = call(client, method, path, tokens.outsider)
    assert response.status_code == 403, response.content
    assert response.json()["detail"] == "Your account has no role; ask an admin for one."
