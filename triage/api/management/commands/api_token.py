"""python manage.py api_token create|list|revoke — API tokens, for automation."""

import getpass
import json

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from triage.api.models import ApiToken
from triage.api.selectors import token_public
from triage.api.tokens import token_create, token_revoke


class Command(BaseCommand):
    help = "Create, list and revoke API tokens. A token acts as its user."

    def add_arguments(self, parser):
        actions = parser.add_subparsers(dest="action", required=True)
        create = actions.add_parser("create", help="make a token for USERNAME, printed once")
        create.add_argument("username")
        create.add_argument("--name", required=True, help="what the token is for")
        create.add_argument("--expires-days", type=int, default=None, help="default: never")
        listing = actions.add_parser("list", help="tokens, one JSON object a line, never the token")
        listing.add_argument("--user", default=None, help="only this user's tokens")
        revoke = actions.add_parser("revoke", help="stop a token working, now")
        revoke.add_argument("id", type=int)

    def handle(self, *args, action: str, **options) -> None:
        try:
            getattr(self, f"_{action}")(**options)
        except ValidationError as error:
            raise CommandError("; ".join(error.messages)) from None

    def _create(self, *, username: str, name: str, expires_days: int | None, **options) -> None:
        user = get_user_model().objects.filter(username=username).first()
        if user is None:
            raise CommandError(f"no user {username!r}")
        created = token_create(user=user, name=name, expires_days=expires_days)
        self.stderr.write(
            f"api_token: created token {created.token.pk} for {username}; it is shown only now"
        )
        self.stdout.write(created.secret)

    def _list(self, *, user: str | None, **options) -> None:
        tokens = ApiToken.objects.select_related("user").order_by("id")
        if user:
            tokens = tokens.filter(user__username=user)
        for token in tokens:
            self.stdout.write(json.dumps(token_public(token), ensure_ascii=False))

    def _revoke(self, *, id: int, **options) -> None:
        token = ApiToken.objects.filter(pk=id).first()
        if token is None:
            raise CommandError(f"no token {id}")
        token_revoke(token=token, by=f"cli:{getpass.getuser()}")
        self.stdout.write(f"api_token: revoked {id}")
