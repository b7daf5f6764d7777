"""Settings → API tokens: a user's own tokens (a superuser's: everyone's), made and revoked.

A new token is shown once, in the answer to the POST that made it; afterwards
only its first characters are shown, with its state and last use.
"""

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from triage.api import selectors
from triage.api.models import ApiToken
from triage.api.tokens import MAX_EXPIRY_DAYS, token_create, token_revoke, user_can_revoke


class TokenForm(forms.Form):
    name = forms.CharField(max_length=100, help_text="what the token is for, e.g. the playbook")
    expires_days = forms.IntegerField(
        label="Expires after (days)",
        required=False,
        min_value=1,
        max_value=MAX_EXPIRY_DAYS,
        initial=90,
        help_text="empty: never",
    )


def _page(request: HttpRequest, form: TokenForm, created=None) -> HttpResponse:
    tokens = [
        (token, selectors.token_state(token)) for token in selectors.tokens_for(request.user)[:200]
    ]
    return render(request, "api/tokens.html", {"form": form, "tokens": tokens, "created": created})


@login_required
@require_http_methods(["GET", "POST"])
def tokens(request: HttpRequest) -> HttpResponse:
    if request.method == "GET":
        return _page(request, TokenForm())
    form = TokenForm(request.POST)
    if not form.is_valid():
        return _page(request, form)
    try:
        created = token_create(
            user=request.user,
            name=form.cleaned_data["name"],
            expires_days=form.cleaned_data["expires_days"],
        )
    except ValidationError as error:
        form.add_error(None, error)
        return _page(request, form)
    return _page(request, TokenForm(), created=created)


@login_required
@require_POST
def token_revoke_view(request: HttpRequest, token_id: int) -> HttpResponse:
    token = get_object_or_404(ApiToken, pk=token_id)
    if not user_can_revoke(request.user, token):
        raise PermissionDenied("only the token's owner or a superuser revokes it")
    try:
        token_revoke(token=token, by=request.user)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        messages.success(request, f"Token {token.name} ({token.prefix}…) revoked.")
    return redirect("api_tokens")
