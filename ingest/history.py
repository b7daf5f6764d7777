"""Principal-network and credential-network history, kept current as events are stored.

For every (account, user name, AS number, AS organisation): first seen, last
seen, event count, and events per day; for every (access key, AS number): first
and last use, count and the organisation of the last use. Updated in the
transaction that stores the events, from the events that were new, so a re-read
file counts nothing twice.
"""

from array import array
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

import orjson
from django.db import connection

from ingest.models import CredentialNetwork, PrincipalNetwork, PrincipalNetworkDay

NetworkKey = tuple[str, str, int, str]  # account, user name, AS number, AS organisation
# Access key, AS number (CredentialNetwork.NO_AS for none), AS organisation (or None).
CredentialKey = tuple[str, int, str | None]
_UNIX_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
_DAY = 86_400_000_000  # microseconds


@dataclass
class NetworkUses:
    """The network each of a file's events came from, and when.

    Kept as arrays of numbers, as it passes between processes with the file's
    rows; an event with no account, user name or AS number counts for none.
    """

    networks: list[NetworkKey] = field(default_factory=list)
    network_of: array = field(default_factory=lambda: array("q"))  # index in networks, or -1
    moments: array = field(default_factory=lambda: array("q"))  # µs since the Unix epoch
    # The access key each event used, and from where, alike.
    credentials: list[CredentialKey] = field(default_factory=list)
    credential_of: array = field(default_factory=lambda: array("q"))
    _indices: dict[NetworkKey, int] = field(default_factory=dict, repr=False)
    _credential_indices: dict[CredentialKey, int] = field(default_factory=dict, repr=False)

    def add(
        self,
        account_id: str | None,
        user_name: str | None,
        as_number: int | None,
        as_organization: str | None,
        moment: datetime,
        access_key_id: str | None = None,
    ) -> None:
        """The next event's network, then the next's, and so on."""
        index = -1
        if account_id and user_name and as_number is not None:
            key = (account_id, user_name, as_number, as_organization or "")
            index = self._indices.setdefault(key, len(self.networks))
            if index == len(self.networks):
                self.networks.append(key)
        self.network_of.append(index)
        self.moments.append((moment - _UNIX_EPOCH) // _MICROSECOND)
        credential = -1
        if access_key_id:
            number = CredentialNetwork.NO_AS if as_number is None else as_number
            used = (access_key_id, number, as_organization)
            credential = self._credential_indices.setdefault(used, len(self.credentials))
            if credential == len(self.credentials):
                self.credentials.append(used)
        self.credential_of.append(credential)

    def days(self) -> set[date]:
        """The UTC days of the events."""
        epoch = _UNIX_EPOCH.date()
        return {epoch + timedelta(days=n) for n in {moment // _DAY for moment in self.moments}}

    def newest(self, events: Iterable[int]) -> datetime | None:
        """The latest time among these events (their indices)."""
        moments = self.moments
        latest = max((moments[event] for event in events), default=None)
        return None if latest is None else _moment(latest)


@dataclass
class _Tally:
    first_seen: int
    last_seen: int
    count: int = 0
    days: Counter[int] = field(default_factory=Counter)


def record_network_use(stored: Iterable[tuple[NetworkUses, Iterable[int]]]) -> None:
    """Add newly stored events to the principal-network history.

    stored holds, for each file stored, its events' network uses and the
    indices of the events that were new.
    """
    tallies: dict[NetworkKey, _Tally] = {}
    for uses, events in stored:
        network_of, moments = uses.network_of, uses.moments
        file_tallies: list[_Tally | None] = [None] * len(uses.networks)
        for event in events:
            network = network_of[event]
            if network < 0:
                continue
            moment = moments[event]
            tally = file_tallies[network]
            if tally is None:
                key = uses.networks[network]
                tally = tallies.get(key)
                if tally is None:
                    tally = tallies[key] = _Tally(first_seen=moment, last_seen=moment)
                file_tallies[network] = tally
            if moment < tally.first_seen:
                tally.first_seen = moment
            elif moment > tally.last_seen:
                tally.last_seen = moment
            tally.count += 1
            tally.days[moment // _DAY] += 1
    _record_credential_use(stored)
    if not tallies:
        return
    # Sorted keys: concurrent writers lock rows in the same order, never deadlocking.
    by_key = sorted(tallies.items())
    ids = _upsert_networks(by_key)
    _upsert_days(
        [
            (ids[key], _day(day), count)
            for key, tally in by_key
            for day, count in sorted(tally.days.items())
        ]
    )


@dataclass
class _CredentialTally:
    first_seen: int
    last_seen: int
    organization: str | None  # at last_seen
    count: int = 0


def _record_credential_use(stored: Iterable[tuple[NetworkUses, Iterable[int]]]) -> None:
    tallies: dict[tuple[str, int], _CredentialTally] = {}
    for uses, events in stored:
        credential_of, moments = uses.credential_of, uses.moments
        for event in events:
            credential = credential_of[event]
            if credential < 0:
                continue
            moment = moments[event]
            access_key_id, as_number, organization = uses.credentials[credential]
            tally = tallies.get((access_key_id, as_number))
            if tally is None:
                tally = _CredentialTally(moment, moment, organization)
                tallies[(access_key_id, as_number)] = tally
            if moment < tally.first_seen:
                tally.first_seen = moment
            elif moment >= tally.last_seen:
                tally.last_seen = moment
                tally.organization = organization
            tally.count += 1
    if not tallies:
        return
    table = connection.ops.quote_name(CredentialNetwork._meta.db_table)
    rows = [
        (*key, t.organization, _moment(t.first_seen), _moment(t.last_seen), t.count)
        for key, t in sorted(tallies.items())  # sorted: rows locked in one order, see above
    ]
    source, values = _rows_source(
        rows,
        [
            ("access_key_id", "text"),
            ("as_number", "bigint"),
            ("as_organization", "text"),
            ("first_seen", "timestamptz"),
            ("last_seen", "timestamptz"),
            ("event_count", "bigint"),
        ],
    )
    sql = (  # no value is interpolated: every value is a parameter
        f"INSERT INTO {table} (access_key_id, as_number, as_organization, first_seen, "
        f"last_seen, event_count) {source} "
        "ON CONFLICT (access_key_id, as_number) DO UPDATE SET "
        f"as_organization = CASE WHEN excluded.last_seen >= {table}.last_seen "
        f"THEN excluded.as_organization ELSE {table}.as_organization END, "
        f"first_seen = CASE WHEN excluded.first_seen < {table}.first_seen "
        f"THEN excluded.first_seen ELSE {table}.first_seen END, "
        f"last_seen = CASE WHEN excluded.last_seen > {table}.last_seen "
        f"THEN excluded.last_seen ELSE {table}.last_seen END, "
        f"event_count = {table}.event_count + excluded.event_count"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, values)


def _moment(microseconds: int) -> datetime:
    return _UNIX_EPOCH + microseconds * _MICROSECOND


def _day(days: int) -> date:
    return date(1970, 1, 1) + timedelta(days=days)


def _upsert_networks(by_key: list[tuple[NetworkKey, _Tally]]) -> dict[NetworkKey, int]:
    table = connection.ops.quote_name(PrincipalNetwork._meta.db_table)
    rows = [
        (*key, _moment(tally.first_seen), _moment(tally.last_seen), tally.count)
        for key, tally in by_key
    ]
    source, values = _rows_source(
        rows,
        [
            ("account_id", "text"),
            ("user_name", "text"),
            ("as_number", "bigint"),
            ("as_organization", "text"),
            ("first_seen", "timestamptz"),
            ("last_seen", "timestamptz"),
            ("event_count", "bigint"),
        ],
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
    source, values = _rows_source(
        rows, [("network_id", "bigint"), ("day", "date"), ("event_count", "integer")]
    )
    sql = (  # no value is interpolated: every value is a parameter
        f"INSERT INTO {table} (network_id, day, event_count) {source} "
        "ON CONFLICT (network_id, day) DO UPDATE SET "
        f"event_count = {table}.event_count + excluded.event_count"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, values)


def _rows_source(rows: list[tuple], columns: list[tuple[str, str]]) -> tuple[str, list]:
    """The rows to insert as SQL and its parameters.

    On PostgreSQL, one JSON array of them, the one parameter of a statement
    that is the same whatever the number of rows: nothing for the driver to
    build or quote row by row. SQLite takes VALUES.
    """
    if connection.vendor == "postgresql":
        names = [name for name, _ in columns]
        document = orjson.dumps([dict(zip(names, row, strict=True)) for row in rows])
        record = ", ".join(f"{name} {type_}" for name, type_ in columns)
        return f"SELECT * FROM json_to_recordset(%s::json) AS r({record})", [document.decode()]
    placeholders = ", ".join(["(" + ", ".join(["%s"] * len(columns)) + ")"] * len(rows))
    adapt = {
        "timestamptz": connection.ops.adapt_datetimefield_value,
        "date": connection.ops.adapt_datefield_value,
    }
    values = [
        adapt[type_](value) if type_ in adapt else value
        for row in rows
        for (_, type_), value in zip(columns, row, strict=True)
    ]
    return f"VALUES {placeholders}", values
