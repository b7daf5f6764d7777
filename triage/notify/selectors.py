"""Reading destinations and their deliveries, as anyone may see them: secrets masked."""

from typing import Any

from triage.notify.models import Destination
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
    }


def destinations_public() -> list[dict[str, Any]]:
    return [destination_public(destination) for destination in Destination.objects.order_by("id")]
