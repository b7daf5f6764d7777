"""The notifications' health check for the Sources page and /sources.json.

A destination is failing when every attempt to send to it has failed for over
FAILING_FOR: its first failed attempt since its last delivered message (or
ever, if none was delivered) is older than that. Its next delivered message,
a successful test among them, ends it; a disabled destination is not checked,
since its messages wait on purpose.
"""

from datetime import datetime, timedelta

from django.db.models import Max

from ingest.health import Concern
from triage.notify.models import DeliveryAttempt, Destination

FAILING_FOR = timedelta(minutes=30)
KIND = "notification destination"


def failing_destinations(*, now: datetime) -> list[Concern]:
    found = []
    for destination in Destination.objects.filter(enabled=True).order_by("name"):
        attempts = DeliveryAttempt.objects.filter(delivery__destination=destination)
        last_delivered = attempts.filter(outcome="delivered").aggregate(at=Max("at"))["at"]
        failures = attempts.exclude(outcome="delivered")
        if last_delivered is not None:
            failures = failures.filter(at__gt=last_delivered)
        first = failures.order_by("at", "id").first()
        if first is None or now - first.at <= FAILING_FOR:
            continue
        last = failures.order_by("-at", "-id").first()
        minutes = int((now - first.at).total_seconds() // 60)
        found.append(
            Concern(
                kind=KIND,
                subject=destination.name,
                error=f"every delivery has failed for {minutes} minutes; the last: {last.error}",
                since=first.at,
            )
        )
    return found
