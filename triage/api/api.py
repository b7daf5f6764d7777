"""The JSON API, version 1, at /api/v1/: its operations, schema and docs page.

django-ninja builds the OpenAPI schema from the operations' type hints, so the
schema, the validation and the code cannot disagree. Each capability has its
own module of operations (a Router); they call the same services and
selectors as the pages.
"""

from typing import Any

from ninja import NinjaAPI
from ninja.openapi.docs import Swagger
from ninja.openapi.schema import OpenAPISchema

from triage.api import alerts, events, exclusions, problems, rule
from triage.api.auth import BearerToken

# Every operation can answer these, whatever it declares itself; each declares only its
# own (404, 409), so this list is kept once.
COMMON_ERRORS = {
    "400": "The body is not JSON.",
    "401": "No token, or one that is unknown, expired or revoked.",
    "403": "The token's user has no role that may do this.",
    "422": "The request is not valid: `errors` names each refused field.",
    "429": "Too many requests for this token: retry after `Retry-After` seconds.",
    "503": "The database cannot be reached.",
}


class Api(NinjaAPI):
    """The schema says what the operations really answer: errors as application/problem+json."""

    def get_openapi_schema(self, **kwargs: Any) -> OpenAPISchema:
        schema = super().get_openapi_schema(**kwargs)
        problem = {"schema": {"$ref": "#/components/schemas/Problem"}}
        for operations in schema["paths"].values():
            for operation in operations.values():
                # ninja keys responses by int; JSON keys are strings: one key per code.
                responses = {str(code): value for code, value in operation["responses"].items()}
                operation["responses"] = responses
                for code, description in COMMON_ERRORS.items():
                    responses.setdefault(str(code), {"description": description})
                for code, response in responses.items():
                    if int(code) >= 400:
                        response["content"] = {problems.CONTENT_TYPE: problem}
                responses["401"]["headers"] = {"WWW-Authenticate": {"schema": {"type": "string"}}}
                responses["429"]["headers"] = {
                    "Retry-After": {"schema": {"type": "integer", "minimum": 1}}
                }
        return schema


api = Api(
    title="asnwatch API",
    version="1",
    description=(
        "Triage alerts, tune the ASN allowlist and search CloudTrail events. "
        "Authenticate with `Authorization: Bearer TOKEN` (Settings → API tokens). "
        "Errors are application/problem+json (RFC 9457)."
    ),
    auth=BearerToken(),
    urls_namespace="api",
    docs=Swagger(settings={"persistAuthorization": False}),
    docs_url="/docs",
    openapi_url="/openapi.json",
)
problems.install(api)
api.add_router("/alerts", alerts.router)
api.add_router("/exclusions", exclusions.router)
api.add_router("/events", events.router)
api.add_router("/", rule.router)
