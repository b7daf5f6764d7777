"""API operations: the ASN allowlist — exclusions, their history and impact, and changes.

Every change goes through the services the allowlist pages and `manage.py
exclusions` use (triage.allowlist.services), as the token's user: the same refusals
(no condition, too broad, a bad value) and the same audit rows. Refusals are
422 problems; disabling a disabled exclusion (or enabling an enabled one)
changes nothing and records nothing, as in the browser.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Annotated, Any

from django.core.exceptions import ValidationError
from django.http import HttpRequest
from django.shortcuts import get_object_or_404
from django.utils import timezone
from ninja import Field, Path, Router, Schema, Status
from pydantic import ConfigDict

from config.queries import BIGINT_MAX
from config.roles import ALLOWLIST_ADMIN
from triage.allowlist import selectors as allowlist_selectors
from triage.allowlist import services
from triage.api.auth import require_role
from triage.api.fields import Instant, Text
from triage.api.problems import Problem
from triage.models import Exclusion
from triage.queries import ASN_MAX

router = Router(tags=["exclusions"])
CHANGE_ERRORS = {404: Problem}
# A body that is not JSON at all.
BODY_ERRORS = {400: Problem}
ExclusionId = Annotated[int, Path(ge=1, le=BIGINT_MAX)]
# Bodies are read strictly: "64500" is not an AS number, nor 0.5 an instant.
BODY = ConfigDict(strict=True, str_strip_whitespace=True)


class ExclusionOut(Schema):
    id: int
    as_number: int | None = Field(description="source.as.number")
    as_organization: str = Field(
        description="source.as.organization.name pattern: case-insensitive, * matches anything"
    )
    account_id: str = Field(description="cloud.account.id")
    user_name: str = Field(description="user.name")
    reason: str
    created_by: str
    created_at: datetime
    expires_at: datetime | None = Field(description="null: never expires")
    enabled: bool
    state: str = Field(description="active, expired or disabled")


class ExclusionRow(ExclusionOut):
    suppressed_7d: int = Field(description="events it kept from detection in the last 7 days")
    suppressed_30d: int = Field(description="events it kept from detection in the last 30 days")


class ExclusionList(Schema):
    exclusions: list[ExclusionRow] = Field(description="active first, then expired, disabled")


class Difference(Schema):
    field: str
    before: Any = None
    after: Any = None


class ConfirmedBroad(Schema):
    share_percent: float = Field(description="the share of the candidates it hid when saved")
    events: int
    candidates: int
    days: int
    threshold_percent: int = Field(description="EXCLUSION_CONFIRM_SHARE_PERCENT then")


class Change(Schema):
    action: str = Field(description="created, changed, disabled, enabled")
    changed_by: str
    changed_at: datetime
    differences: list[Difference] = Field(description="every field, for a creation")
    confirmed_broad: ConfirmedBroad | None = Field(
        description="set when saved as a confirmed broad exclusion"
    )


class ExclusionDetail(ExclusionOut):
    history: list[Change] = Field(description="newest first")
    closed_alerts: list[int] = Field(description="ids of the alerts closed by adding it")


class Conditions(Schema):
    """An exclusion's conditions; at least one is set, and every one must match."""

    model_config = BODY

    as_number: int | None = Field(None, ge=0, le=ASN_MAX, description="source.as.number")
    as_organization: Text = Field(
        "", description="source.as.organization.name pattern: case-insensitive, * matches anything"
    )
    account_id: Text = Field("", description="cloud.account.id")
    user_name: Text = Field("", description="user.name")


class ExclusionIn(Conditions):
    reason: Text
    expires_at: Instant | None = Field(
        description="when it stops applying; null (given explicitly) for never"
    )
    confirm_broad: bool = Field(
        False,
        description="save conditions hiding more than EXCLUSION_CONFIRM_SHARE_PERCENT of the "
        "recent candidates (see the impact's needs_confirmation); the audit row records it",
    )


