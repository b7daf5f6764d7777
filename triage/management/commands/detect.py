"""python manage.py detect — run the rule once over every event not yet evaluated."""

import argparse

from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError

from config.errors import first_line
from triage.backfill import alerts_backdate
from triage.detector import AlreadyRunning, RunFailed, detect
from triage.models import DetectionRun


def positive_int(value: str) -> int:
    if not value.isdigit() or int(value) < 1:
        raise argparse.ArgumentTypeError(f"{value!r} is not a whole number of at least 1")
    return int(value)


def run_summary(run: DetectionRun) -> str:
    if run.learning_until is None:
        learning = "learning: no events stored yet"
    elif run.learning_until > run.started_at:
        learning = f"learning until {run.learning_until:%Y-%m-%d %H:%M}Z"
    else:
        learning = "learning over"
    deferred = (
        f"deferred past the cap at {run.deferred_at:%Y-%m-%d %H:%M:%S}Z "
        "(the next run continues there)"
        if run.deferred
        else "nothing deferred"
    )
    return (
        f"{run.events_evaluated} events evaluated, {run.candidates} candidates, "
        f"{run.alerts_created} alerts created, {run.events_joined} joined alerts, "
        f"{run.suppressed} suppressed by exclusions, {deferred}, {learning}"
    )


class Command(BaseCommand):
    help = "Run the rule once over every stored event not yet evaluated."

    def add_arguments(self, parser):
        parser.add_argument(
            "--max-alerts",
            type=positive_int,
            default=None,
            help="the most alerts this run opens (default: DETECTION_MAX_ALERTS_PER_RUN)",
        )
        parser.add_argument(
            "--backfill",
            action="store_true",
            help="the events are old logs read after the fact (a backfill, the demo): date each"
            " alert this run opens when the 5-minute schedule would have raised it",
        )

    def handle(self, *args, max_alerts: int | None, backfill: bool, **options) -> None:
        try:
            run = detect(max_alerts=max_alerts)
        except AlreadyRunning as error:
            self.stdout.write(f"detect: skipped, {error}")
            return
        except RunFailed as failure:
            raise CommandError(
                f"detect: the run failed and was recorded, nothing else was kept (the next run "
                f"evaluates the same events): {first_line(failure)}"
            ) from None
        except DatabaseError as error:
            # manage.py prints this after the database's error, as one line.
            error.add_note(
                "detect: nothing was recorded, not even the failed run "
                "(the next run evaluates the same events)"
            )
            raise
        self.stdout.write(f"detect: {run_summary(run)}")
        if backfill:
            self.stdout.write(f"detect: {alerts_backdate(run=run)} alerts dated as scheduled")
