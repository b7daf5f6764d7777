"""Bearer tokens for the API, and the role checks operations make.

A token acts as its user: the request's user is the token's, so the services
called check the same roles and record the same author as in the browser.
Token requests carry no cookie, so CSRF does not apply to them.
"""

from django.core.exceptions import PermissionDenied
from django.http import HttpRequest
from ninja.security import HttpBearer

from config.roles import TRIAGE_ROLES, user_has_role
from signin.throttle import client_address
from triage.api.problems import RateLimited, Unauthenticated
from triage.api.tokens import token_check


class BearerToken(HttpBearer):
    def authenticate(self, request: HttpRequest, token: str) -> int:
        check = token_check(token, address=client_address(request))
        if check.user is None:
            raise Unauthenticated(check.refusal)
        if check.retry_after is not None:
            raise RateLimited(check.retry_after)
        # Every operation needs a role; one without any is refused before its input is read.
        if not user_has_role(check.user, *TRIAGE_ROLES):
            raise PermissionDenied("Your account has no role; ask an admin for one.")
        request.user = check.user
        return check.token_id


def require_role(request: HttpRequest, *roles: str) -> None:
    """403 unless the token's user has one of roles (by default, a triage role)."""
    if not user_has_role(request.user, *(roles or TRIAGE_ROLES)):
        raise PermissionDenied("Your account has no role that allows this; ask an admin.")
