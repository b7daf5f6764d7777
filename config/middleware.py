"""Content-Security-Policy for every response, and the 503 page when the database is down.

Everything shown comes partly from CloudTrail, which attackers write to; the
policy makes an injected script inert even if escaping were ever missed.
"""

import logging
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from config.errors import database_unavailable, database_unreachable, first_line

logger = logging.getLogger(__name__)

POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)


class ContentSecurityPolicyMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        response.setdefault("Content-Security-Policy", POLICY)
        return response


class DatabaseUnavailableMiddleware:
    """A view that cannot reach the database answers 503 with a page that says so.

    Logged as one line: the traceback would only repeat that the server is not there.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not database_unreachable(exception):
            return None
        logger.error(
            "%s %s: the database cannot be reached: %s",
            request.method,
            request.path,
            first_line(exception),
        )
        return database_unavailable()
