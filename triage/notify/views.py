"""Settings → Notifications: destinations, their change history, delivery log and test.

Only integrations admins (and superusers) see these pages; everyone else who
signs in gets the 403 page. Changes go through triage.notify.services, which
checks the role again and keeps the audit. Secrets and Apprise URLs are never
rendered after saving; a generated webhook secret is shown once, in the
answer to the POST that created it, and stored nowhere else.
"""

from collections.abc import Callable
from functools import wraps

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from config.queries import invalid_query
from triage.notify import selectors, services
from triage.notify.forms import DestinationForm, KindQuery, PageQuery, initial_for
from triage.notify.models import Delivery, Destination
from triage.notify.removal import destination_remove

ATTEMPTS_PER_PAGE = 50


def integrations_admin_required(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Anonymous → the login page; signed in without the role → 403."""

    @wraps(view)
    def wrapped(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        if not services.user_can_change_destinations(request.user):
            raise PermissionDenied("only integrations admins see notification settings")
        return view(request, *args, **kwargs)

    return login_required(wrapped)


def _destination(destination_id: int) -> Destination:
    return get_object_or_404(Destination, pk=destination_id, removed_at__isnull=True)


def _editor(request: HttpRequest, form: DestinationForm, *, status: int = 200) -> HttpResponse:
    context = {"form": form, "kind": form.kind, "destination": form.destination}
    return render(request, "notify/destination_form.html", context, status=status)


def _shown_once(request: HttpRequest, destination: Destination, secret: str) -> HttpResponse:
    context = {"destination": destination, "secret": secret}
    return render(request, "notify/destination_secret.html", context)


@require_GET
@integrations_admin_required
def destination_list(request: HttpRequest) -> HttpResponse:
    context = {"rows": selectors.destination_rows(), "kinds": Destination.Kind.choices}
    return render(request, "notify/destination_list.html", context)


@require_http_methods(["GET", "POST"])
@integrations_admin_required
def destination_new(request: HttpRequest) -> HttpResponse:
    query = KindQuery(request.GET)
    if not query.is_valid():
        return invalid_query(request, query)
    kind = query.cleaned_data["kind"]
    if request.method == "GET":
        return _editor(request, DestinationForm(kind=kind))
    form = DestinationForm(request.POST, kind=kind)
    if not form.is_valid():
        return _editor(request, form)
    fields = form.settings()
    try:
        destination = services.destination_create(
            by=request.user, kind=kind, target=fields.pop("target"), **fields
        )
    except ValidationError as refused:
        form.add_error(None, refused)
        return _editor(request, form)
    messages.success(request, f"Destination {destination.name} added.")
    if kind == Destination.Kind.WEBHOOK and "secret" not in fields:
        return _shown_once(request, destination, destination.secret)
    return redirect("notify_destination", destination_id=destination.pk)


@require_http_methods(["GET", "POST"])
@integrations_admin_required
def destination_edit(request: HttpRequest, destination_id: int) -> HttpResponse:
    destination = _destination(destination_id)
    if request.method == "GET":
        form = DestinationForm(
            initial=initial_for(destination), kind=destination.kind, destination=destination
        )
        return _editor(request, form)
    form = DestinationForm(request.POST, kind=destination.kind, destination=destination)
    if not form.is_valid():
        return _editor(request, form)
    fields = form.settings()
    generated = form.cleaned_data.get("new_secret") and "secret" not in fields
    if generated:
        fields["secret"] = services.new_webhook_secret()
    try:
        destination = services.destination_update(
            destination=destination, by=request.user, **fields
        )
    except ValidationError as refused:
        form.add_error(None, refused)
        return _editor(request, form)
    messages.success(request, f"Destination {destination.name} saved.")
    if generated:
        return _shown_once(request, destination, fields["secret"])
    return redirect("notify_destination", destination_id=destination.pk)


@require_GET
@integrations_admin_required
def destination_detail(request: HttpRequest, destination_id: int) -> HttpResponse:
    destination = _destination(destination_id)
    query = PageQuery(request.GET)
    if not query.is_valid():
        return invalid_query(request, query)
    attempts = Paginator(selectors.delivery_attempts(destination), ATTEMPTS_PER_PAGE)
    context = {
        "destination": destination,
        "public": selectors.destination_public(destination),
        "history": selectors.destination_history(destination),
        "attempts": attempts.get_page(query.cleaned_data["page"] or 1),
    }
    return render(request, "notify/destination_detail.html", context)


def _change(request: HttpRequest, destination_id: int, text: str, **change) -> HttpResponse:
    destination = _destination(destination_id)
    services.destination_update(destination=destination, by=request.user, **change)
    messages.success(request, text.format(name=destination.name))
    return redirect("notify_destination", destination_id=destination.pk)


@require_POST
@integrations_admin_required
def destination_disable(request: HttpRequest, destination_id: int) -> HttpResponse:
    return _change(request, destination_id, "Destination {name} disabled.", enabled=False)


@require_POST
@integrations_admin_required
def destination_enable(request: HttpRequest, destination_id: int) -> HttpResponse:
    return _change(request, destination_id, "Destination {name} enabled.", enabled=True)


@require_POST
@integrations_admin_required
def destination_delete(request: HttpRequest, destination_id: int) -> HttpResponse:
    destination = destination_remove(destination=_destination(destination_id), by=request.user)
    messages.success(
        request,
        f"Destination {destination.name} removed; its deliveries and history are kept.",
    )
    return redirect("notify_destinations")


@require_POST
@integrations_admin_required
def destination_send_test(request: HttpRequest, destination_id: int) -> HttpResponse:
    destination = _destination(destination_id)
    delivery = services.destination_test(destination=destination, by=request.user)
    if delivery.status == Delivery.Status.DELIVERED:
        messages.success(request, f"Test message delivered to {destination.name}.")
    else:
        messages.error(request, f"Test message not delivered: {delivery.last_error}")
    return redirect("notify_destination", destination_id=destination.pk)
