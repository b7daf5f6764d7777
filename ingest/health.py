"""Concerns beyond the CloudTrail sources, shown on the Sources page and in /sources.json.

Other apps contribute checks by dotted path in settings.HEALTH_CHECKS, each a
callable taking `now` and returning Concerns; ingest, which serves those pages,
so never imports them (DESIGN.md: ingest never imports triage).
"""

from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.utils.module_loading import import_string


@dataclass(frozen=True)
class Concern:
    kind: str  # what is concerned, e.g. "notification destination"
    subject: str  # which one: its name
    error: str  # what is wrong, in one line
    since: datetime


def concerns(*, now: datetime) -> list[Concern]:
    """What every configured check finds wrong at now; none is healthy."""
    return [concern for path in settings.HEALTH_CHECKS for concern in import_string(path)(now=now)]
