"""Settings → Users: who may sign in, with which roles. Superusers only; everyone
else who signs in gets the 403 page. Changes go through triage.users.services,
which checks again and records each one. A generated password is shown once,
in the answer to the POST that created the user, and stored nowhere else.
"""

from collections.abc import Callable
from functools import wraps

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from triage.audit import change_history
from triage.users import services
from triage.users.forms import RolesForm, UserForm


def superuser_required(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Anonymous → the login page; signed in but not a superuser → 403."""

    @wraps(view)
    def wrapped(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        if not services.user_can_manage_users(request.user):
            raise PermissionDenied("only superusers manage users")
        return view(request, *args, **kwargs)

    return login_required(wrapped)


def _list(request: HttpRequest, form: UserForm, created=None, password=None) -> HttpResponse:
    users = get_user_model().objects.order_by("username").prefetch_related("groups")
    rows = [(user, services.user_roles_of(user)) for user in users]
    context = {"form": form, "rows": rows, "created": created, "password": password}
    return render(request, "users/user_list.html", context)


@require_http_methods(["GET", "POST"])
@superuser_required
def user_list(request: HttpRequest) -> HttpResponse:
    if request.method == "GET":
        return _list(request, UserForm())
    form = UserForm(request.POST)
    if not form.is_valid():
        return _list(request, form)
    try:
        created, password = services.user_create(
            by=request.user,
            username=form.cleaned_data["username"],
            roles=form.cleaned_data["roles"],
            password=form.cleaned_data["password"] or None,
        )
    except ValidationError as error:
        form.add_error(None, error)
        return _list(request, form)
    return _list(request, UserForm(), created=created, password=password)


def _detail(request: HttpRequest, user, form: RolesForm) -> HttpResponse:
    history = change_history(user.role_changes.all(), names=["roles", "active"])
    context = {"person": user, "form": form, "history": history}
    return render(request, "users/user_detail.html", context)


@require_http_methods(["GET", "POST"])
@superuser_required
def user_detail(request: HttpRequest, user_id: int) -> HttpResponse:
    user = get_object_or_404(get_user_model(), pk=user_id)
    if request.method == "GET":
        return _detail(request, user, RolesForm(initial={"roles": services.user_roles_of(user)}))
    form = RolesForm(request.POST)
    if not form.is_valid():
        return _detail(request, user, form)
    if services.user_set_roles(by=request.user, user=user, roles=form.cleaned_data["roles"]):
        messages.success(request, f"Roles of {user.get_username()} changed.")
    else:
        messages.info(request, f"{user.get_username()} already had those roles.")
    return redirect("user", user_id=user.pk)


def _set_active(request: HttpRequest, user_id: int, *, active: bool) -> HttpResponse:
    user = get_object_or_404(get_user_model(), pk=user_id)
    try:
        changed = services.user_set_active(by=request.user, user=user, active=active)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        state = "may sign in" if active else "can no longer sign in"
        if changed:
            messages.success(request, f"{user.get_username()} {state}.")
    return redirect("user", user_id=user.pk)


@require_POST
@superuser_required
def user_deactivate(request: HttpRequest, user_id: int) -> HttpResponse:
    return _set_active(request, user_id, active=False)


@require_POST
@superuser_required
def user_activate(request: HttpRequest, user_id: int) -> HttpResponse:
    return _set_active(request, user_id, active=True)
