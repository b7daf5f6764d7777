"""API operations: alerts — the list, one alert with its evidence, and the workflow.

They call the services and selectors the alert pages call, with the pages'
forms checking what is sent, so a change made here is refused, recorded and
attributed (to the token's user) exactly as in the browser. An alert is the
document `manage.py export_alerts` writes (ECS fields and kibana.alert.*).
"""

from datetime import datetime
from typing import Annotated, Any, Literal

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.forms import Form
from django.http import Http404, HttpRequest
from ninja import Field, Path, Query, Router, Schema, Status
from pydantic import model_validator

from config.queries import BIGINT_MAX
from ingest.ecs import ecs_document
from triage import alerts as services
from triage import rule, selectors
from triage.api.auth import require_role
from triage.api.fields import Instant, RowId, Text
from triage.api.problems import Problem
from triage.documents import alert_document
from triage.forms import ChecklistStepForm, CloseForm, CommentForm, NoteForm
from triage.models import Alert

router = Router(tags=["alerts"])
ONE = {404: Problem}
# A bulk change touches at most this many alerts per request.
BULK_LIMIT = 10_000
AlertId = Annotated[int, Path(ge=1, le=BIGINT_MAX)]


def _refuse(form: Form) -> None:
    """A page form's refusals, field by field, as the 422 they become."""
    if not form.is_valid():
        raise ValidationError(form.errors.as_data())


# ---------------------------------------------------------------- the list


class AlertFilter(Schema):
    """The alert list's filters; each one left out does not narrow."""

    status: Alert.Status | None = Field(None, description="any status when left out")
    severity: Text = Field("", max_length=16)
    since: Instant | None = Field(None, description="event time at or after (no offset: UTC)")
    until: Instant | None = Field(None, description="event time before")
    account_id: Text = Field("", max_length=64)
    user_name: Text = Field("", max_length=256)
    organization: Text = Field("", max_length=256, description="source.as.organization.name")
    assignee: Text | None = Field(None, max_length=150, description='a username, or "me"')
    unassigned: bool = False
    text: Text = Field("", max_length=200, description="in the reason or the account id")
    sort: Literal[tuple(selectors.SORTS)] = selectors.DEFAULT_SORT  # type: ignore[valid-type]
    rule_id: Text | None = Field(None, max_length=64, description=f"only {rule.RULE_ID} exists")


class ListQuery(AlertFilter):
    after: Text | None = Field(None, max_length=200, description="the next cursor of a page")


def _filters(query: AlertFilter, user: Any) -> selectors.AlertFilters | None:
    """The selectors' filters; None when they can match nothing (another rule, no such user)."""
    if query.rule_id is not None and query.rule_id != rule.RULE_ID:
        return None
    assignee_id = None
    if query.assignee == "me":
        assignee_id = user.pk
    elif query.assignee:
        users = get_user_model().objects.filter(username=query.assignee)
        assignee_id = users.values_list("pk", flat=True).first()
        if assignee_id is None:
            return None
    return selectors.AlertFilters(
        status=query.status or "",
        severity=query.severity.strip(),
        since=query.since,
        until=query.until,
        account_id=query.account_id.strip(),
        user_name=query.user_name.strip(),
        organization=query.organization.strip(),
        assignee_id=assignee_id,
        unassigned=query.unassigned,
        text=query.text.strip(),
        sort=query.sort,
    )


class AlertOut(Schema):
    id: int
    document: dict[str, Any] = Field(description="as manage.py export_alerts writes it")


class AlertPage(Schema):
    alerts: list[AlertOut]
    next: str | None = Field(None, description="pass as `after` for the next page")


def _alert_out(alert: Alert) -> AlertOut:
    return AlertOut(id=alert.pk, document=alert_document(alert))


@router.get("", response={200: AlertPage}, summary="Alerts, a page at a time")
def alerts_list(request: HttpRequest, query: Query[ListQuery]) -> AlertPage:
    """The alert list: its filters, sorts and keyset pages of 50."""
    require_role(request)
    filters = _filters(query, request.user)
    if filters is None:
        return AlertPage(alerts=[])
    page = selectors.alert_list(filters=filters, after=query.after)
    # The list's rows carry only the list's columns; the documents need the events.
    full = Alert.objects.select_related("event").in_bulk([alert.pk for alert in page.alerts])
    return AlertPage(
        alerts=[_alert_out(full[alert.pk]) for alert in page.alerts if alert.pk in full],
        next=page.next_cursor,
    )


# ---------------------------------------------------------------- one alert


