"""Scratch PostgreSQL databases for the benchmarks: made fresh, counted, dropped."""

from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg import sql


def _on_server(url: str, statement: str) -> None:
    """Run a DATABASE statement about url's database, from the server's postgres database."""
    parts = urlsplit(url)
    name = sql.Identifier(parts.path.lstrip("/"))
    admin = urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(sql.SQL(statement).format(name))


def recreate_database(url: str) -> None:
    drop_database(url)
    _on_server(url, "CREATE DATABASE {}")


def drop_database(url: str) -> None:
    _on_server(url, "DROP DATABASE IF EXISTS {} WITH (FORCE)")


def stored_events(url: str) -> int:
    with psycopg.connect(url) as connection:
        return connection.execute("SELECT count(*) FROM ingest_event").fetchone()[0]
