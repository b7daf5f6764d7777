"""The analyst's pages: the alert list, one alert with its investigation guide,
principals and networks, and the workflow actions.

Views stay thin: selectors read, triage.alerts writes. Every action is a POST;
an htmx request gets back the fragment it swaps, any other request a redirect,
so every page also works with JavaScript off.
"""

from collections.abc import Iterable
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect, QueryDict
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.cache import patch_vary_headers
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_POST

from config.queries import invalid_query
from config.roles import TRIAGE_ROLES, triage_required, user_has_role
from triage import alerts as services
from triage import assignment, grouping, rule, saved_view_views, saved_views, selectors
from triage.allowlist.services import user_can_change_exclusions
from triage.charts import network_timeline_svg
from triage.forms import (
    AlertFilterForm,
    AssignForm,
    BulkActionForm,
    ChecklistStepForm,
    CloseForm,
    CommentForm,
    NoteForm,
    NotificationPreferenceForm,
)
from triage.models import Alert, SavedView
from triage.notify import selectors as notify_selectors
from triage.preview import selectors as preview_selectors
from triage.queries import NetworkQuery, PrincipalQuery
from triage.remediation import remediation_commands

NEW_FOR = timedelta(hours=1)
# What the list's "new" badge means, said on the badge and under the list.
NEW_MEANING = "Open, and detected since your previous visit or within the last hour"
# A list view this long after the previous one starts a new visit (for "new" alerts).
VISIT_GAP = timedelta(minutes=30)
SESSION_WRITE_EVERY = timedelta(minutes=5)


def get_alert_for_user(request: HttpRequest, alert_id: int) -> Alert:
    """The alert, if this user may triage it; every alert view starts here."""
    if not user_has_role(request.user, *TRIAGE_ROLES):
        raise PermissionDenied("no role")
    try:
        return selectors.alert_for_page(alert_id=alert_id)
    except Alert.DoesNotExist:
        raise Http404("No such alert") from None


