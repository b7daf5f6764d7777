"""Reading destinations and their deliveries, as anyone may see them: secrets masked."""

from typing import Any

from django.db.models import OuterRef, Q, QuerySet, Subquery

from triage.audit import ChangeEntry, change_history
from triage.notify.models import Delivery, DeliveryAttempt, Destination
from triage.notify.sealed import Unreadable
from triage.notify.services import masked_target

MASK = "********"


def destination_public(destination: Destination) -> dict[str, Any]:
    """A destination's settings with its secret and any token-bearing URL masked."""
    return {
        "id": destination.pk,
        "name": destination.name,
        "kind": destination.kind,
        "target": masked_target(destination),
        "secret": MASK if destination.secret else "",
        "mode": destination.mode,
        "throttle_minutes": destination.throttle_minutes,
        "accounts": destination.accounts,
        "user_names": destination.user_names,
        "as_organizations": destination.as_organizations,
        "as_numbers": destination.as_numbers,
        "report_joined": destination.report_joined,
        "enabled": destination.enabled,
        # Encrypted under a key asnwatch no longer has: to be entered again.
        "unreadable": any(
            isinstance(value, Unreadable) for value in (destination.target, destination.secret)
        ),
    }


def destinations_public(*, include_removed: bool = False) -> list[dict[str, Any]]:
    """Every destination not removed (or, with include_removed, every one, saying which)."""
    if not include_removed:
        return [
            destination_public(destination)
            for destination in Destination.objects.filter(removed_at__isnull=True).order_by("id")
        ]
    return [
        destination_public(destination) | {"removed": destination.removed_at is not None}
        for destination in Destination.objects.order_by("id")
    ]


def destination_rows() -> list[dict[str, Any]]:
    """The settings page's list: every destination not removed, with its last delivery."""
    last = Delivery.objects.filter(destination=OuterRef("pk")).order_by("-created_at", "-id")
    destinations = (
        Destination.objects.filter(removed_at__isnull=True)
        .annotate(
            last_status=Subquery(last.values("status")[:1]),
            last_at=Subquery(last.values("created_at")[:1]),
        )
        .order_by("name")
    )
    return [
        destination_public(destination)
        | {"last_status": destination.last_status, "last_at": destination.last_at}
        for destination in destinations
    ]


def destination_history(destination: Destination) -> list[ChangeEntry]:
    """Its changes, newest first, each with the settings that differ (secrets already masked)."""
    return change_history(destination.changes.all())


def delivery_attempts(destination: Destination) -> QuerySet[DeliveryAttempt]:
    """Every try to send to destination, newest first."""
    return (
        DeliveryAttempt.objects.filter(delivery__destination=destination)
        .select_related("delivery")
        .order_by("-at", "-id")
    )


def alert_deliveries(alert_id: int) -> QuerySet[Delivery]:
    """Where an alert's notifications went: its own messages and the summaries listing it."""
    return (
        Delivery.objects.filter(
            Q(alert_id=alert_id) | Q(summary_alerts__id=alert_id) | Q(summary_updated__id=alert_id)
        )
        .select_related("destination", "recipient")
        .distinct()
        .order_by("created_at", "id")
    )
