"""Schemathesis over every operation of the live schema, with a superuser's token.

Each operation gets generated requests (valid and invalid) against the story
dataset: no answer is a 500, and every answer — its status code, content type,
headers and body — is one the schema documents. The examples per operation are
bounded so the whole stays well under two minutes.
"""

from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from schemathesis.config import SchemathesisConfig

from config.wsgi import application

pytestmark = pytest.mark.django_db
EXAMPLES = 20


# Loaded when the tests are collected: the schema needs no database.
schema = schemathesis.openapi.from_wsgi(
    "/api/v1/openapi.json",
    application,
    config=SchemathesisConfig.from_path(Path(__file__).with_name("schemathesis.toml")),
)


@pytest.fixture
def superuser_token(story, tokens, settings) -> Iterator[str]:
    settings.API_RATE_LIMIT_PER_MINUTE = 0
    # Django's handler closes the database connection after each request, which would
    # end the test's transaction; its test client does the same as this.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield tokens.superuser
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_every_operation_answers_as_its_schema_says(case, superuser_token):
    case.call_and_validate(headers={"Authorization": f"Bearer {superuser_token}"})
