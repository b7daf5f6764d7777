"""python manage.py ensure_login [USERNAME] — a first login for a new installation.

Creates the user with a random password and prints it once; an existing user
is left alone (change its password with `manage.py changepassword`).
"""

import secrets

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Create a first login with a random password, printed once."

    def add_arguments(self, parser):
        parser.add_argument("username", nargs="?", default="admin")

    def handle(self, *args, username: str, **options) -> None:
        users = get_user_model()
        if users.objects.filter(username=username).exists():
            self.stdout.write(
                f"ensure_login: {username} exists; its password was printed when it was "
                f"created (reset it with: python manage.py changepassword {username})"
            )
            return
        password = secrets.token_urlsafe(12)
        users.objects.create_superuser(username=username, email="", password=password)
        self.stdout.write(f"ensure_login: sign in as {username} with password {password}")
