"""python manage.py poll — read every configured CloudTrail source once."""

from django.core.management.base import BaseCommand, CommandError

from config.commands import if_the_database_goes_away
from ingest.sources import configured_sources, poll_sources


class Command(BaseCommand):
    help = (
        "Read every configured CloudTrail source once (S3 bucket, SQS queue, inbox folder),"
        " printing progress; the first S3 poll backfills from CLOUDTRAIL_START."
    )

    def handle(self, *args, **options) -> None:
        if not configured_sources():
            raise CommandError(
                "poll: no source is configured (set CLOUDTRAIL_S3_BUCKET, "
                "CLOUDTRAIL_SQS_QUEUE_URL or CLOUDTRAIL_INBOX_DIR)"
            )
        show = self.stdout.write if options["verbosity"] >= 1 else None
        kept = (
            "poll: the objects stored before the database went away are kept; "
            "the next poll reads the rest"
        )
        with if_the_database_goes_away(kept):
            reports = poll_sources(progress=show)
        for report in reports:
            for problem in report.problems:
                self.stderr.write(f"{report.source}: {problem}")
        problems = sum(len(report.problems) for report in reports)
        busy = sum(report.busy for report in reports)

        def total(name: str) -> int:
            return sum(getattr(report, name) for report in reports)

        self.stdout.write(
            f"poll: {len(reports)} sources{f' ({busy} busy)' if busy else ''}, "
            f"{total('objects')} objects, {total('events')} new events, "
            f"{total('duplicates')} duplicates, {total('skipped')} skipped, "
            f"{total('failed')} failed, {total('left')} left for the next poll, {problems} problems"
        )
        if problems:
            raise CommandError(f"{problems} problems; everything else was read")
