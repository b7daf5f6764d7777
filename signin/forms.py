"""The sign-in forms of /login/ and /admin/login/: Django's, with the throttle's message."""

from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth.forms import AuthenticationForm
from django.core.exceptions import ValidationError


class ThrottleMessageMixin:
    """Says "too many failed sign-ins, wait N minutes" instead of "wrong password"."""

    def get_invalid_login_error(self) -> ValidationError:
        refusal = getattr(self.request, "sign_in_refusal", None)
        if refusal:
            return ValidationError(refusal, code="throttled")
        return super().get_invalid_login_error()


class SignInForm(ThrottleMessageMixin, AuthenticationForm):
    pass


class AdminSignInForm(ThrottleMessageMixin, AdminAuthenticationForm):
    pass
