"""Each signed-in user's requests run in the time zone they chose (triage/users/zones.py)."""

from collections.abc import Callable

from django.db import DatabaseError
from django.http import HttpRequest, HttpResponse
from django.utils import timezone

from triage.users.zones import DEFAULT_ZONE, user_zone_name, zone_of

# The session keeps the zone (with the user it is for), so that a page costs no query for
# it: read at sign-in (or at the first request of a session older than this), rewritten
# when the user chooses another. Another browser the user is signed in to keeps the zone it
# had until that session ends.
SESSION_KEY = "asnwatch_time_zone"


def remember_zone(request: HttpRequest, name: str, user=None) -> None:
    request.session[SESSION_KEY] = [(user or request.user).pk, name]


def remember_zone_at_sign_in(sender, request: HttpRequest | None, user, **kwargs) -> None:
    """user_logged_in receiver: the session starts with the user's zone."""
    if request is not None and hasattr(request, "session"):
        remember_zone(request, user_zone_name(user), user)


def _zone_name(request: HttpRequest) -> str:
    user = request.user
    if not user.is_authenticated:
        return DEFAULT_ZONE
    remembered = request.session.get(SESSION_KEY)
    if isinstance(remembered, list) and len(remembered) == 2 and remembered[0] == user.pk:
        return str(remembered[1])
    name = user_zone_name(user)
    remember_zone(request, name)
    return name


class TimeZoneMiddleware:
    """Activates the user's zone for the whole request, rendering included; UTC otherwise."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        try:
            name = _zone_name(request)
        except DatabaseError:
            # The view will meet the same database and answer 503 saying so.
            name = DEFAULT_ZONE
        with timezone.override(zone_of(name)):
            return self.get_response(request)