def forbidden(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return render(request, "triage/forbidden.html", status=403)


# ---------------------------------------------------------------- the list


def _new_since(request: HttpRequest, now: datetime) -> datetime:
    """Alerts created after this are new: the last hour, or since the previous visit."""
    session = request.session
    last_view = _parse(session.get("alerts_last_view"))
    visit_start = _parse(session.get("alerts_visit_new_since"))
    if last_view is None or now - last_view > VISIT_GAP:
        visit_start = last_view
        session["alerts_visit_new_since"] = last_view.isoformat() if last_view else None
    # Written at most every few minutes: a session write is a database commit.
    if last_view is None or now - last_view > SESSION_WRITE_EVERY:
        session["alerts_last_view"] = now.isoformat()
    return min(filter(None, [visit_start, now - NEW_FOR]))


def _parse(value: str | None) -> datetime | None:
    try:
        return datetime.fromisoformat(value) if value else None
    except ValueError:
        return None


def list_page(request: HttpRequest, query: QueryDict, path: str, **extra) -> HttpResponse:
    """The list as `query` filters it: the page, or to htmx the results it swaps.

    `path` is the list's own address with that query, for the bulk form to come
    back to; a bulk action renders the list itself when it refuses or asks first.
    """
    now = timezone.now()
    users = selectors.assignable_users()
    form = AlertFilterForm(query, users=users)
    filters = form.filters(user=request.user, now=now)
    # Grouped (?group=principal, network or account), the page shows groups instead of alerts.
    groups = grouping.alert_groups(filters=filters, by=form.group_by(), after=query.get("after"))
    page = (
        selectors.alert_list(filters=filters, after=query.get("after"))
        if groups is None
        else selectors.AlertPage(alerts=[], next_cursor=None)
    )
    counts = selectors.alert_status_counts(filters=filters)
    new_since = _new_since(request, now)
    for alert in page.alerts:
        alert.is_new = alert.status == Alert.Status.OPEN and alert.created_at > new_since
    context = {
        "saved_views": list(SavedView.objects.filter(user=request.user)),
        "current_view": query.get("view", ""),
        "view_query": saved_views.view_query(query.urlencode()),
        "newest_id": selectors.newest_alert_id(),
        "poll_seconds": settings.ALERT_LIST_POLL_SECONDS,
        "open_count": selectors.open_alert_count(),
        "form": form,
        "chosen": form.chosen(),
        "query": query,
        "list_path": path,
        "filters": filters,
        "page": page,
        "groups": groups,
        "any_new": any(alert.is_new for alert in page.alerts),
        "new_since": new_since,
        "new_meaning": NEW_MEANING,
        "tabs": [(value, label, counts[value]) for value, label in Alert.Status.choices],
        "total": selectors.status_total(counts),
        "close_reasons": Alert.CloseReason.choices,
        "users": users,
        "first_page": not query.get("after"),
        "selected": set(),
        "bulk": {"assignee": str(request.user.pk)},
        **extra,
    }
    if request.htmx and request.htmx.target == "alert-results":
        response = render(request, "triage/alert_results.html", context)
    else:
        context["banners"] = selectors.status_banners(now=now)
        context["rule_name"] = rule.NAME
        response = render(request, "triage/alert_list.html", context)
    # The same URL answers a fragment to htmx and a page otherwise: caches must tell them apart.
    patch_vary_headers(response, ("HX-Request",))
    return response


@require_GET
@triage_required
def alert_list(request: HttpRequest) -> HttpResponse:
    # The bare list is the user's default view, if they made one.
    if not request.GET and (view := saved_views.default_view(request.user)) is not None:
        return redirect(saved_view_views.list_url(view))
    return list_page(request, request.GET, request.get_full_path())


@require_GET
@triage_required
def alerts_new(request: HttpRequest) -> HttpResponse:
    """Polled by the list: how many alerts its filters would show arrived since it was
    drawn (newer than ?newer_than=), and the open count for the tab's title."""
    try:
        newest = int(request.GET.get("newer_than", ""))
    except ValueError:
        return HttpResponse("newer_than: an alert id", status=400, content_type="text/plain")
    query = request.GET.copy()
    for name in ("newer_than", "after"):
        query.pop(name, None)
    users = selectors.assignable_users()
    filters = AlertFilterForm(query, users=users).filters(user=request.user, now=timezone.now())
    context = {
        "newer": selectors.alerts_newer_than(filters=filters, alert_id=newest),
        "open_count": selectors.open_alert_count(),
        "list_url": f"{reverse('alerts')}?{query.urlencode()}",
    }
    return render(request, "triage/alerts_new.html", context)


def back_to_list(request: HttpRequest) -> HttpResponse:
    target = request.POST.get("next", "")
    # A path on this site only: redirect() would look up any other word as a view's name.
    if target.startswith("/") and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return HttpResponseRedirect(target)
    return redirect("alerts")


def list_query(request: HttpRequest) -> tuple[QueryDict, str]:
    """The filters of the list the bulk form was sent from, and its address."""
    target = urlsplit(request.POST.get("next", ""))
    if target.path == reverse("alerts") and not (target.scheme or target.netloc):
        return QueryDict(target.query), target.geturl()
    return QueryDict(), reverse("alerts")


# Closing more alerts than this at once asks first.
CLOSE_WITHOUT_ASKING = 1
BULK_DONE = {"acknowledge": "acknowledged", "close": "closed", "reopen": "reopened"}
BULK_TO = {
    "acknowledge": Alert.Status.ACKNOWLEDGED,
    "close": Alert.Status.CLOSED,
    "reopen": Alert.Status.OPEN,
}


def bulk_outcome(data: dict, outcome: services.BulkOutcome, *, missing: int) -> str:
    """What happened to each selected alert: "2 acknowledged; 1 skipped: closed alerts
    cannot be acknowledged."
    """
    action = data["action"]
    who = data["assignee_user"].get_username() if data["assignee_user"] else None
    if action == "assign":
        done = f"assigned to {who or 'nobody'}"
    elif action == "close":
        done = f"closed as {Alert.CloseReason(data['reason']).label.lower()}"
    else:
        done = BULK_DONE[action]
    why: dict[str, int] = {}
    for alert in outcome.skipped:
        if action == "assign":
            reason = f"already assigned to {who}" if who else "already unassigned"
        elif alert.status == BULK_TO[action]:
            reason = f"already {alert.status}"
        else:
            reason = f"{alert.status} alerts cannot be {BULK_DONE[action]}"
        why[reason] = why.get(reason, 0) + 1
    if missing:
        why["not found"] = missing
    parts = [f"{outcome.changed} {done}", *(f"{n} skipped: {reason}" for reason, n in why.items())]
    return "; ".join(parts) + "."


def bulk_change(
    request: HttpRequest, data: dict, ids: Iterable[int]
) -> tuple[services.BulkOutcome, str]:
    """Apply a bulk form's action to those of the alerts that still exist, as this user:
    the outcome, and what happened to each in words."""
    ids = list(ids)
    chosen = list(Alert.objects.filter(pk__in=ids).order_by("pk"))
    outcome = services.alerts_bulk_change(
        alerts=chosen,
        by=request.user,
        action=data["action"],
        assignee=data["assignee_user"],
        reason=data.get("reason") or "",
        comment=data.get("comment") or "",
    )
    return outcome, bulk_outcome(data, outcome, missing=len(ids) - len(chosen))


@require_POST
@triage_required
def alert_bulk(request: HttpRequest) -> HttpResponse:
    """Apply one action to the ticked alerts.

    A refusal, or closing many before the confirmation, shows the list again with
    the same filters, the same alerts ticked and what was typed; an outcome goes
    to the list as a message (JavaScript off) or inside the swapped results (htmx).
    """
    query, path = list_query(request)
    form = BulkActionForm(request.POST, users=selectors.assignable_users())
    ticked = {int(pk) for pk in request.POST.getlist("alerts") if pk.isascii() and pk.isdigit()}
    again = {"selected": ticked, "bulk": request.POST}
    if not form.is_valid():
        errors = [error for errors in form.errors.values() for error in errors]
        return list_page(request, query, path, bulk_error=" ".join(errors), **again)
    data = form.cleaned_data
    if data["action"] == "close" and len(data["alerts"]) > CLOSE_WITHOUT_ASKING:
        # The page asking first sends back what it asked about: these alerts, this reason.
        token = services.bulk_confirmation_token(data["alerts"], f"close::{data['reason']}")
        if request.POST.get("confirm") != token:
            reason = Alert.CloseReason(data["reason"]).label.lower()
            confirm = {"token": token, "count": len(data["alerts"]), "reason": reason}
            return list_page(request, query, path, bulk_confirm=confirm, **again)
    outcome, text = bulk_change(request, data, data["alerts"])
    if request.htmx:
        return list_page(request, query, path, bulk_notice=text)
    (messages.warning if outcome.skipped else messages.success)(request, text)
    return back_to_list(request)


# ---------------------------------------------------------------- one alert


def workflow_context(alert: Alert, **extra) -> dict:
    """The workflow panel: state, actions, history (the page and its htmx fragment)."""
    return {
        "alert": alert,
        "users": selectors.assignable_users(),
        "close_form": extra.pop("close_form", None) or CloseForm(),
        "history": selectors.alert_history(alert=alert),
        # Only the changes the service allows from this status (triage.alerts.TRANSITIONS).
        "can_acknowledge": Alert.Status.ACKNOWLEDGED in services.TRANSITIONS[alert.status],
        "can_close": Alert.Status.CLOSED in services.TRANSITIONS[alert.status],
        "can_reopen": Alert.Status.OPEN in services.TRANSITIONS[alert.status],
        **extra,
    }


@require_GET
@triage_required
def alert_detail(request: HttpRequest, alert_id: int) -> HttpResponse:
    alert = get_alert_for_user(request, alert_id)
    event = alert.event
    now = timezone.now()
    timeline = preview_selectors.network_timeline(alert=alert, now=now)
    since = timeline.since
    function = selectors.event_function_name(event)
    checklist = selectors.alert_checklist(alert=alert)
    context = workflow_context(
        alert,
        rule=rule,
        event=event,
        highlighted=selectors.highlighted_fields(event=event),
        networks=timeline.networks,
        chart=timeline.chart,
        function=function,
        function_name=selectors.function_display_name(function),
        invocations=selectors.function_invocations(
            account_id=alert.account_id,
            user_name=alert.user_name,
            function_name=function,
            before=alert.original_time,
            since=since,
            alert_organization=alert.as_organization,
        ),
        credential=selectors.credential_networks(
            access_key_id=event.access_key_id,
            alert_organization=alert.as_organization,
        ),
        activity=selectors.correlated_activity(
            account_id=alert.account_id,
            user_name=alert.user_name,
            organization=alert.as_organization,
        ),
        steps=[(step, checklist.get(step.key)) for step in rule.TRIAGE_STEPS],
        steps_done=sum(1 for item in checklist.values() if item.done),
        commands=remediation_commands(event=event, function=function, now=now),
        raw=selectors.raw_record(event=event),
        can_change_exclusions=user_can_change_exclusions(request.user),
        notifications=notify_selectors.alert_deliveries(alert.pk),
    )
    return render(request, "triage/alert_detail.html", context)


def _after_change(request: HttpRequest, alert: Alert, text: str, **extra) -> HttpResponse:
    """htmx: the workflow panel (and the history, out of band); otherwise back to the page."""
    if request.htmx:
        alert = selectors.alert_for_page(alert_id=alert.pk)
        context = workflow_context(alert, notice=text, **extra)
        return render(request, "triage/alert_workflow.html", context)
    if extra.get("error"):
        messages.error(request, extra["error"])
    else:
        messages.success(request, text)
    return redirect("alert", alert_id=alert.pk)


def _error(
    request: HttpRequest, alert: Alert, error: ValidationError | str, **forms
) -> HttpResponse:
    text = error if isinstance(error, str) else " ".join(error.messages)
    return _after_change(request, alert, "", error=text, **forms)


@require_POST
@triage_required
def alert_acknowledge(request: HttpRequest, alert_id: int) -> HttpResponse:
    alert = get_alert_for_user(request, alert_id)
    try:
        services.alert_acknowledge(alert=alert, by=request.user)
    except ValidationError as error:
        return _error(request, alert, error)
    return _after_change(request, alert, "Alert acknowledged.")


@require_POST
@triage_required
def alert_assign(request: HttpRequest, alert_id: int) -> HttpResponse:
    alert = get_alert_for_user(request, alert_id)
    data = request.POST.copy()
    if data.get("assignee") == "me":
        data["assignee"] = str(request.user.pk)
    form = AssignForm(data, users=selectors.assignable_users())
    if not form.is_valid():
        return _error(request, alert, "Choose someone who can triage alerts.")
    assignee = form.chosen_user()
    services.alert_assign(alert=alert, assignee=assignee, by=request.user)
    who = assignee.get_username() if assignee else "nobody"
    return _after_change(request, alert, f"Assigned to {who}.")


@require_POST
@triage_required
def alert_close(request: HttpRequest, alert_id: int) -> HttpResponse:
    alert = get_alert_for_user(request, alert_id)
    form = CloseForm(request.POST)
    if not form.is_valid():
        return _error(request, alert, "Choose a reason to close the alert.", close_form=form)
    try:
        services.alert_close(
            alert=alert,
            by=request.user,
            reason=form.cleaned_data["reason"],
            comment=form.cleaned_data["comment"],
        )
    except ValidationError as error:
        return _error(request, alert, error)
    return _after_change(request, alert, "Alert closed.")


@require_POST
@triage_required
def alert_reopen(request: HttpRequest, alert_id: int) -> HttpResponse:
    alert = get_alert_for_user(request, alert_id)
    form = CommentForm(request.POST)
    comment = form.cleaned_data["comment"] if form.is_valid() else ""
    # An acknowledged alert goes back to the queue; only a closed one is reopened.
    text = "Alert back to open." if alert.status == Alert.Status.ACKNOWLEDGED else "Alert reopened."
    try:
        services.alert_reopen(alert=alert, by=request.user, comment=comment)
    except ValidationError as error:
        return _error(request, alert, error)
    return _after_change(request, alert, text)


@require_POST
@triage_required
def alert_note(request: HttpRequest, alert_id: int) -> HttpResponse:
    alert = get_alert_for_user(request, alert_id)
    form = NoteForm(request.POST)
    if not form.is_valid():
        return _error(request, alert, "A note needs text.")
    services.alert_add_note(alert=alert, by=request.user, text=form.cleaned_data["text"])
    return _after_change(request, alert, "Note added.")


@require_POST
@triage_required
def alert_checklist_step(request: HttpRequest, alert_id: int, step: str) -> HttpResponse:
    alert = get_alert_for_user(request, alert_id)
    guide = {item.key: item for item in rule.TRIAGE_STEPS}
    if step not in guide:
        raise Http404("No such step")
    form = ChecklistStepForm(request.POST)  # both fields are optional: no box is an untick
    error = ""
    if form.is_valid():
        services.alert_checklist_update(
            alert=alert,
            step=step,
            done=form.cleaned_data["done"],
            note=form.cleaned_data["note"],
            by=request.user,
        )
    else:
        # A note that cannot be stored leaves the step as it was, rather than erasing its note.
        error = "Not saved: " + " ".join(e for errors in form.errors.values() for e in errors)
    if request.htmx:
        checklist = selectors.alert_checklist(alert=alert)
        return render(
            request,
            "triage/step_check.html",
            {
                "alert": alert,
                "step": guide[step],
                "item": checklist.get(step),
                "steps_done": sum(1 for entry in checklist.values() if entry.done),
                "steps_total": len(guide),
                "oob_progress": True,
                "saved": not error,
                "error": error,
            },
        )
    if error:
        messages.error(request, f"Step “{guide[step].title}”: {error}")
    else:
        messages.success(request, f"Step “{guide[step].title}” saved.")
    return redirect(reverse("alert", args=[alert.pk]) + f"#step-{step}")


# ---------------------------------------------------------------- principals and networks


def _window_end(networks: list[selectors.NetworkUse]) -> datetime:
    return max((n.last_seen for n in networks), default=timezone.now())


@require_GET
@triage_required
def principal(request: HttpRequest) -> HttpResponse:
    query = PrincipalQuery(request.GET)
    if not query.is_valid():
        return invalid_query(request, query)
    account_id = query.cleaned_data["account"]
    user_name = query.cleaned_data["user"]
    if not account_id or not user_name:
        raise Http404("Name a principal: ?account=…&user=…")
    networks = selectors.principal_network_history(account_id=account_id, user_name=user_name)
    end = _window_end(networks)
    start = end - timedelta(days=selectors.NETWORK_HISTORY_DAYS - 1)
    context = {
        "account_id": account_id,
        "user_name": user_name,
        "identity": selectors.principal_identity(account_id=account_id, user_name=user_name),
        "networks": networks,
        "chart": network_timeline_svg(
            networks=[n for n in networks if n.last_seen >= start],
            start=start.date(),
            end=end.date(),
            title=f"Networks used by {user_name} per day",
        ),
        "alerts": selectors.principal_alerts(account_id=account_id, user_name=user_name),
        "events": selectors.principal_recent_events(account_id=account_id, user_name=user_name),
    }
    return render(request, "triage/principal.html", context)


@require_GET
@triage_required
def network(request: HttpRequest) -> HttpResponse:
    query = NetworkQuery(request.GET)
    if not query.is_valid():
        return invalid_query(request, query)
    # ?org= (empty) names the network of events without an organisation.
    organization = query.cleaned_data["org"] if "org" in request.GET else None
    as_number = query.cleaned_data["asn"]
    if organization is None and as_number is None:
        raise Http404("Name a network: ?org=… or ?asn=…")
    principals = selectors.network_principals(organization=organization, as_number=as_number)
    context = {
        "organization": organization,
        "as_number": as_number,
        "as_numbers": sorted({p.as_number for p in principals}),
        "principals": principals,
        "alerts": selectors.network_alerts(organization=organization, as_number=as_number),
        "events": selectors.network_recent_events(
            organization=organization, as_number=as_number, principals=principals
        ),
        "is_aws": (organization or "").startswith(selectors.AWS_ORGANIZATION_PREFIXES),
    }
    return render(request, "triage/network.html", context)


@login_required
def notification_settings(request: HttpRequest) -> HttpResponse:
    """The signed-in user's own e-mail notifications: one switch, for assignments."""
    if request.method == "POST":
        form = NotificationPreferenceForm(request.POST)
        if form.is_valid():
            wanted = form.cleaned_data["assignment_emails"]
            assignment.preference_set(user=request.user, assignment_emails=wanted)
            messages.success(
                request,
                "Assignment e-mails are on." if wanted else "Assignment e-mails are off.",
            )
            return redirect("notification_settings")
    else:
        wanted = assignment.wants_assignment_emails(request.user)
        form = NotificationPreferenceForm(initial={"assignment_emails": wanted})
    return render(
        request,
        "triage/notification_settings.html",
        {"form": form, "address": request.user.email},
    )
