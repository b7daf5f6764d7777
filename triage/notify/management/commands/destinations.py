"""python manage.py destinations add|list|test|disable|enable|remove — where alerts are sent."""

import getpass
import json

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from triage.notify.models import Delivery, Destination
from triage.notify.removal import destination_remove
from triage.notify.selectors import destinations_public
from triage.notify.services import (
    destination_create,
    destination_disable,
    destination_test,
    destination_update,
)


class Command(BaseCommand):
    help = "Manage where alerts are sent: add, list, test, disable, enable, remove."

    def add_arguments(self, parser):
        parser.add_argument("--by", default=None, help="who makes the change (default: $USER)")
        actions = parser.add_subparsers(dest="action", required=True)
        add = actions.add_parser("add", help="add a destination")
        add.add_argument("--kind", required=True, choices=Destination.Kind.values)
        add.add_argument("--name", required=True)
        target = add.add_mutually_exclusive_group(required=True)
        target.add_argument("--url", help="webhook URL, or Apprise URL (slack://…, json://…)")
        target.add_argument("--to", help="e-mail addresses, comma-separated")
        add.add_argument("--secret", default="", help="webhook signing secret, whsec_…")
        add.add_argument("--mode", default="each", choices=Destination.Mode.values)
        add.add_argument("--throttle-minutes", type=int, default=0)
        add.add_argument("--account", action="append", default=[], help="cloud.account.id")
        add.add_argument("--user-name", action="append", default=[], help="user.name")
        add.add_argument("--as-org", action="append", default=[], help="pattern, * wildcard")
        add.add_argument("--asn", action="append", type=int, default=[], help="source.as.number")
        add.add_argument(
            "--report-joined", action="store_true", help="report an alert again when events join it"
        )
        listing = actions.add_parser("list", help="every destination, one JSON object a line")
        listing.add_argument(
            "--all", action="store_true", help="removed destinations too, marked removed"
        )
        for name, purpose in (
            ("test", "send a test message now"),
            ("disable", "stop sending to a destination; its messages wait"),
            ("enable", "send to a disabled destination again, its waiting messages first"),
            ("remove", "disable and hide a destination; its deliveries and history are kept"),
        ):
            actions.add_parser(name, help=purpose).add_argument("id", type=int)

    def handle(self, *args, action: str, by: str | None, **options) -> None:
        author = by or f"cli:{getpass.getuser()}"
        try:
            getattr(self, f"_{action}")(author, **options)
        except ValidationError as error:
            raise CommandError("; ".join(error.messages)) from None

    def _destination(self, pk: int) -> Destination:
        try:
            return Destination.objects.get(pk=pk)
        except Destination.DoesNotExist:
            raise CommandError(f"no destination {pk}") from None

    def _add(self, author: str, **options) -> None:
        kind = options["kind"]
        if kind == Destination.Kind.EMAIL and not options["to"]:
            raise CommandError("an e-mail destination takes --to ADDR,…")
        if kind != Destination.Kind.EMAIL and not options["url"]:
            raise CommandError(f"a {kind} destination takes --url URL")
        if options["secret"] and kind != Destination.Kind.WEBHOOK:
            raise CommandError("--secret signs webhooks; other kinds do not take it")
        if options["throttle_minutes"] < 0:
            raise CommandError("--throttle-minutes is 0 or more")
        destination = destination_create(
            by=author,
            name=options["name"],
            kind=kind,
            target=options["to"] or options["url"],
            secret=options["secret"],
            mode=options["mode"],
            throttle_minutes=options["throttle_minutes"],
            accounts=options["account"],
            user_names=options["user_name"],
            as_organizations=options["as_org"],
            as_numbers=options["asn"],
            report_joined=options["report_joined"],
        )
        self.stdout.write(f"destinations: added {destination.pk}")
        if kind == Destination.Kind.WEBHOOK and not options["secret"]:
            # The one time it is shown: the receiver needs it to check signatures.
            self.stdout.write(f"signing secret (shown only now): {destination.secret}")

    def _list(self, author: str, **options) -> None:
        rows = destinations_public(include_removed=options["all"])
        for row in rows:
            self.stdout.write(json.dumps(row, ensure_ascii=False))
        self.stderr.write(f"destinations: {len(rows)} destinations")

    def _test(self, author: str, *, id: int, **options) -> None:
        delivery = destination_test(destination=self._destination(id), by=author)
        if delivery.status != Delivery.Status.DELIVERED:
            raise CommandError(f"destination {id}: the test message failed: {delivery.last_error}")
        self.stdout.write(f"destinations: test message delivered to {id}")

    def _disable(self, author: str, *, id: int, **options) -> None:
        destination_disable(destination=self._destination(id), by=author)
        self.stdout.write(f"destinations: disabled {id}")

    def _enable(self, author: str, *, id: int, **options) -> None:
        destination = self._destination(id)
        if destination.removed_at is not None:
            raise CommandError(f"destination {id} is removed; add a new one instead")
        destination_update(destination=destination, by=author, enabled=True)
        self.stdout.write(f"destinations: enabled {id}")

    def _remove(self, author: str, *, id: int, **options) -> None:
        destination_remove(destination=self._destination(id), by=author)
        self.stdout.write(f"destinations: removed {id}")
