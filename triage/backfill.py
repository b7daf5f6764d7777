"""Alerts raised from logs read after the fact, dated as if asnwatch had been watching.

A backfill (or `make run`'s three weeks of demo logs) is read and evaluated in
one go, so every alert it raises is created now and the weekly review, which
counts alerts by when they were created, would show last week empty. With
`detect --backfill` each alert the run opens is dated when the 5-minute schedule
would have raised it instead: CloudTrail's delivery, the next poll and the next
rule run after its triggering event. Only dates move back, never forward.
"""

from datetime import timedelta

from django.db.models import F

from triage.models import Alert, DetectionRun

# CloudTrail delivers within about 5 minutes; the poll and the rule run every 5.
SCHEDULE_DELAY = timedelta(minutes=15)


def alerts_backdate(*, run: DetectionRun) -> int:
    """Date the alerts the run opened as the schedule would have; returns how many moved."""
    scheduled = F("original_time") + SCHEDULE_DELAY
    return Alert.objects.filter(run=run, created_at__gt=scheduled).update(created_at=scheduled)
