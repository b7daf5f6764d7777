"""The ASN allowlist: matching, and the services that change it (with audit rows).

An exclusion is a conjunction of optional conditions — AS number, AS
organisation pattern (case-insensitive, * matches anything), account id, user
name. Matching here (Python, for one event) and in `history_q` (SQL, for the
detector's history probe) must agree: both compile the pattern to one regex.
"""

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q
from django.forms.models import model_to_dict

from config.env import parse_instant
from triage.models import Exclusion, ExclusionChange

CONDITIONS = ("as_number", "as_organization", "account_id", "user_name")


def pattern_regex(pattern: str) -> str:
    """An organisation pattern as an anchored regex: * is any run of characters."""
    return "^" + ".*".join(re.escape(part) for part in pattern.split("*")) + "$"


@dataclass(frozen=True)
class Matcher:
    """An active exclusion, compiled once per detector run."""

    exclusion_id: int
    as_number: int | None
    organization: re.Pattern | None
    account_id: str
    user_name: str

    def matches(self, event: Any) -> bool:
        if self.as_number is not None and event.as_number != self.as_number:
            return False
        if self.organization is not None and not (
            event.as_organization and self.organization.match(event.as_organization)
        ):
            return False
        if self.account_id and event.account_id != self.account_id:
            return False
        return not (self.user_name and event.user_name != self.user_name)

    def q(self) -> Q:
        """The same condition over Event columns."""
        condition = Q()
        if self.as_number is not None:
            condition &= Q(as_number=self.as_number)
        if self.organization is not None:
            condition &= Q(as_organization__iregex=self.organization.pattern)
        if self.account_id:
            condition &= Q(account_id=self.account_id)
        if self.user_name:
            condition &= Q(user_name=self.user_name)
        return condition


def active_exclusions(*, at: datetime) -> list[Matcher]:
    """The exclusions in force at `at`: enabled and not expired."""
    rows = Exclusion.objects.filter(enabled=True).filter(
        Q(expires_at__isnull=True) | Q(expires_at__gt=at)
    )
    return [
        Matcher(
            exclusion_id=row.pk,
            as_number=row.as_number,
            organization=(
                re.compile(pattern_regex(row.as_organization), re.IGNORECASE)
                if row.as_organization
                else None
            ),
            account_id=row.account_id,
            user_name=row.user_name,
        )
        for row in rows.order_by("id")
    ]


def snapshot(exclusion: Exclusion) -> dict[str, Any]:
    """The audited state of an exclusion, JSON-ready."""
    data = model_to_dict(
        exclusion, fields=[*CONDITIONS, "reason", "expires_at", "enabled", "created_by"]
    )
    # In UTC, so that one instant written with another offset is no change.
    expires_at = exclusion.expires_at
    data["expires_at"] = expires_at.astimezone(UTC).isoformat() if expires_at else None
    return data


def _validate(exclusion: Exclusion) -> None:
    if exclusion.as_number is None and not any(getattr(exclusion, name) for name in CONDITIONS[1:]):
        raise ValidationError("An exclusion needs at least one condition.")
    if not exclusion.reason.strip():
        raise ValidationError("An exclusion needs a reason.")
    exclusion.full_clean(exclude=["created_by"])


def exclusion_create(
    *,
    by: str,
    reason: str,
    as_number: int | None = None,
    as_organization: str = "",
    account_id: str = "",
    user_name: str = "",
    expires_at: datetime | None = None,
) -> Exclusion:
    exclusion = Exclusion(
        as_number=as_number,
        as_organization=as_organization.strip(),
        account_id=account_id.strip(),
        user_name=user_name.strip(),
        reason=reason.strip(),
        expires_at=expires_at,
        created_by=by,
    )
    _validate(exclusion)
    with transaction.atomic():
        exclusion.save()
        ExclusionChange.objects.create(
            exclusion=exclusion, action="created", changed_by=by, after=snapshot(exclusion)
        )
    return exclusion


def exclusion_update(*, exclusion: Exclusion, by: str, **changes: Any) -> Exclusion:
    """Change conditions, reason, expiry or the enabled flag, with an audit row."""
    unknown = set(changes) - {*CONDITIONS, "reason", "expires_at", "enabled"}
    if unknown:
        raise TypeError(f"not an exclusion field: {', '.join(sorted(unknown))}")
    with transaction.atomic():
        exclusion = Exclusion.objects.select_for_update().get(pk=exclusion.pk)
        before = snapshot(exclusion)
        for name, value in changes.items():
            setattr(exclusion, name, value.strip() if isinstance(value, str) else value)
        _validate(exclusion)
        after = snapshot(exclusion)
        if after == before:
            return exclusion
        if set(changes) == {"enabled"}:
            action = "enabled" if exclusion.enabled else "disabled"
        else:
            action = "changed"
        ExclusionChange.objects.create(
            exclusion=exclusion, action=action, changed_by=by, before=before, after=after
        )
        exclusion.save()
    return exclusion


def exclusion_disable(*, exclusion: Exclusion, by: str) -> Exclusion:
    return exclusion_update(exclusion=exclusion, by=by, enabled=False)


def exclusion_export() -> list[dict[str, Any]]:
    return [
        {
            "id": row.pk,
            **{name: getattr(row, name) for name in CONDITIONS},
            "reason": row.reason,
            "expires_at": row.expires_at.isoformat() if row.expires_at else None,
            "enabled": row.enabled,
            "created_by": row.created_by,
            "created_at": row.created_at.isoformat(),
        }
        for row in Exclusion.objects.order_by("id")
    ]


def exclusion_import(*, items: list[dict[str, Any]], by: str) -> tuple[int, int, int]:
    """Create or update exclusions from an export. Idempotent: returns (created, changed, same).

    An item with an id that exists updates that exclusion; any other item is
    matched on its conditions, so importing the same file twice changes nothing.
    """
    created = changed = same = 0
    with transaction.atomic():
        for position, item in enumerate(items):
            if not isinstance(item, dict):
                raise ValidationError(f"item {position}: not an object")
            fields = {name: item.get(name) for name in CONDITIONS}
            for name in CONDITIONS[1:]:
                fields[name] = (fields[name] or "").strip()
            values = {
                **fields,
                "reason": item.get("reason") or "",
                "expires_at": _instant(item.get("expires_at"), position),
                "enabled": bool(item.get("enabled", True)),
            }
            existing = None
            if item.get("id") is not None:
                existing = Exclusion.objects.filter(pk=item["id"]).first()
            if existing is None:
                existing = Exclusion.objects.filter(**fields).order_by("id").first()
            try:
                if existing is None:
                    enabled = values.pop("enabled")
                    exclusion = exclusion_create(by=by, **values)
                    if not enabled:
                        exclusion_disable(exclusion=exclusion, by=by)
                    created += 1
                    continue
                before = snapshot(existing)
                exclusion_update(exclusion=existing, by=by, **values)
                existing.refresh_from_db()
                if snapshot(existing) == before:
                    same += 1
                else:
                    changed += 1
            except ValidationError as error:
                raise ValidationError(f"item {position}: {'; '.join(error.messages)}") from None
    return created, changed, same


def _instant(value: Any, position: int) -> datetime | None:
    if value in (None, ""):
        return None
    try:
        return parse_instant(str(value))
    except ValueError as error:
        raise ValidationError(f"item {position}: expires_at {error}") from None
