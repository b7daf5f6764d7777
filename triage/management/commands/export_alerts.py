"""python manage.py export_alerts [--since ISO] — alerts as Kibana-style JSON lines."""

import json
from datetime import datetime

from django.core.management.base import BaseCommand

from ingest.management.commands.export_events import iso_instant
from ingest.models import with_details
from triage.documents import alert_document
from triage.models import Alert


class Command(BaseCommand):
    help = "Write alerts as Kibana-style alert documents, one per line, oldest first."

    def add_arguments(self, parser):
        parser.add_argument("--since", type=iso_instant, help="alerts created at or after this")

    def handle(self, *args, since: datetime | None, **options) -> None:
        alerts = Alert.objects.select_related("event").order_by("created_at", "id")
        if since:
            alerts = alerts.filter(created_at__gte=since)
        count = 0
        for alert in with_details(alerts.iterator(chunk_size=500), event_of=lambda a: a.event):
            self.stdout.write(json.dumps(alert_document(alert), ensure_ascii=False))
            count += 1
        self.stderr.write(f"export_alerts: {count} alerts")
