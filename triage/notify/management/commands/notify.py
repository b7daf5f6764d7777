"""python manage.py notify — deliver every notification that is due now."""

import os
import socket

from django.core.management.base import BaseCommand
from django.utils import timezone

from triage.notify.services import notify_due


class Command(BaseCommand):
    help = "Send the notifications that are due now (the worker does this every minute)."

    def handle(self, *args, **options) -> None:
        outcome = notify_due(now=timezone.now(), worker=f"{socket.gethostname()}:{os.getpid()}")
        self.stdout.write(f"notify: {outcome.summary()}")
