"""python manage.py exclusions add|list|disable|export|import — the allowlist from the shell."""

import getpass
import json
from pathlib import Path

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.db import connection

from ingest.management.commands.export_events import iso_instant
from triage.allowlist.services import (
    UNCONFIRMED_BROAD,
    exclusion_create,
    exclusion_disable,
    exclusion_export,
    exclusion_import,
)
from triage.models import Exclusion

CONFIRM_HELP = (
    "save an exclusion hiding more than EXCLUSION_CONFIRM_SHARE_PERCENT of the rule's "
    "recent candidate events (the audit row records the confirmation)"
)


class Command(BaseCommand):
    help = "Manage the ASN allowlist: add, list, disable, export, import."

    def add_arguments(self, parser):
        parser.add_argument("--by", default=None, help="who makes the change (default: $USER)")
        actions = parser.add_subparsers(dest="action", required=True)
        add = actions.add_parser("add", help="add an exclusion (at least one condition)")
        add.add_argument("--asn", type=int, help="source.as.number")
        add.add_argument("--as-org", default="", help="organisation pattern, * wildcard")
        add.add_argument("--account", default="", help="cloud.account.id")
        add.add_argument("--user-name", default="", help="user.name")
        add.add_argument("--reason", required=True)
        add.add_argument("--expires", type=iso_instant, help="ISO time it stops applying")
        add.add_argument("--confirm-broad", action="store_true", help=CONFIRM_HELP)
        actions.add_parser("list", help="every exclusion, one per line")
        disable = actions.add_parser("disable", help="stop an exclusion applying")
        disable.add_argument("id", type=int)
        actions.add_parser("export", help="every exclusion as a JSON array")
        load = actions.add_parser("import", help="create or update exclusions from an export")
        load.add_argument("file", type=Path)
        load.add_argument("--confirm-broad", action="store_true", help=CONFIRM_HELP)

    def handle(self, *args, action: str, by: str | None, **options) -> None:
        author = by or f"cli:{getpass.getuser()}"
        # Validating an exclusion's conditions asks the database; one that cannot be reached
        # would only be reported after a logged warning for each condition.
        connection.ensure_connection()
        try:
            getattr(self, f"_{action}")(author, **options)
        except ValidationError as error:
            message = "; ".join(error.messages)
            if getattr(error, "code", None) == UNCONFIRMED_BROAD:
                message += " Add --confirm-broad to save it anyway."
            raise CommandError(message) from None

    def _add(self, author: str, **options) -> None:
        exclusion = exclusion_create(
            by=author,
            reason=options["reason"],
            as_number=options["asn"],
            as_organization=options["as_org"],
            account_id=options["account"],
            user_name=options["user_name"],
            expires_at=options["expires"],
            confirm_broad=options["confirm_broad"],
        )
        self.stdout.write(f"exclusions: added {exclusion.pk}")

    def _list(self, author: str, **options) -> None:
        rows = Exclusion.objects.order_by("id")
        for row in rows:
            conditions = [
                f"asn={row.as_number}" if row.as_number is not None else "",
                f"as-org={row.as_organization}" if row.as_organization else "",
                f"account={row.account_id}" if row.account_id else "",
                f"user-name={row.user_name}" if row.user_name else "",
            ]
            state = "enabled" if row.enabled else "disabled"
            expiry = f" expires {row.expires_at:%Y-%m-%dT%H:%MZ}" if row.expires_at else ""
            self.stdout.write(
                f"{row.pk}\t{state}{expiry}\t{' '.join(c for c in conditions if c)}\t"
                f"{row.reason} ({row.created_by})"
            )
        self.stderr.write(f"exclusions: {rows.count()} exclusions")

    def _disable(self, author: str, **options) -> None:
        exclusion = Exclusion.objects.filter(pk=options["id"]).first()
        if exclusion is None:
            raise CommandError(f"no exclusion {options['id']}")
        exclusion_disable(exclusion=exclusion, by=author)
        self.stdout.write(f"exclusions: disabled {exclusion.pk}")

    def _export(self, author: str, **options) -> None:
        self.stdout.write(json.dumps(exclusion_export(), indent=2, ensure_ascii=False))

    def _import(self, author: str, **options) -> None:
        path: Path = options["file"]
        try:
            items = json.loads(path.read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
            raise CommandError(f"{path}: {error}") from None
        if not isinstance(items, list):
            raise CommandError(f"{path}: not a JSON array of exclusions")
        created, changed, same = exclusion_import(
            items=items, by=author, confirm_broad=options["confirm_broad"]
        )
        self.stdout.write(
            f"exclusions: imported {path}: {created} created, {changed} changed, {same} unchanged"
        )
