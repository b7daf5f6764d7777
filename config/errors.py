"""The error pages (400, 404, 500) and the 503 page for a database that cannot be reached.

The 500 and 503 pages are rendered without the request: finding out who is
signed in reads the session from the database, which may be what failed.
Under /api/ the same errors are application/problem+json (RFC 9457), as the
API's own are.
"""

import json
import sqlite3
import sys
from http import HTTPStatus

import psycopg
from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.template import loader

DATABASE_UNREACHABLE = "The database cannot be reached; asnwatch will work again when it is back."

# SQLSTATEs of a lost connection: class 08, and a server shutting down or starting up.
_NO_CONNECTION = ("08", "57P01", "57P02", "57P03")


def database_unreachable(error: BaseException | None) -> bool:
    """Whether error says the database cannot be reached, rather than that one query failed."""
    if not isinstance(error, OperationalError | InterfaceError):
        return False
    cause = error.__cause__
    if isinstance(cause, psycopg.Error):
        # psycopg gives no SQLSTATE when there is no server to give one.
        return cause.sqlstate is None or cause.sqlstate.startswith(_NO_CONNECTION)
    if isinstance(cause, sqlite3.Error):
        return cause.sqlite_errorcode == sqlite3.SQLITE_CANTOPEN
    return False


def first_line(error: BaseException) -> str:
    return next(iter(str(error).strip().splitlines()), type(error).__name__)


def database_unavailable() -> HttpResponse:
    return HttpResponse(
        loader.render_to_string("503.html", {"message": DATABASE_UNREACHABLE}), status=503
    )


def bad_request(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return render(request, "400.html", {"problems": []}, status=400)


PROBLEM_CONTENT_TYPE = "application/problem+json"
API_PREFIX = "/api/"


def problem_response(
    status: int, detail: str = "", *, errors: list[dict[str, str]] | None = None
) -> HttpResponse:
    """An error as application/problem+json; errors lists refused fields, if any."""
    body = {"type": "about:blank", "title": HTTPStatus(status).phrase, "status": status}
    body["detail"] = detail
    if errors is not None:
        body["errors"] = errors
    return HttpResponse(json.dumps(body), status=status, content_type=PROBLEM_CONTENT_TYPE)


def _for_api(request: HttpRequest | None) -> bool:
    return request is not None and request.path.startswith(API_PREFIX)


def page_not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    # Http404("No such alert") says what was not found; the resolver's own 404 carries a dict.
    reason = exception.args[0] if exception is not None and exception.args else ""
    if _for_api(request):
        return problem_response(404, "No such operation or object.")
    return render(
        request, "404.html", {"reason": reason if isinstance(reason, str) else ""}, status=404
    )


def server_error(request: HttpRequest) -> HttpResponse:
    """Called while the exception is being handled: one raised outside a view lands here."""
    unreachable = database_unreachable(sys.exception())
    if _for_api(request):
        if unreachable:
            return problem_response(503, DATABASE_UNREACHABLE)
        return problem_response(500, "The server failed to answer; the error is in its log.")
    if unreachable:
        return database_unavailable()
    return HttpResponse(loader.render_to_string("500.html"), status=500)
