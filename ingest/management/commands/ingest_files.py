"""python manage.py ingest_files PATH… — read CloudTrail log files or folders of them."""

from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from config.commands import if_the_database_goes_away
from ingest.files import NotConfigured, ingest_paths


class Command(BaseCommand):
    help = "Read CloudTrail log files (.json, .json.gz) or folders of them, recursively."

    def add_arguments(self, parser):
        parser.add_argument("paths", nargs="+", type=Path)

    def handle(self, *args, paths: list[Path], **options) -> None:
        kept = (
            "ingest_files: the files stored before the database went away are kept; "
            "run the command again to read the rest"
        )
        try:
            with if_the_database_goes_away(kept):
                report = ingest_paths(paths)
        except NotConfigured as error:
            raise CommandError(str(error)) from None
        except BrokenProcessPool:
            raise CommandError(
                "the process decoding the files stopped (out of memory?); the files stored "
                "before it are kept: run the command again to read the rest"
            ) from None
        for problem in report.problems:
            self.stderr.write(problem)
        self.stdout.write(f"ingest_files: {report.summary()}")
        if report.problems:
            raise CommandError(f"{len(report.problems)} problems; everything else was stored")
