"""The alert list's saved views: save the current filters, make one the default, delete."""

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.urls import reverse
from django.views.decorators.http import require_POST

from config.roles import triage_required
from triage.models import SavedView
from triage.saved_views import saved_view_delete, saved_view_make_default, saved_view_save


def list_url(view: SavedView | None = None, query: str = "") -> str:
    if view is not None:
        return f"{reverse('alerts')}?view={view.pk}&{view.query}"
    return f"{reverse('alerts')}?{query}"


@require_POST
@triage_required
def saved_view_create(request: HttpRequest) -> HttpResponse:
    query = request.POST.get("query", "")
    try:
        view = saved_view_save(user=request.user, name=request.POST.get("name", ""), query=query)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
        return redirect(list_url(query=query))
    messages.success(request, f"Saved the view {view.name}.")
    return redirect(list_url(view))


@require_POST
@triage_required
def saved_view_default(request: HttpRequest, view_id: int) -> HttpResponse:
    view = get_object_or_404(SavedView, pk=view_id, user=request.user)
    saved_view_make_default(user=request.user, view=view)
    messages.success(request, f"{view.name} is now the list you land on.")
    return redirect(list_url(view))


@require_POST
@triage_required
def saved_view_no_default(request: HttpRequest) -> HttpResponse:
    saved_view_make_default(user=request.user, view=None)
    messages.success(request, "You land on the open alerts again.")
    return redirect(f"{reverse('alerts')}?status=open")


@require_POST
@triage_required
def saved_view_remove(request: HttpRequest, view_id: int) -> HttpResponse:
    view = get_object_or_404(SavedView, pk=view_id, user=request.user)
    saved_view_delete(user=request.user, view=view)
    messages.success(request, f"Deleted the view {view.name}.")
    return redirect(f"{reverse('alerts')}?status=open")
