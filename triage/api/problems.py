"""Errors as application/problem+json (RFC 9457), one shape for every operation.

    {"type": "about:blank", "title": "Unprocessable Content", "status": 422,
     "detail": "…", "errors": [{"field": "comment", "message": "…"}]}

`errors` is there for validation failures, naming each field (a dotted path
into the body or the query) that was refused.
"""

import logging
from typing import Any

from django.core.exceptions import ObjectDoesNotExist, PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError, Throttled
from ninja.errors import ValidationError as RequestInvalid
from pydantic import BaseModel

from config.errors import (
    DATABASE_UNREACHABLE,
    PROBLEM_CONTENT_TYPE,
    database_unreachable,
    first_line,
    problem_response,
)
from triage.alerts import TransitionRefused

logger = logging.getLogger(__name__)
CONTENT_TYPE = PROBLEM_CONTENT_TYPE


class FieldError(BaseModel):
    field: str
    message: str


class Problem(BaseModel):
    """An error (RFC 9457)."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str = ""
    errors: list[FieldError] | None = None


class Conflict(Exception):
    """The change does not apply to the object as it is now (409)."""


class Unauthenticated(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class RateLimited(Exception):
    def __init__(self, retry_after: float) -> None:
        super().__init__(f"retry after {retry_after:.0f} s")
        self.retry_after = retry_after


def problem(
    status: int, detail: str = "", *, errors: list[dict[str, str]] | None = None, **headers: str
) -> HttpResponse:
    response = problem_response(status, detail, errors=errors)
    for name, value in headers.items():
        response[name.replace("_", "-")] = value
    return response


def _field(location: Any) -> str:
    """A pydantic error location as a dotted path, without ninja's wrapper names."""
    parts = [str(part) for part in location]
    if parts and parts[0] in ("body", "query", "path"):
        parts = parts[1:]
        if parts and parts[0] in ("payload", "filters", "params"):
            parts = parts[1:]
    return ".".join(parts) or "body"


def _messages(error: ValidationError) -> list[dict[str, str]]:
    if hasattr(error, "error_dict"):
        return [
            {"field": field, "message": message}
            for field, messages in error.message_dict.items()
            for message in messages
        ]
    return [{"field": "", "message": message} for message in error.messages]


def install(api: NinjaAPI) -> None:
    """Every error the operations raise, answered as a problem."""

    @api.exception_handler(RequestInvalid)
    def request_invalid(request: HttpRequest, error: RequestInvalid) -> HttpResponse:
        errors = [
            {"field": _field(item.get("loc", ())), "message": item.get("msg", "invalid")}
            for item in error.errors
        ]
        return problem(422, "The request is not valid.", errors=errors)

    @api.exception_handler(ValidationError)
    def refused(request: HttpRequest, error: ValidationError) -> HttpResponse:
        errors = _messages(error)
        if isinstance(error, TransitionRefused):
            return problem(409, "; ".join(item["message"] for item in errors))
        return problem(422, "; ".join(item["message"] for item in errors), errors=errors)

    @api.exception_handler(Conflict)
    def conflict(request: HttpRequest, error: Conflict) -> HttpResponse:
        return problem(409, str(error))

    @api.exception_handler(AuthenticationError)
    def no_token(request: HttpRequest, error: AuthenticationError) -> HttpResponse:
        return problem(401, "Send a token: Authorization: Bearer TOKEN.", WWW_Authenticate="Bearer")

    @api.exception_handler(Unauthenticated)
    def bad_token(request: HttpRequest, error: Unauthenticated) -> HttpResponse:
        return problem(
            401,
            f"The token is not accepted: {error.reason}.",
            WWW_Authenticate='Bearer error="invalid_token"',
        )

    @api.exception_handler(RateLimited)
    def rate_limited(request: HttpRequest, error: RateLimited) -> HttpResponse:
        seconds = str(int(error.retry_after + 0.999))
        return problem(
            429, f"Too many requests for this token: retry in {seconds} s.", Retry_After=seconds
        )

    @api.exception_handler(Throttled)
    def throttled(request: HttpRequest, error: Throttled) -> HttpResponse:
        return problem(429, "Too many requests.")

    @api.exception_handler(PermissionDenied)
    def forbidden(request: HttpRequest, error: PermissionDenied) -> HttpResponse:
        return problem(403, str(error) or "Your account's role does not allow this.")

    @api.exception_handler(Http404)
    def not_found(request: HttpRequest, error: Http404) -> HttpResponse:
        return problem(404, str(error) or "Not found.")

    @api.exception_handler(ObjectDoesNotExist)
    def missing(request: HttpRequest, error: ObjectDoesNotExist) -> HttpResponse:
        return problem(404, "Not found.")

    @api.exception_handler(HttpError)
    def http_error(request: HttpRequest, error: HttpError) -> HttpResponse:
        return problem(error.status_code, str(error))

    @api.exception_handler(Exception)
    def unexpected(request: HttpRequest, error: Exception) -> HttpResponse:
        if database_unreachable(error):
            logger.error(
                "%s %s: the database cannot be reached: %s",
                request.method,
                request.path,
                first_line(error),
            )
            return problem(503, DATABASE_UNREACHABLE)
        logger.error("%s %s failed", request.method, request.path, exc_info=error)
        return problem(500, "The server failed to answer; the error is in its log.")