class Episode(Schema):
    count: int = Field(description="events in the episode")
    events: list[dict[str, Any]] = Field(
        description=f"the first {selectors.EPISODE_EVENTS} in event time, as ECS documents"
    )


class Step(Schema):
    key: str
    title: str
    done: bool
    note: str
    updated_by: str | None
    updated_at: datetime | None


class Note(Schema):
    id: int
    author: str | None
    created_at: datetime
    text: str


class HistoryEntry(Schema):
    at: datetime
    by: str | None = Field(description="null for the system")
    kind: Literal["status", "assignment", "tags", "note"]
    from_value: str
    to_value: str
    reason: str
    text: str
    tags_added: list[str]
    tags_removed: list[str]


class AlertDetail(AlertOut):
    event: dict[str, Any] = Field(description="the triggering event, as export_events writes it")
    episode: Episode
    checklist: list[Step] = Field(description="the investigation guide's steps, in its order")
    notes: list[Note]
    history: list[HistoryEntry] = Field(description="oldest first")


def _name(user: Any) -> str | None:
    return user.get_username() if user is not None else None


def _step(key: str, item: Any) -> Step:
    return Step(
        key=key,
        title=next(step.title for step in rule.TRIAGE_STEPS if step.key == key),
        done=bool(item and item.done),
        note=item.note if item else "",
        updated_by=_name(item.updated_by) if item else None,
        updated_at=item.updated_at if item else None,
    )


def _note(note: Any) -> Note:
    return Note(id=note.pk, author=_name(note.author), created_at=note.created_at, text=note.text)


@router.get("/{int:id}", response={200: AlertDetail, **ONE}, summary="One alert and its evidence")
def alert_detail(request: HttpRequest, id: AlertId) -> AlertDetail:
    """The alert, its triggering event and episode, checklist, notes and history."""
    require_role(request)
    alert = selectors.alert_for_page(alert_id=id)
    checklist = selectors.alert_checklist(alert=alert)
    history = selectors.alert_history(alert=alert)
    return AlertDetail(
        id=alert.pk,
        document=alert_document(alert),
        event=ecs_document(alert.event),
        episode=Episode(
            count=alert.event_count,
            events=[ecs_document(event) for event in selectors.alert_episode(alert=alert)],
        ),
        checklist=[_step(step.key, checklist.get(step.key)) for step in rule.TRIAGE_STEPS],
        notes=[_note(note) for note in alert.notes.select_related("author")],
        history=[HistoryEntry(**{**entry.__dict__, "by": _name(entry.by)}) for entry in history],
    )


# ---------------------------------------------------------------- the workflow


class StatusChange(Schema):
    status: Alert.Status
    reason: Alert.CloseReason | None = Field(None, description="needed to close")
    comment: str = Field("", description="on closing or reopening")


def _status_change(body: StatusChange) -> dict[str, Any]:
    """The bulk service's action and arguments, checked by the page's forms."""
    if body.status == Alert.Status.CLOSED:
        form = CloseForm({"reason": body.reason or "", "comment": body.comment})
        _refuse(form)
        return {"action": "close", **form.cleaned_data}
    if body.status == Alert.Status.OPEN:
        form = CommentForm({"comment": body.comment})
        _refuse(form)
        return {"action": "reopen", **form.cleaned_data}
    return {"action": "acknowledge"}


@router.post(
    "/{int:id}/status",
    response={200: AlertOut, 409: Problem, **ONE},
    summary="Acknowledge, close or reopen an alert",
)
def alert_status(request: HttpRequest, id: AlertId, body: StatusChange) -> AlertOut:
    """409 when the alert's status does not allow the change (acknowledging a closed alert)."""
    require_role(request)
    alert = selectors.alert_for_page(alert_id=id)
    change = _status_change(body)
    action = change.pop("action")
    if action == "close":
        services.alert_close(alert=alert, by=request.user, **change)
    elif action == "reopen":
        services.alert_reopen(alert=alert, by=request.user, **change)
    else:
        services.alert_acknowledge(alert=alert, by=request.user)
    return _alert_out(selectors.alert_for_page(alert_id=id))


class Assignment(Schema):
    assignee: str | None = Field(description="a username of someone who triages; null: nobody")


