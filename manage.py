#!/usr/bin/env python
"""Django's command-line utility for asnwatch.

Every command, the project's and Django's, ends a problem a user can act on
with one line on stderr instead of a traceback (`--traceback` shows it):
a setting or GeoIP database that stops start-up exits 78 (EX_CONFIG), a
database that cannot be reached exits 69 (EX_UNAVAILABLE).
"""

import os
import sys

EXIT_CONFIG = 78
EXIT_UNAVAILABLE = 69


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    from django.core.exceptions import ImproperlyConfigured
    from django.core.management import execute_from_command_line
    from django.db import InterfaceError, OperationalError

    try:
        execute_from_command_line(sys.argv)
    except ImproperlyConfigured as error:
        if "--traceback" in sys.argv:
            raise
        # The message names the variable or the database file at fault.
        _fail(str(error), EXIT_CONFIG)
    except (OperationalError, InterfaceError) as error:
        # Settings loaded, or the database could not have been tried: config is importable.
        from config.commands import unreachable_message
        from config.errors import database_unreachable

        if not database_unreachable(error) or "--traceback" in sys.argv:
            raise
        _fail(unreachable_message(error), EXIT_UNAVAILABLE)


def _fail(message: str, code: int) -> None:
    # PostgreSQL's messages run over several lines and indent with tabs.
    sys.stderr.write(f"asnwatch: {' '.join(message.split())}\n")
    sys.exit(code)


if __name__ == "__main__":
    main()
