"""The authentication backend every sign-in goes through: ModelBackend behind the throttle."""

from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest

from signin.throttle import attempt_start, attempt_succeeded, client_address


class ThrottledModelBackend(ModelBackend):
    """Counts the attempt first and refuses a throttled one without checking its password.

    `django.contrib.auth.authenticate` stops at PermissionDenied, so no later backend
    checks the password either. The refusal is left on the request as
    `sign_in_refusal` for the sign-in form to show (signin.forms).
    """

    def authenticate(
        self,
        request: HttpRequest | None,
        username: str | None = None,
        password: str | None = None,
        **kwargs,
    ) -> AbstractBaseUser | None:
        if username is None:
            username = kwargs.get(get_user_model().USERNAME_FIELD)
        if username is None or password is None:
            return None
        attempt = attempt_start(username=str(username), address=client_address(request))
        if attempt.refusal:
            if request is not None:
                request.sign_in_refusal = attempt.refusal
            raise PermissionDenied(attempt.refusal)
        user = super().authenticate(request, username=username, password=password, **kwargs)
        if user is not None:
            attempt_succeeded(attempt)
        return user
