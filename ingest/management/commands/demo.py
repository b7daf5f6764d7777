"""python manage.py demo — write the demo GeoIP databases and CloudTrail logs for `make run`."""

from datetime import datetime
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from config.env import parse_instant
from ingest.demo import write_demo


class Command(BaseCommand):
    help = (
        "Write demo data: ASN and City databases and CloudTrail log files of three accounts,"
        " with a few stolen-credential stories in the last full week and the week in progress."
        " The rule learns for 10 days, so fewer than 11 days of data raise no alerts."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--target", type=Path, default=None, help="folder to write to (default: var/demo)"
        )
        parser.add_argument("--days", type=int, default=21, help="days of logs (default: 21)")
        parser.add_argument(
            "--now",
            type=parse_instant,
            default=None,
            help="end of the logs, ISO 8601 (default: now)",
        )
        parser.add_argument("--seed", type=int, default=7)
        parser.add_argument("--force", action="store_true", help="rewrite existing demo data")

    def handle(
        self,
        *args: object,
        target: Path | None,
        days: int,
        now: datetime | None,
        seed: int,
        force: bool,
        **options: object,
    ) -> None:
        if days < 1:
            raise CommandError("--days must be at least 1")
        target = Path(target or settings.VAR_DIR / "demo")
        asn_db, city_db = target / "asn.mmdb", target / "city.mmdb"
        if asn_db.exists() and not force:
            self.stdout.write(f"demo: kept the demo data in {target} (--force rewrites it)")
        else:
            summary = write_demo(target, now=now or timezone.now(), days=days, seed=seed)
            self.stdout.write(f"demo: {summary.describe()}")
        self.stdout.write(f"GEOIP_ASN_DB={asn_db} GEOIP_CITY_DB={city_db}")
