"""Deleting events older than EVENT_RETENTION_DAYS, in batches.

An event that another record points at — an alert's triggering event or an
event of its episode — is kept whatever its age: the alert is the evidence.
Those relations belong to other apps, so they are found from the model's
relations rather than named here (ingest does not import triage). A model
whose rows only note something about an event says so with
`KEEPS_EVENT = False`: its rows go with the event. The
principal-network history and the record of log objects read stay: they are
what stops an old file from being read, and counted, again. The blocks of
records the deleted events were read from go once no event is read from them.
"""

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils import timezone

from ingest import partitions
from ingest.models import Event, LogRecords

BATCH_EVENTS = 5000


@dataclass
class RetentionReport:
    cutoff: datetime
    deleted: int = 0
    kept: int = 0  # older than the cutoff, but referenced
    days_dropped: list[date] = field(default_factory=list)  # partitions dropped or replaced
    blocks_deleted: int = 0  # blocks of records (ingest.records) no event is read from


def _relations(*, keeping: bool) -> list[tuple[type, str]]:
    """The relations pointing at Event, as (model, field name): those whose rows keep
    their event (keeping), or those whose rows only note something about it."""
    return [
        (field.related_model, field.field.name)
        for field in Event._meta.get_fields(include_hidden=True)  # related_name="+" too
        if field.is_relation
        and field.auto_created
        and not field.concrete
        and getattr(field.related_model, "KEEPS_EVENT", True) == keeping
    ]


def _referenced() -> list[Exists]:
    """For each relation whose rows keep their event: 'some row refers to this event'."""
    return [
        Exists(model._default_manager.filter(**{name: OuterRef("pk")}))
        for model, name in _relations(keeping=True)
    ]


def expired_events(cutoff: datetime) -> QuerySet[Event]:
    rows = Event.objects.filter(timestamp__lt=cutoff)
    for check in _referenced():
        rows = rows.filter(~check)
    return rows


def delete_old_events(*, now: datetime | None = None, batch: int = BATCH_EVENTS) -> RetentionReport:
    """Delete events older than the retention period.

    On PostgreSQL whole days go (ingest.partitions): a day's partition is dropped,
    or replaced by one holding only the events alerts refer to. What is left older
    than the cutoff (the default partition's events, an old day's late arrivals;
    everything on SQLite) is deleted in batches, each committing on its own.
    """
    days = max(settings.EVENT_RETENTION_DAYS, settings.HISTORY_WINDOW.days)
    report = RetentionReport(cutoff=(now or timezone.now()) - timedelta(days=days))
    for day in partitions.days():
        if partitions.end(day) <= report.cutoff:
            _expire_day(day, report)
    while True:
        with transaction.atomic():
            ids = list(
                expired_events(report.cutoff).order_by("id").values_list("id", flat=True)[:batch]
            )
            if not ids:
                break
            Event.objects.filter(pk__in=ids).delete()
            report.deleted += len(ids)
    report.kept = Event.objects.filter(timestamp__lt=report.cutoff).count()
    report.blocks_deleted = _delete_unread_blocks(report.cutoff)
    return report


def _expire_day(day: date, report: RetentionReport) -> None:
    """Drop a day's partition, keeping the events alerts refer to in one of their own."""
    events = Event.objects.filter(
        timestamp__gte=partitions.start(day), timestamp__lt=partitions.end(day)
    )
    referenced = Q()
    for check in _referenced():
        referenced |= Q(check)
    if not events.exclude(referenced).exists():
        return  # only kept events left: dropped before
    with transaction.atomic():
        kept = list(events.filter(referenced).values_list("id", flat=True))
        going = events.exclude(id__in=kept)
        deleted = going.count()
        for model, name in _relations(keeping=False):
            model._default_manager.filter(**{f"{name}__in": going.values("id")}).delete()
        partitions.replace(day, keep=kept)
    partitions.forget()
    report.deleted += deleted
    report.days_dropped.append(day)


def _delete_unread_blocks(cutoff: datetime) -> int:
    """Delete the blocks of records no stored event can be read from any more.

    A block whose records are all older than the cutoff is kept while an event
    of its log file is: only the few events kept for alerts are left that old.
    """
    kept = Event.objects.filter(timestamp__lt=cutoff, log_object__isnull=False)
    deleted, _ = (
        LogRecords.objects.filter(newest__lt=cutoff)
        .exclude(log_object_id__in=kept.values("log_object_id"))
        .delete()
    )
    return deleted
