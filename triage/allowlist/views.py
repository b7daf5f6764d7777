"""The allowlist pages: every exclusion with its impact, the editor with its impact
preview, and adding an exclusion from an alert.

Analysts may look; only allowlist admins (and superusers) change anything, which
the views check first and the services (triage.allowlist.services) check again. Saving
takes two submits: the first shows what the exclusion would match, the second
saves exactly the conditions that were previewed. A preview needs only
conditions; saving needs a reason too, and for an exclusion hiding a large
share of the candidates, the confirmation box the preview then shows.
"""

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from config.queries import invalid_query
from config.roles import ALLOWLIST_ADMIN, refuse, triage_required
from triage.allowlist import selectors as allowlist_selectors
from triage.allowlist import services
from triage.forms import ExclusionForm, ExclusionFromAlertForm
from triage.models import Alert, Exclusion
from triage.queries import ExclusionPrefillQuery


def _require_admin(request: HttpRequest) -> None:
    if not services.user_can_change_exclusions(request.user):
        refuse(request, ALLOWLIST_ADMIN)


def _get_exclusion_for_admin(request: HttpRequest, exclusion_id: int) -> Exclusion:
    """The exclusion, if this user may change it; every changing view starts here."""
    _require_admin(request)
    return get_object_or_404(Exclusion, pk=exclusion_id)


@require_GET
@triage_required
def exclusion_list(request: HttpRequest) -> HttpResponse:
    context = {
        "rows": allowlist_selectors.exclusion_rows(),
        "can_change": services.user_can_change_exclusions(request.user),
    }
    return render(request, "triage/exclusion_list.html", context)


@require_GET
@triage_required
def exclusion_detail(request: HttpRequest, exclusion_id: int) -> HttpResponse:
    exclusion = get_object_or_404(Exclusion, pk=exclusion_id)
    context = {
        "exclusion": exclusion,
        "state": allowlist_selectors.exclusion_state(exclusion, now=timezone.now()),
        "history": allowlist_selectors.exclusion_history(exclusion=exclusion),
        "closed_alerts": exclusion.closed_alerts.select_related("alert").order_by("alert_id"),
        "can_change": services.user_can_change_exclusions(request.user),
    }
    return render(request, "triage/exclusion_detail.html", context)


def _prefill_query(request: HttpRequest) -> ExclusionPrefillQuery:
    # The alert an exclusion is added from: in the query on GET, a hidden field on POST.
    if request.method == "POST":
        return ExclusionPrefillQuery({"alert": request.POST.get("alert", "")})
    return ExclusionPrefillQuery(request.GET)


def _initial(query: dict, alert: Alert | None) -> dict:
    """Prefilled from an alert (its network, and its principal if asked), or from the
    review's "propose exclusion" links (?org=…&asn=…&account=…&user=…)."""
    initial = {
        "expires_on": timezone.localdate(timezone.now() + services.DEFAULT_EXPIRY),
        "as_organization": query["org"],
        "as_number": query["asn"],
        "account_id": query["account"],
        "user_name": query["user"],
    }
    if alert is not None:
        initial.update(alert=alert.pk, as_organization=alert.as_organization)
        initial.update(as_number=alert.as_number, close_alert=True)
        if query["principal"]:
            initial.update(account_id=alert.account_id, user_name=alert.user_name)
    return initial


def _editor(
    request: HttpRequest,
    form: ExclusionForm,
    *,
    candidate: Exclusion | None,
    exclusion: Exclusion | None = None,
    alert: Alert | None = None,
) -> HttpResponse:
    """The editor; with a candidate, its impact preview and (if it is acceptable) Save."""
    context = {
        "form": form,
        "exclusion": exclusion,
        "alert": alert,
        **services.impact_preview(candidate),
    }
    return render(request, "triage/exclusion_form.html", context)


def _previewed(form: ExclusionForm) -> ExclusionForm:
    """The same form, remembering that these conditions have now been previewed."""
    data = form.data.copy()
    if form.cleaned_data["previewed"] != form.conditions_key():
        data.pop("confirm_broad", None)  # a confirmation is of the conditions it was shown
    data["previewed"] = form.conditions_key()
    again = type(form)(data)
    again.is_valid()
    for error in form.non_field_errors():  # a refusal at save time stays on the page
        again.add_error(None, error)
    return again


CONFIRM_HINT = "Tick “Save although it is broad” to save it anyway."


def _refused(form: ExclusionForm, error: ValidationError) -> None:
    """A refusal at save time, on the form; one until confirmed says how to confirm here."""
    if getattr(error, "code", None) == services.UNCONFIRMED_BROAD:
        error = ValidationError(f"{error.message} {CONFIRM_HINT}")
    form.add_error(None, error)


