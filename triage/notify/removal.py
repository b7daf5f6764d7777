"""Removing a destination from the settings page without losing what it leaves behind.

A removed destination is never deleted: its audit rows are records that are
never deleted, and its deliveries are what alert pages show as where their
notifications went. It is disabled (so nothing is sent to it again) and hidden
from the settings page; a "removed" change records who removed it and when.
"""

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from triage.notify.models import Destination, DestinationChange
from triage.notify.services import Author, destination_disable, snapshot


def destination_remove(*, destination: Destination, by: Author) -> Destination:
    with transaction.atomic():
        # The disable checks the author's role and records its own change if it was enabled.
        destination = destination_disable(destination=destination, by=by)
        destination = Destination.objects.select_for_update().get(pk=destination.pk)
        if destination.removed_at is not None:
            raise ValidationError(f"destination {destination.name!r} is removed already")
        destination.removed_at = timezone.now()
        destination.save(update_fields=["removed_at"])
        after = snapshot(destination) | {"removed": True}
        DestinationChange.objects.create(
            destination=destination,
            action="removed",
            changed_by=by if isinstance(by, str) else by.get_username(),
            before=snapshot(destination),
            after=after,
        )
    return destination
