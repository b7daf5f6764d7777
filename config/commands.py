"""What a command says when the database cannot be reached: one line a user can act on.

manage.py prints it instead of the traceback. A command that kept some of its
work before the database went away says what with a note on the error
(`error.add_note(...)`), which ends the line.
"""

from collections.abc import Iterator
from contextlib import contextmanager

from django.conf import settings
from django.db import DatabaseError, connection

from config.errors import database_unreachable, first_line


def database_location() -> str:
    """DATABASE_URL without its password, as Django understood it."""
    database = settings.DATABASES["default"]
    engine = database["ENGINE"].rsplit(".", 1)[-1]
    if engine == "sqlite3":
        return f"sqlite:///{database['NAME']}"
    user = f"{database['USER']}@" if database.get("USER") else ""
    port = f":{database['PORT']}" if database.get("PORT") else ""
    return f"{engine}://{user}{database.get('HOST') or 'localhost'}{port}/{database['NAME']}"


def failure_reason(error: BaseException) -> str:
    """The driver's reason without its preamble: 'connection refused', 'database "x" does
    not exist', 'server closed the connection unexpectedly'."""
    reason = first_line(error).rsplit(" failed: ", 1)[-1].removeprefix("FATAL:").strip()
    # "Connection refused" reads as part of the sentence; "SSL error" keeps its capitals.
    return reason[:1].lower() + reason[1:] if reason[1:2].islower() else reason


@contextmanager
def if_the_database_goes_away(kept: str) -> Iterator[None]:
    """Around work that stores as it goes: a database lost part-way adds what was kept.

    Connecting first tells that apart from a database never reached, where nothing was.
    """
    connection.ensure_connection()
    try:
        yield
    except DatabaseError as error:
        if database_unreachable(error):
            error.add_note(kept)
        raise


def unreachable_message(error: BaseException) -> str:
    kept = "".join(f"; {note}" for note in getattr(error, "__notes__", []))
    return (
        f"cannot reach the database at {database_location()} ({failure_reason(error)}): "
        f"check DATABASE_URL and that the database is running{kept}"
    )