@router.post("/{int:id}/assign", response={200: AlertOut, **ONE}, summary="Assign an alert")
def alert_assign(request: HttpRequest, id: AlertId, body: Assignment) -> AlertOut:
    """Assign the alert to an analyst, an allowlist admin or a superuser (or to nobody)."""
    require_role(request)
    alert = selectors.alert_for_page(alert_id=id)
    assignee = None
    if body.assignee is not None:
        users = {user.get_username(): user for user in selectors.assignable_users()}
        assignee = users.get(body.assignee)
        if assignee is None:
            raise ValidationError({"assignee": "Choose someone who can triage alerts."})
    services.alert_assign(alert=alert, assignee=assignee, by=request.user)
    return _alert_out(selectors.alert_for_page(alert_id=id))


class NoteIn(Schema):
    text: str


@router.post("/{int:id}/notes", response={201: Note, **ONE}, summary="Add a note to an alert")
def alert_note(request: HttpRequest, id: AlertId, body: NoteIn) -> Status[Note]:
    """A note joins the alert's history under the token's user."""
    require_role(request)
    alert = selectors.alert_for_page(alert_id=id)
    form = NoteForm({"text": body.text})
    _refuse(form)
    note = services.alert_add_note(alert=alert, by=request.user, text=form.cleaned_data["text"])
    return Status(201, _note(note))


class StepIn(Schema):
    done: bool = False
    note: str = ""


@router.put(
    "/{int:id}/checklist/{step}",
    response={200: Step, **ONE},
    summary="Tick, untick or annotate an investigation-guide step",
)
def alert_checklist_step(request: HttpRequest, id: AlertId, step: str, body: StepIn) -> Step:
    """The step is a key of the rule's investigation guide (404 for any other)."""
    require_role(request)
    alert = selectors.alert_for_page(alert_id=id)
    if step not in services.STEP_KEYS:
        raise Http404(f"No step {step!r} in the investigation guide.")
    form = ChecklistStepForm({"done": body.done, "note": body.note})
    _refuse(form)
    services.alert_checklist_update(alert=alert, step=step, by=request.user, **form.cleaned_data)
    return _step(step, selectors.alert_checklist(alert=alert)[step])


class TagsChange(Schema):
    add: list[str] = []
    remove: list[str] = []


class Tags(Schema):
    tags: list[str]


@router.post(
    "/{int:id}/tags",
    response={200: Tags, **ONE},
    summary=(
        f"Add and remove an alert's tags (at most {services.MAX_TAGS}, "
        f"of at most {services.MAX_TAG_CHARS} characters)"
    ),
)
def alert_tags(request: HttpRequest, id: AlertId, body: TagsChange) -> Tags:
    """kibana.alert.workflow_tags; each change joins the alert's history."""
    require_role(request)
    alert = selectors.alert_for_page(alert_id=id)
    alert = services.alert_tags_change(
        alert=alert, by=request.user, add=body.add, remove=body.remove
    )
    return Tags(tags=alert.tags)


class BulkChange(StatusChange):
    ids: list[RowId] | None = Field(None, max_length=BULK_LIMIT)
    filter: AlertFilter | None = Field(None, description="the list's filters")

    @model_validator(mode="after")
    def _ids_or_filter(self) -> "BulkChange":
        if (self.ids is None) == (self.filter is None):
            raise ValueError("give either ids or a filter")
        return self


class BulkResult(Schema):
    changed: int
    skipped: int = Field(description="alerts whose status does not allow the change")
    not_found: int = Field(0, description="ids of no alert")
    more: bool = Field(False, description=f"the filter matched more than {BULK_LIMIT:,} alerts")


@router.post(
    "/bulk",
    response={200: BulkResult},
    summary=f"Change the status of many alerts (at most {BULK_LIMIT:,} a request)",
)
def alerts_bulk(request: HttpRequest, body: BulkChange) -> BulkResult:
    """The alerts named by `ids`, or the first ones (oldest first) the `filter` matches.

    An alert whose status does not allow the change is skipped, not an error;
    when `more` is true, repeat the request to reach the next ones.
    """
    require_role(request)
    change = _status_change(body)
    not_found, more = 0, False
    if body.ids is not None:
        chosen = list(Alert.objects.filter(pk__in=body.ids).order_by("pk"))
        not_found = len(set(body.ids)) - len(chosen)
    else:
        filters = _filters(body.filter, request.user)
        chosen = selectors.alerts_matching(filters=filters, limit=BULK_LIMIT + 1) if filters else []
        more = len(chosen) > BULK_LIMIT
        chosen = chosen[:BULK_LIMIT]
    outcome = services.alerts_bulk_change(alerts=chosen, by=request.user, **change)
    return BulkResult(
        changed=outcome.changed, skipped=len(outcome.skipped), not_found=not_found, more=more
    )
