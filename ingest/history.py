"""Principal-network history, kept current as events are stored.

For every (account, user name, AS number, AS organisation): first seen, last
seen, event count, and events per day. Updated in the transaction that stores
the events, from the events that were new, so a re-read file counts nothing twice.
"""

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime

from django.db import connection

from ingest.models import PrincipalNetwork, PrincipalNetworkDay

NetworkKey = tuple[str, str, int, str]  # account, user name, AS number, AS organisation
# An event's account, user name, AS number, AS organisation and @timestamp.
NetworkUse = tuple[str | None, str | None, int | None, str | None, datetime]


@dataclass
class _Tally:
    first_seen: datetime
    last_seen: datetime
    count: int = 0
    days: Counter[date] = field(default_factory=Counter)


def record_network_use(uses: Iterable[NetworkUse]) -> None:
    """Add newly stored events to the principal-network history."""
    tallies: dict[NetworkKey, _Tally] = {}
    for account_id, user_name, as_number, as_organization, moment in uses:
        if not account_id or not user_name or as_number is None:
            continue
        key = (account_id, user_name, as_number, as_organization or "")
        tally = tallies.get(key)
        if tally is None:
            tally = tallies[key] = _Tally(first_seen=moment, last_seen=moment)
        tally.first_seen = min(tally.first_seen, moment)
        tally.last_seen = max(tally.last_seen, moment)
        tally.count += 1
        tally.days[moment.date()] += 1
    if not tallies:
        return
    # Sorted keys: concurrent writers lock rows in the same order, never deadlocking.
    keys = sorted(tallies)
    ids = _upsert_networks(keys, tallies)
    _upsert_days(
        [(ids[key], day, count) for key in keys for day, count in tallies[key].days.items()]
    )


def _upsert_networks(keys: list[NetworkKey], tallies: dict[NetworkKey, _Tally]) -> dict:
    table = connection.ops.quote_name(PrincipalNetwork._meta.db_table)
    rows = [
        (*key, tallies[key].first_seen, tallies[key].last_seen, tallies[key].count) for key in keys
    ]
    source, values = _rows_source(
        rows, ["text", "text", "bigint", "text", "timestamptz", "timestamptz", "bigint"]
    )
    # CASE rather than LEAST/GREATEST: the same statement runs on PostgreSQL and SQLite.
    sql = (  # no value is interpolated: every value is a parameter
        f"INSERT INTO {table} (account_id, user_name, as_number, as_organization, "
        f"first_seen, last_seen, event_count) {source} "
        "ON CONFLICT (account_id, user_name, as_number, as_organization) DO UPDATE SET "
        f"first_seen = CASE WHEN excluded.first_seen < {table}.first_seen "
        f"THEN excluded.first_seen ELSE {table}.first_seen END, "
        f"last_seen = CASE WHEN excluded.last_seen > {table}.last_seen "
        f"THEN excluded.last_seen ELSE {table}.last_seen END, "
        f"event_count = {table}.event_count + excluded.event_count "
        "RETURNING id, account_id, user_name, as_number, as_organization"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, values)
        return {(a, u, n, o): pk for pk, a, u, n, o in cursor.fetchall()}


def _upsert_days(rows: list[tuple[int, date, int]]) -> None:
    table = connection.ops.quote_name(PrincipalNetworkDay._meta.db_table)
    source, values = _rows_source(rows, ["bigint", "date", "integer"])
    sql = (  # no value is interpolated: every value is a parameter
        f"INSERT INTO {table} (network_id, day, event_count) {source} "
        "ON CONFLICT (network_id, day) DO UPDATE SET "
        f"event_count = {table}.event_count + excluded.event_count"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, values)


def _rows_source(rows: list[tuple], types: list[str]) -> tuple[str, list]:
    """The rows to insert as SQL and its parameters.

    On PostgreSQL, one array per column, unnested: the statement is the same
    whatever the number of rows, so the driver need not parse a new one with
    thousands of placeholders for every file. SQLite takes VALUES.
    """
    if connection.vendor == "postgresql":
        arrays = ", ".join(f"%s::{type_}[]" for type_ in types)
        return f"SELECT * FROM unnest({arrays})", [
            list(column) for column in zip(*rows, strict=True)
        ]
    placeholders = ", ".join(["(" + ", ".join(["%s"] * len(types)) + ")"] * len(rows))
    adapt = {
        "timestamptz": connection.ops.adapt_datetimefield_value,
        "date": connection.ops.adapt_datefield_value,
    }
    values = [
        adapt[type_](value) if type_ in adapt else value
        for row in rows
        for type_, value in zip(types, row, strict=True)
    ]
    return f"VALUES {placeholders}", values
