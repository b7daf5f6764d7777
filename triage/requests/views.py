"""Exclusion requests' pages: proposing one from an alert (analysts), the queue under
Allowlist → Requests, and a request's page with its impact preview, where an
allowlist admin approves or declines it and the requester may withdraw it.

Everyone who triages may read requests; the views check who may act first and
the services (triage.requests.services) check again. Every action is a plain
form POST answered with a redirect, so the pages work without JavaScript.
"""

from urllib.parse import urlencode

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from config.queries import invalid_query
from config.roles import ALLOWLIST_ADMIN, refuse, triage_required
from triage.allowlist import services as exclusions
from triage.models import Alert
from triage.queries import ExclusionPrefillQuery
from triage.requests import selectors, services
from triage.requests.forms import ApproveForm, DeclineForm, ExclusionRequestForm, RequestListQuery
from triage.requests.models import ExclusionRequest

CONFIRM_HINT = "Tick “Approve although it is broad” to approve it anyway."


def _get_request(request_id: int) -> ExclusionRequest:
    rows = ExclusionRequest.objects.select_related("alert", "requested_by", "decided_by")
    return get_object_or_404(rows, pk=request_id)


def _get_request_for_admin(request: HttpRequest, request_id: int) -> ExclusionRequest:
    """The request, if this user may decide requests; approving and declining start here."""
    if not exclusions.user_can_change_exclusions(request.user):
        refuse(request, ALLOWLIST_ADMIN)
    return _get_request(request_id)


def _own_pending(request: HttpRequest, alert: Alert) -> ExclusionRequest | None:
    return alert.exclusion_requests.filter(
        requested_by=request.user, state=ExclusionRequest.State.PENDING
    ).first()


def _initial(alert: Alert, *, principal: bool) -> dict:
    """The alert's network, and its principal if asked; the editor's default expiry."""
    initial = {
        "alert": alert.pk,
        "as_organization": alert.as_organization,
        "as_number": alert.as_number,
        "expires_on": (timezone.now() + exclusions.DEFAULT_EXPIRY).date(),
    }
    if principal:
        initial.update(account_id=alert.account_id, user_name=alert.user_name)
    return initial


def _proposal(
    request: HttpRequest, form: ExclusionRequestForm, alert: Alert, candidate=None
) -> HttpResponse:
    context = {"form": form, "alert": alert, **exclusions.impact_preview(candidate)}
    return render(request, "exclusion_requests/request_form.html", context)


@require_http_methods(["GET", "POST"])
@triage_required
def request_new(request: HttpRequest) -> HttpResponse:
    source = request.GET if request.method == "GET" else {"alert": request.POST.get("alert", "")}
    query = ExclusionPrefillQuery(source)
    if query.is_valid() and query.cleaned_data["alert"] is None:
        query.add_error("alert", "Propose an exclusion from an alert's page.")
    if not query.is_valid():
        return invalid_query(request, query)
    alert = get_object_or_404(Alert, pk=query.cleaned_data["alert"])
    if exclusions.user_can_change_exclusions(request.user):
        messages.info(request, "You may change the allowlist: add the exclusion directly.")
        prefill = {"alert": alert.pk}
        if query.cleaned_data["principal"]:
            prefill["principal"] = 1
        return redirect(f"{reverse('exclusion_new')}?{urlencode(prefill)}")
    waiting = _own_pending(request, alert)
    if waiting is not None:
        messages.info(request, f"Your request {waiting.pk} for this alert is waiting already.")
        return redirect("exclusion_request", request_id=waiting.pk)
    if request.method == "GET":
        initial = _initial(alert, principal=query.cleaned_data["principal"])
        return _proposal(request, ExclusionRequestForm(initial=initial), alert)
    form = ExclusionRequestForm(request.POST)
    if not form.is_valid():
        return _proposal(request, form, alert)
    fields = form.exclusion_fields()
    if request.POST.get("action") == "send":
        try:
            exclusion_request = services.exclusion_request_create(
                by=request.user, alert=alert, **fields
            )
        except ValidationError as error:
            field = "reason" if not fields["reason"].strip() else None
            form.add_error(field, error)
        else:
            messages.success(
                request,
                f"Request {exclusion_request.pk} sent: an allowlist admin reviews it, and "
                "this alert shows the outcome.",
            )
            return redirect("alert", alert_id=alert.pk)
    return _proposal(request, form, alert, candidate=ExclusionRequest(**fields).as_exclusion())


