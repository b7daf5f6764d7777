"""The JSON API, version 1, at /api/v1/: its operations, schema and docs page.

django-ninja builds the OpenAPI schema from the operations' type hints, so the
schema, the validation and the code cannot disagree. Each capability has its
own module of operations (a Router); they call the same services and
selectors as the pages.
"""

from ninja import NinjaAPI
from ninja.openapi.docs import Swagger

from triage.api import alerts, events, exclusions, problems, rule
from triage.api.auth import BearerToken

api = NinjaAPI(
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
