"""Principal-network history, kept current as events are stored.

For every (account, user name, AS number, AS organisation): first seen, last
seen, event count, and events per day. Updated in the transaction that stores
the events, from the events that were new, so a re-read file counts nothing twice.
"""

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from django.db import connection

from ingest.models import PrincipalNetwork, PrincipalNetworkDay

NetworkKey = tuple[str, str, int, str]  # account, user name, AS number, AS organisation


@dataclass
class _Tally:
    first_seen: datetime
    last_seen: datetime
    count: int = 0
    days: Counter[date] = field(default_factory=Counter)


def record_network_use(rows: Iterable[dict[str, Any]]) -> None:
    """Add newly stored events (their column dicts) to the principal-network history."""
    tallies: dict[NetworkKey, _Tally] = {}
    for row in rows:
        if not row["account_id"] or not row["user_name"] or row["as_number"] is None:
            continue
        key = (row["account_id"], row["user_name"], row["as_number"], row["as_organization"] or "")
        moment = row["timestamp"]
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
    ops = connection.ops
    table = ops.quote_name(PrincipalNetwork._meta.db_table)
    values = []
    for key in keys:
        tally = tallies[key]
        values.extend(
            [
                *key,
                ops.adapt_datetimefield_value(tally.first_seen),
                ops.adapt_datetimefield_value(tally.last_seen),
                tally.count,
            ]
        )
    rows = ", ".join(["(%s, %s, %s, %s, %s, %s, %s)"] * len(keys))
    # CASE rather than LEAST/GREATEST: the same statement runs on PostgreSQL and SQLite.
    sql = (  # no value is interpolated: every value is a parameter
        f"INSERT INTO {table} (account_id, user_name, as_number, as_organization, "
        f"first_seen, last_seen, event_count) VALUES {rows} "
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
    values = [
        v for pk, day, count in rows for v in (pk, connection.ops.adapt_datefield_value(day), count)
    ]
    placeholders = ", ".join(["(%s, %s, %s)"] * len(rows))
    sql = (  # no value is interpolated: every value is a parameter
        f"INSERT INTO {table} (network_id, day, event_count) VALUES {placeholders} "
        "ON CONFLICT (network_id, day) DO UPDATE SET "
        f"event_count = {table}.event_count + excluded.event_count"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, values)