@require_GET
@triage_required
def request_list(request: HttpRequest) -> HttpResponse:
    query = RequestListQuery(request.GET)
    if not query.is_valid():
        return invalid_query(request, query)
    state = query.cleaned_data["state"] or "pending"
    rows = selectors.pending_requests() if state == "pending" else selectors.decided_requests()
    context = {
        "rows": rows,
        "state": state,
        "pending_count": selectors.pending_request_count(),
        "can_decide": exclusions.user_can_change_exclusions(request.user),
    }
    return render(request, "exclusion_requests/request_list.html", context)


def _detail(
    request: HttpRequest,
    exclusion_request: ExclusionRequest,
    *,
    decline_form: DeclineForm | None = None,
    approve_error: str = "",
    status: int = 200,
) -> HttpResponse:
    user = request.user
    can_decide = exclusions.user_can_change_exclusions(user)
    context = {
        "exclusion_request": exclusion_request,
        "conditions": exclusion_request.as_exclusion(),
        "is_requester": exclusion_request.requested_by_id == user.pk,
        "can_decide": can_decide and exclusion_request.requested_by_id != user.pk,
        "approve_form": ApproveForm(),
        "decline_form": decline_form or DeclineForm(),
        "approve_error": approve_error,
        # What approving would add, as the exclusion editor previews it; once decided, nothing.
        **exclusions.impact_preview(
            exclusion_request.as_exclusion() if exclusion_request.is_pending else None
        ),
    }
    return render(request, "exclusion_requests/request_detail.html", context, status=status)


@require_GET
@triage_required
def request_detail(request: HttpRequest, request_id: int) -> HttpResponse:
    return _detail(request, _get_request(request_id))


def _not_pending(request: HttpRequest, error: services.RequestNotPending) -> HttpResponse:
    messages.info(request, error.message)
    return redirect("exclusion_request", request_id=error.exclusion_request.pk)


@require_POST
@triage_required
def request_approve(request: HttpRequest, request_id: int) -> HttpResponse:
    exclusion_request = _get_request_for_admin(request, request_id)
    form = ApproveForm(request.POST)
    form.is_valid()  # two optional boxes: always valid
    try:
        _, exclusion, closed = services.exclusion_request_approve(
            exclusion_request=exclusion_request,
            by=request.user,
            confirm_broad=form.cleaned_data["confirm_broad"],
            close_matching=form.cleaned_data["close_matching"],
        )
    except services.RequestNotPending as error:
        return _not_pending(request, error)
    except ValidationError as error:
        text = " ".join(error.messages)
        if getattr(error, "code", None) == exclusions.UNCONFIRMED_BROAD:
            text = f"{text} {CONFIRM_HINT}"
        return _detail(request, exclusion_request, approve_error=text)
    text = (
        f"Request {exclusion_request.pk} approved: exclusion {exclusion.pk} added, requested by "
        f"{exclusion_request.requested_by.get_username()}."
    )
    if closed:
        text += f" Closed {len(closed)} alert{'s' if len(closed) != 1 else ''} as false positive."
    messages.success(request, text)
    return redirect("exclusion", exclusion_id=exclusion.pk)


@require_POST
@triage_required
def request_decline(request: HttpRequest, request_id: int) -> HttpResponse:
    exclusion_request = _get_request_for_admin(request, request_id)
    form = DeclineForm(request.POST)
    if not form.is_valid():
        return _detail(request, exclusion_request, decline_form=form)
    try:
        services.exclusion_request_decline(
            exclusion_request=exclusion_request, by=request.user, reason=form.cleaned_data["reason"]
        )
    except services.RequestNotPending as error:
        return _not_pending(request, error)
    except ValidationError as error:
        form.add_error(None, error)
        return _detail(request, exclusion_request, decline_form=form)
    messages.success(request, f"Request {exclusion_request.pk} declined; the alert shows why.")
    return redirect("exclusion_requests")


@require_POST
@triage_required
def request_withdraw(request: HttpRequest, request_id: int) -> HttpResponse:
    exclusion_request = _get_request(request_id)
    try:
        services.exclusion_request_withdraw(exclusion_request=exclusion_request, by=request.user)
    except services.RequestNotPending as error:
        return _not_pending(request, error)
    messages.success(request, f"Request {exclusion_request.pk} withdrawn.")
    return redirect("alert", alert_id=exclusion_request.alert_id)
