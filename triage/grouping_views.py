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

# Sent back with a confirmation: the same group, filters and choices.
CONFIRMED_FIELDS = ("by", "account", "principal", "org", "asn", "upto", "shown", "assignee",
                    "reason", "comment")  # fmt: skip


def _choice(data: dict) -> str:
    """What the user chose to do, for the confirmation token: the action and its arguments."""
    assignee = data["assignee_user"].pk if data["assignee_user"] else ""
    return f"{data['action']}:{assignee}:{data.get('reason') or ''}"


def _confirmation(request: HttpRequest, data: dict, *, label: str, count: int, why: str) -> dict:
    """The question the list asks before the action, and its button."""
    alerts = f"{count} alert{'s' if count != 1 else ''}"
    action = data["action"]
    if action == "close":
        reason = Alert.CloseReason(data["reason"]).label.lower()
        question = f"Close {alerts} of {label} as {reason}?"
    elif action == "assign":
        who = data["assignee_user"].get_username() if data["assignee_user"] else "nobody"
        question = f"Assign {alerts} of {label} to {who}?"
    else:
        question = f"Acknowledge {alerts} of {label}?"
    return {
        "action": action,
        "question": question,
        "button": f"{action.capitalize()} {alerts}",
        "why": why,
        "comment": (data.get("comment") or "") if action == "close" else "",
        "fields": [(name, request.POST.get(name, "")) for name in CONFIRMED_FIELDS],
    }


@require_POST
@triage_required
def alert_group_action(request: HttpRequest) -> HttpResponse:
    query, path = views.list_query(request)
    users = selectors.assignable_users()
    form = GroupActionForm(request.POST, users=users)
    if not form.is_valid():
        errors = " ".join(error for errors in form.errors.values() for error in errors)
        return views.list_page(request, query, path, group_error=errors)
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
        return views.list_page(request, query, path, group_error=error)
    if not ids:
        error = f"{label}: no alert of this group matches the filters any more."
        return views.list_page(request, query, path, group_error=error)
    # Asks first before closing many, and before any action on other alerts than the
    # page counted (one reopened since): the confirmation names exactly these alerts.
    changed = len(ids) != data["shown"]
    closing_many = data["action"] == "close" and len(ids) > views.CLOSE_WITHOUT_ASKING
    if changed or closing_many:
        token = services.bulk_confirmation_token(ids, _choice(data))
        if request.POST.get("confirm") != token:
            if changed:
                why = (
                    f"The page counted {data['shown']:,} in this group; "
                    f"{len(ids):,} match the filters now."
                )
            elif request.POST.get("confirm"):  # asked before, about other alerts
                why = "The group's alerts changed since you were asked."
            else:
                why = ""
            confirm = _confirmation(request, data, label=label, count=len(ids), why=why)
            return views.list_page(request, query, path, group_confirm={**confirm, "token": token})
    outcome, done = views.bulk_change(request, data, ids)
    text = f"{label}: {done}"
    if request.htmx:
        return views.list_page(request, query, path, group_notice=text)
    (messages.warning if outcome.skipped else messages.success)(request, text)
    return views.back_to_list(request)
