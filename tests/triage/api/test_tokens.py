"""Tokens: who a request is, and the problems a refused one gets (RFC 9457)."""

import json
from datetime import timedelta

import pytest
from django.utils import timezone

from triage.api.models import ApiToken
from triage.api.tokens import key_hash, token_create, token_revoke

pytestmark = pytest.mark.django_db


def test_a_token_is_stored_hashed_and_records_its_last_use(api, tokens, people):
    response = api("analyst").get("rules")

    assert response.status_code == 200
    [token] = ApiToken.objects.filter(user=people.analyst)
    assert token.key_hash == key_hash(tokens.analyst) and tokens.analyst not in str(
        ApiToken.objects.values().get(pk=token.pk)
    )
    assert token.last_used_at is not None and token.last_used_address == "127.0.0.1"


@pytest.mark.parametrize(
    ("header", "detail"),
    [
        (None, "Send a token: Authorization: Bearer TOKEN."),
        ("Bearer aw_not-a-real-token", "The token is not accepted: unknown token."),
        ("Bearer something-else", "The token is not accepted: not an asnwatch API token."),
        ("Basic YWxhZGRpbjpvcGVuc2VzYW1l", "Send a token: Authorization: Bearer TOKEN."),
    ],
)
def test_a_request_without_a_valid_token_is_401_as_a_problem(api, header, detail):
    client = api(None)
    if header:
        client.headers = {"Authorization": header}
    response = client.get("rules")

    assert response.status_code == 401
    assert response["Content-Type"] == "application/problem+json"
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert response.json() == {
        "type": "about:blank",
        "title": "Unauthorized",
        "status": 401,
        "detail": detail,
    }


def test_expired_and_revoked_tokens_and_inactive_users_are_refused(api, people):
    expired = token_create(user=people.analyst, name="old", expires_days=1)
    ApiToken.objects.filter(pk=expired.token.pk).update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )
    revoked = token_create(user=people.analyst, name="gone")
    token_revoke(token=revoked.token, by=people.analyst)
    inactive = token_create(user=people.admin, name="leaver")
    people.admin.is_active = False
    people.admin.save()

    def detail(secret: str) -> str:
        client = api(None)
        client.headers = {"Authorization": f"Bearer {secret}"}
        response = client.get("rules")
        assert response.status_code == 401
        return response.json()["detail"]

    assert detail(expired.secret) == "The token is not accepted: the token has expired."
    assert detail(revoked.secret) == "The token is not accepted: the token was revoked."
    assert detail(inactive.secret) == "The token is not accepted: the token's user is not active."


def test_a_user_without_a_role_gets_403(api):
    response = api("outsider").get("rules")

    assert response.status_code == 403
    assert response.json()["title"] == "Forbidden"


def test_the_rate_limit_answers_429_with_retry_after(api, settings):
    settings.API_RATE_LIMIT_PER_MINUTE = 3
    client = api("analyst")
    assert [client.get("rules").status_code for _ in range(3)] == [200, 200, 200]

    refused = client.get("rules")

    assert refused.status_code == 429
    assert 1 <= int(refused["Retry-After"]) <= 60
    assert refused.json()["detail"].startswith("Too many requests for this token")
    # Another token has its own count.
    assert api("admin").get("rules").status_code == 200


def test_token_requests_need_no_csrf_token(api, people):
    from django.test import Client

    enforcing = Client(enforce_csrf_checks=True)
    secret = token_create(user=people.analyst, name="script").secret
    response = enforcing.get("/api/v1/rules", headers={"Authorization": f"Bearer {secret}"})
    assert response.status_code == 200


def test_the_schema_and_its_docs_page_are_served_without_a_cdn(client):
    schema = client.get("/api/v1/openapi.json")
    assert schema.status_code == 200
    assert schema.json()["openapi"].startswith("3.")

    def unique(pairs):
        keys = [key for key, _ in pairs]
        assert len(keys) == len(set(keys)), f"a key appears twice: {keys}"
        return dict(pairs)

    json.loads(schema.content, object_pairs_hook=unique)
    docs = client.get("/api/v1/docs")
    assert docs.status_code == 200
    page = docs.content.decode()
    assert "/static/ninja/swagger-ui-bundle.js" in page and "https://" not in page
