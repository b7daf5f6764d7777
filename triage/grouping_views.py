"""A group's "Take action" on the grouped alert list: acknowledge, assign or close every
alert of one group under the list's filters (triage.grouping says which ones).

Like the list's own bulk form, a refusal or the confirmation before closing
many shows the list again with its filters; the outcome goes to the list as a
message (JavaScript off) or inside the swapped results (htmx).
"""

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.views.decorators.http import require_POST

from config.roles import triage_required
from triage import alerts as services
from triage import grouping, selectors, views
from triage.forms import AlertFilterForm, GroupActionForm
from triage.models import Alert

CONFIRMED_FIELDS = ("by", "account", "principal", "org", "asn", "upto", "reason", "comment")


@require_POST
@triage_required
def alert_group_action(request: HttpRequest) -> HttpResponse:
    query, path = views._list_query(request)
    users = selectors.assignable_users()
    form = GroupActionForm(request.POST, users=users)
    if not form.is_valid():
        errors = " ".join(error for errors in form.errors.values() for error in errors)
        return views._list_page(request, query, path, group_error=errors)
    data = form.cleaned_data
    key = form.group_key()
    label = grouping.group_label(data["by"], key)
    filters = AlertFilterForm(query, users=users).filters(user=request.user, now=timezone.now())
    ids = grouping.group_action_ids(filters=filters, key=key, upto=data["upto"])
    if len(ids) > grouping.GROUP_ACTION_LIMIT:
        error = (
            f"{label}: a group action changes at most {grouping.GROUP_ACTION_LIMIT:,} alerts; "
            "narrow the filters (a time range, a severity) and act on each part."
        )
        return views._list_page(request, query, path, group_error=error)
    if not ids:
        error = f"{label}: no alert of this group matches the filters any more."
        return views._list_page(request, query, path, group_error=error)
    if data["action"] == "close" and len(ids) > views.CLOSE_WITHOUT_ASKING:
        token = grouping.confirmation_token(ids, data["reason"])
        if request.POST.get("confirm") != token:
            confirm = {
                "token": token,
                "count": len(ids),
                "label": label,
                "reason": Alert.CloseReason(data["reason"]).label.lower(),
                # A confirmation was sent, for other alerts than these: say the group changed.
                "changed": bool(request.POST.get("confirm")),
                "comment": data.get("comment") or "",
                # Sent back with the confirmation: the same group, filters and choices.
                "fields": [(name, request.POST.get(name, "")) for name in CONFIRMED_FIELDS],
            }
            return views._list_page(request, query, path, group_confirm=confirm)
    chosen = list(Alert.objects.filter(pk__in=ids).order_by("pk"))
    outcome = services.alerts_bulk_change(
        alerts=chosen,
        by=request.user,
        action=data["action"],
        assignee=data["assignee_user"],
        reason=data.get("reason") or "",
        comment=data.get("comment") or "",
    )
    text = f"{label}: {views._bulk_outcome(data, outcome, missing=len(ids) - len(chosen))}"
    if request.htmx:
        return views._list_page(request, query, path, group_notice=text)
    (messages.warning if outcome.skipped else messages.success)(request, text)
    return views._back_to_list(request)