class ExclusionPatch(Schema):
    """The fields to change; those left out keep their value."""

    model_config = BODY

    as_number: int | None = Field(None, ge=0, le=ASN_MAX, description="null removes it")
    as_organization: Text = ""
    account_id: Text = ""
    user_name: Text = ""
    reason: Text = ""
    expires_at: Instant | None = Field(None, description="null: never expires")
    confirm_broad: bool = Field(
        False,
        description="save conditions hiding more than EXCLUSION_CONFIRM_SHARE_PERCENT of the "
        "recent candidates (see the impact's needs_confirmation); the audit row records it",
    )


class Impact(Schema):
    days: int = Field(description="the window the event counts cover")
    events: int = Field(description="the rule's candidate events the conditions match")
    candidates: int = Field(description="the rule's candidate events in the window")
    share_percent: float = Field(description="events as a percentage of candidates")
    needs_confirmation: bool = Field(description="saving needs confirm_broad: true")
    open_alerts: int = Field(description="alerts not closed that the conditions match")
    closed_alerts: int
    example_events: list[int] = Field(description="ids of the newest matching events")
    example_alerts: list[int] = Field(description="ids of the newest matching alerts")
    refusal: str = Field(description="why saving would be refused as too broad; empty if not")


def _out(exclusion: Exclusion, **extra: Any) -> dict[str, Any]:
    names = (*services.CONDITIONS, "reason", "created_by", "created_at", "expires_at", "enabled")
    return {
        "id": exclusion.pk,
        **{name: getattr(exclusion, name) for name in names},
        "state": allowlist_selectors.exclusion_state(exclusion, now=timezone.now()),
        **extra,
    }


def _impact(candidate: Exclusion) -> Impact:
    impact = services.exclusion_impact(exclusion=candidate)
    return Impact(
        days=services.IMPACT_DAYS,
        events=impact.events,
        candidates=impact.candidates,
        share_percent=round(impact.share, 1),
        needs_confirmation=impact.needs_confirmation,
        open_alerts=impact.open_alerts,
        closed_alerts=impact.closed_alerts,
        example_events=[event.pk for event in impact.example_events],
        example_alerts=[alert.pk for alert in impact.example_alerts],
        refusal=services.exclusion_refusal(exclusion=candidate, impact=impact),
    )


@contextmanager
def _confirm_broad_hint() -> Iterator[None]:
    """A refusal until confirmed says how to confirm here, on the confirm_broad field."""
    try:
        yield
    except ValidationError as error:
        if getattr(error, "code", None) != services.UNCONFIRMED_BROAD:
            raise
        hint = f"{error.message} Send confirm_broad: true to save it anyway."
        raise ValidationError({"confirm_broad": [hint]}) from None


def _get_exclusion_for_admin(request: HttpRequest, exclusion_id: ExclusionId) -> Exclusion:
    """The exclusion, if the token's user may change it; every changing operation starts here."""
    require_role(request, ALLOWLIST_ADMIN)
    return get_object_or_404(Exclusion, pk=exclusion_id)


@router.get("", response={200: ExclusionList}, summary="Every exclusion")
def exclusion_list(request: HttpRequest) -> ExclusionList:
    """Every exclusion with its state and the events it suppressed, as the allowlist page shows."""
    require_role(request)
    rows = allowlist_selectors.exclusion_rows()
    return ExclusionList(
        exclusions=[
            ExclusionRow(
                **_out(
                    row.exclusion,
                    state=row.state,
                    suppressed_7d=row.suppressed_7d,
                    suppressed_30d=row.suppressed_30d,
                )
            )
            for row in rows
        ]
    )


@router.post(
    "/impact", response={200: Impact, **BODY_ERRORS}, summary="What proposed conditions would match"
)
def exclusion_preview(request: HttpRequest, payload: Conditions) -> Impact:
    """The impact preview of conditions not saved yet, with the refusal saving them would get."""
    require_role(request)
    candidate = Exclusion(**payload.model_dump())
    services.exclusion_conditions_check(exclusion=candidate)
    candidate.full_clean(exclude=["reason", "created_by"])
    return _impact(candidate)


