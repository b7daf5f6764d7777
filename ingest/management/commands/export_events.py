"""python manage.py export_events [--since ISO] [--until ISO] — stored events as ECS JSON lines."""

import json
from datetime import datetime

from django.core.management.base import BaseCommand, CommandError

from config.env import parse_instant
from ingest.ecs import ecs_document
from ingest.models import Event, with_details


def iso_instant(value: str) -> datetime:
    """An argparse type for --since/--until style options."""
    try:
        return parse_instant(value)
    except ValueError as error:
        raise CommandError(str(error)) from None


class Command(BaseCommand):
    help = "Write stored events as ECS JSON documents, one per line, oldest first."

    def add_arguments(self, parser):
        parser.add_argument("--since", type=iso_instant, help="from this @timestamp (inclusive)")
        parser.add_argument("--until", type=iso_instant, help="before this @timestamp")

    def handle(self, *args, since: datetime | None, until: datetime | None, **options) -> None:
        events = Event.objects.order_by("timestamp", "id")
        if since:
            events = events.filter(timestamp__gte=since)
        if until:
            events = events.filter(timestamp__lt=until)
        count = 0
        # iterator() streams from a server-side cursor: memory stays flat for millions of rows.
        for event in with_details(events.iterator(chunk_size=2000)):
            self.stdout.write(json.dumps(ecs_document(event), ensure_ascii=False))
            count += 1
        self.stderr.write(f"export_events: {count} events")
