"""python manage.py users add|list|roles|deactivate|activate — users and their roles from the shell.

One command for a user's whole life, as Settings → Users offers it in the
browser, so that provisioning can be scripted. Changes are recorded like the
page's, by `--by` or the shell's user (cli:NAME).
"""

import getpass

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from triage.users.services import (
    ROLES,
    user_create,
    user_roles_of,
    user_set_active,
    user_set_roles,
)


def _role_option(parser) -> None:
    parser.add_argument(
        "--role",
        action="append",
        default=[],
        choices=list(ROLES),
        dest="roles",
        help="a role to give (repeat for several): "
        + "; ".join(f"{role}: {does}" for role, does in ROLES.items()),
    )


class Command(BaseCommand):
    help = "Manage users and their roles: add, list, roles, deactivate, activate."

    def add_arguments(self, parser):
        parser.add_argument("--by", default=None, help="who makes the change (default: $USER)")
        actions = parser.add_subparsers(dest="action", required=True)
        add = actions.add_parser("add", help="create a user; prints a random password once")
        add.add_argument("username")
        _role_option(add)
        actions.add_parser(
            "list", help="every user, one per line: name, state, roles, last sign-in"
        )
        roles = actions.add_parser("roles", help="set a user's roles (no --role: none)")
        roles.add_argument("username")
        _role_option(roles)
        for action, does in (("deactivate", "stop"), ("activate", "let")):
            actions.add_parser(action, help=f"{does} a user signing in").add_argument("username")

    def handle(self, *args, action: str, by: str | None, **options) -> None:
        author = by or f"cli:{getpass.getuser()}"
        try:
            getattr(self, f"_{action}")(author, **options)
        except ValidationError as error:
            raise CommandError("; ".join(error.messages)) from None

    def _user(self, username: str):
        try:
            return get_user_model().objects.get(username=username)
        except get_user_model().DoesNotExist:
            raise CommandError(f"users: there is no user {username}") from None

    def _add(self, author: str, *, username: str, roles: list[str], **options) -> None:
        user, password = user_create(by=author, username=username, roles=roles)
        given = ", ".join(user_roles_of(user)) or "no role"
        self.stdout.write(
            f"users: sign in as {user.get_username()} ({given}) with password {password}"
        )

    def _list(self, author: str, **options) -> None:
        users = get_user_model().objects.order_by("username").prefetch_related("groups")
        for user in users:
            roles = user_roles_of(user)
            if user.is_superuser:
                roles = ["superuser", *roles]
            state = "active" if user.is_active else "deactivated"
            seen = f"{user.last_login:%Y-%m-%dT%H:%MZ}" if user.last_login else "never"
            self.stdout.write(f"{user.get_username()}\t{state}\t{','.join(roles) or '-'}\t{seen}")

    def _roles(self, author: str, *, username: str, roles: list[str], **options) -> None:
        user = self._user(username)
        changed = user_set_roles(by=author, user=user, roles=roles)
        given = ", ".join(user_roles_of(user)) or "no role"
        self.stdout.write(f"users: {username} has {given}{'' if changed else ' (unchanged)'}")

    def _deactivate(self, author: str, *, username: str, **options) -> None:
        changed = user_set_active(by=author, user=self._user(username), active=False)
        self.stdout.write(f"users: {username} deactivated{'' if changed else ' already'}")

    def _activate(self, author: str, *, username: str, **options) -> None:
        changed = user_set_active(by=author, user=self._user(username), active=True)
        self.stdout.write(f"users: {username} activated{'' if changed else ' already'}")