@router.post(
    "",
    response={201: ExclusionOut, **BODY_ERRORS},
    summary="Add an exclusion",
)
def exclusion_create(request: HttpRequest, payload: ExclusionIn) -> Status[dict[str, Any]]:
    """Add an exclusion, audited under the token's user; refused (422) if it has no condition
    or would match every recent candidate event, or hide more than
    EXCLUSION_CONFIRM_SHARE_PERCENT of them without confirm_broad. Allowlist admins only."""
    require_role(request, ALLOWLIST_ADMIN)
    with _confirm_broad_hint():
        exclusion = services.exclusion_create(by=request.user, **payload.model_dump())
    return Status(201, _out(exclusion))


@router.get(
    "/{int:exclusion_id}",
    response={200: ExclusionDetail, 404: Problem},
    summary="One exclusion, with its history",
)
def exclusion_detail(request: HttpRequest, exclusion_id: ExclusionId) -> dict[str, Any]:
    """The exclusion, every change made to it (newest first) and the alerts adding it closed."""
    require_role(request)
    exclusion = get_object_or_404(Exclusion, pk=exclusion_id)
    history = [
        {
            "action": entry.change.action,
            "changed_by": entry.change.changed_by,
            "changed_at": entry.change.changed_at,
            "differences": [
                {"field": name, "before": before, "after": after}
                for name, before, after in entry.differences
            ],
            "confirmed_broad": (entry.change.after or {}).get("confirmed_broad"),
        }
        for entry in allowlist_selectors.exclusion_history(exclusion=exclusion)
    ]
    closed = exclusion.closed_alerts.order_by("alert_id").values_list("alert_id", flat=True)
    return _out(exclusion, history=history, closed_alerts=list(closed))


@router.get(
    "/{int:exclusion_id}/impact",
    response={200: Impact, 404: Problem},
    summary="What an exclusion matches",
)
def exclusion_impact(request: HttpRequest, exclusion_id: ExclusionId) -> Impact:
    """The events and alerts the exclusion's conditions match, as its page previews them."""
    require_role(request)
    return _impact(get_object_or_404(Exclusion, pk=exclusion_id))


@router.patch(
    "/{int:exclusion_id}",
    response={200: ExclusionOut, 400: Problem, **CHANGE_ERRORS},
    summary="Change an exclusion",
)
def exclusion_update(
    request: HttpRequest, exclusion_id: ExclusionId, payload: ExclusionPatch
) -> dict[str, Any]:
    """Change conditions, reason or expiry, audited under the token's user; new conditions are
    refused (422) as when added, confirm_broad included. Allowlist admins only."""
    exclusion = _get_exclusion_for_admin(request, exclusion_id)
    changes = payload.model_dump(exclude_unset=True)
    confirm_broad = changes.pop("confirm_broad", False)
    with _confirm_broad_hint():
        exclusion = services.exclusion_update(
            exclusion=exclusion, by=request.user, confirm_broad=confirm_broad, **changes
        )
    return _out(exclusion)


@router.post(
    "/{int:exclusion_id}/disable",
    response={200: ExclusionOut, **CHANGE_ERRORS},
    summary="Disable an exclusion",
)
def exclusion_disable(request: HttpRequest, exclusion_id: ExclusionId) -> dict[str, Any]:
    """Stop the exclusion applying: detection sees its events again. Allowlist admins only."""
    exclusion = _get_exclusion_for_admin(request, exclusion_id)
    return _out(services.exclusion_disable(exclusion=exclusion, by=request.user))


@router.post(
    "/{int:exclusion_id}/enable",
    response={200: ExclusionOut, **CHANGE_ERRORS},
    summary="Enable an exclusion again",
)
def exclusion_enable(request: HttpRequest, exclusion_id: ExclusionId) -> dict[str, Any]:
    """Apply the exclusion again; refused (422) if it would now match every recent candidate
    event. Allowlist admins only."""
    exclusion = _get_exclusion_for_admin(request, exclusion_id)
    return _out(services.exclusion_enable(exclusion=exclusion, by=request.user))