def _wants_save(request: HttpRequest, form: ExclusionForm) -> bool:
    return (
        request.POST.get("action") == "save"
        and form.cleaned_data["previewed"] == form.conditions_key()
    )


@require_http_methods(["GET", "POST"])
@triage_required
def exclusion_new(request: HttpRequest) -> HttpResponse:
    _require_admin(request)
    query = _prefill_query(request)
    if not query.is_valid():
        return invalid_query(request, query)
    alert_id = query.cleaned_data["alert"]
    alert = get_object_or_404(Alert, pk=alert_id) if alert_id is not None else None
    form_class = ExclusionFromAlertForm if alert is not None else ExclusionForm
    if request.method == "GET":
        initial = _initial(query.cleaned_data, alert)
        return _editor(request, form_class(initial=initial), candidate=None, alert=alert)
    form = form_class(request.POST)
    if not form.is_valid():
        return _editor(request, form, candidate=None, alert=alert)
    fields = form.exclusion_fields()
    if _wants_save(request, form):
        try:
            if alert is not None:
                exclusion, closed = services.exclusion_create_from_alert(
                    by=request.user,
                    alert=alert,
                    close_alert=form.cleaned_data["close_alert"],
                    close_matching=form.cleaned_data["close_matching"],
                    confirm_broad=form.cleaned_data["confirm_broad"],
                    **fields,
                )
            else:
                exclusion = services.exclusion_create(
                    by=request.user, confirm_broad=form.cleaned_data["confirm_broad"], **fields
                )
                closed = []
        except ValidationError as error:
            _refused(form, error)
        else:
            text = f"Exclusion {exclusion.pk} added."
            if closed:
                plural = "s" if len(closed) != 1 else ""
                text += f" Closed {len(closed)} alert{plural} as false positive."
            messages.success(request, text)
            return redirect("exclusion", exclusion_id=exclusion.pk)
    return _editor(request, _previewed(form), candidate=Exclusion(**fields), alert=alert)


def _form_for(exclusion: Exclusion) -> ExclusionForm:
    expires = exclusion.expires_at
    return ExclusionForm(
        initial={
            "as_number": exclusion.as_number,
            "as_organization": exclusion.as_organization,
            "account_id": exclusion.account_id,
            "user_name": exclusion.user_name,
            "reason": exclusion.reason,
            "expires_on": timezone.localdate(expires) if expires else None,
            "never_expires": expires is None,
        }
    )


@require_http_methods(["GET", "POST"])
@triage_required
def exclusion_edit(request: HttpRequest, exclusion_id: int) -> HttpResponse:
    exclusion = _get_exclusion_for_admin(request, exclusion_id)
    if request.method == "GET":
        return _editor(request, _form_for(exclusion), candidate=None, exclusion=exclusion)
    form = ExclusionForm(request.POST)
    if not form.is_valid():
        return _editor(request, form, candidate=None, exclusion=exclusion)
    fields = form.exclusion_fields()
    current = exclusion.expires_at
    if current is not None and form.cleaned_data["expires_on"] == timezone.localdate(current):
        # The form shows dates: an unchanged date keeps the exact instant set at the shell.
        fields["expires_at"] = current
    if _wants_save(request, form):
        try:
            services.exclusion_update(
                exclusion=exclusion,
                by=request.user,
                confirm_broad=form.cleaned_data["confirm_broad"],
                **fields,
            )
        except ValidationError as error:
            _refused(form, error)
        else:
            messages.success(request, f"Exclusion {exclusion.pk} saved.")
            return redirect("exclusion", exclusion_id=exclusion.pk)
    candidate = Exclusion(pk=exclusion.pk, enabled=exclusion.enabled, **fields)
    return _editor(request, _previewed(form), candidate=candidate, exclusion=exclusion)


@require_POST
@triage_required
def exclusion_disable(request: HttpRequest, exclusion_id: int) -> HttpResponse:
    exclusion = _get_exclusion_for_admin(request, exclusion_id)
    services.exclusion_disable(exclusion=exclusion, by=request.user)
    messages.success(
        request, f"Exclusion {exclusion.pk} disabled: detection sees its events again."
    )
    return redirect("exclusion", exclusion_id=exclusion.pk)


@require_POST
@triage_required
def exclusion_enable(request: HttpRequest, exclusion_id: int) -> HttpResponse:
    exclusion = _get_exclusion_for_admin(request, exclusion_id)
    try:
        services.exclusion_enable(exclusion=exclusion, by=request.user)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        messages.success(request, f"Exclusion {exclusion.pk} enabled again.")
    return redirect("exclusion", exclusion_id=exclusion.pk)
