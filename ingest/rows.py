"""Event rows in the form each database takes them, made before the database is reached.

PostgreSQL takes events by binary COPY. A row in COPY's binary form is a
field count, then each field as its length and its bytes in the column
type's binary form. Rows are made in that form as files are decoded (in
another process, see ingest.files), so that storing a file's events is
little more than sending bytes. SQLite takes INSERT parameters.

event.ingested, the log object and the storing transaction are known only
when a row is stored: they are the last three columns, and every row ends with
room for their fields, filled in then (see storing_fields()).
"""

import functools
import ipaddress
import struct
from datetime import UTC, datetime, timedelta
from typing import Any

from ingest.models import Event

STORING = ["ingested", "log_object_id", "stored_xid"]


def _kind(field: Any) -> str:
    # A column of another type fails here, at start-up, until copy_row can write it.
    return {
        "TextField": "text",
        "DateTimeField": "timestamptz",
        "BigIntegerField": "int8",
        "IntegerField": "int4",
        "GenericIPAddressField": "inet",
    }[field.get_internal_type()]


_KIND_ORDER = ["text", "timestamptz", "int8", "int4", "inet"]
# The columns grouped by type, so that a row is written a type at a time,
# and the storing columns last.
_COLUMNS = {f.attname: f for f in Event._meta.concrete_fields if not f.primary_key}
ATTNAMES = sorted(
    (name for name in _COLUMNS if name not in STORING),
    key=lambda name: _KIND_ORDER.index(_kind(_COLUMNS[name])),
)
FIELDS = [_COLUMNS[name] for name in [*ATTNAMES, *STORING]]
_BY_KIND = {
    kind: [name for name in ATTNAMES if _kind(_COLUMNS[name]) == kind] for kind in _KIND_ORDER
}

# --- PostgreSQL: binary COPY ---------------------------------------------------

HEADER = b"PGCOPY\n\xff\r\n\x00" + struct.pack(">ii", 0, 0)  # signature, flags, no extension
TRAILER = struct.pack(">h", -1)
_NULL = struct.pack(">i", -1)
_FIELD_COUNT = struct.pack(">h", len(FIELDS))
_length = struct.Struct(">i").pack
_INT8_FIELD = struct.Struct(">iq")
_int8_field = _INT8_FIELD.pack
_int4_field = struct.Struct(">ii").pack
_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)  # PostgreSQL's, for timestamps
_MICROSECOND = timedelta(microseconds=1)


def copy_row(columns: dict[str, Any]) -> bytes:
    """One row in COPY's binary form, ending with room for the storing fields.

    Raises UnicodeEncodeError, OverflowError or struct.error for a value the
    column cannot take.
    """
    parts = [_FIELD_COUNT]
    append, extend = parts.append, parts.extend
    get = columns.__getitem__
    for value in map(get, _BY_KIND["text"]):
        if value is None:
            append(_NULL)
        else:
            data = value.encode()
            extend((_length(len(data)), data))
    for value in map(get, _BY_KIND["timestamptz"]):
        append(_NULL if value is None else _int8_field(8, (value - _EPOCH) // _MICROSECOND))
    for value in map(get, _BY_KIND["int8"]):
        append(_NULL if value is None else _int8_field(8, value))
    for value in map(get, _BY_KIND["int4"]):
        append(_NULL if value is None else _int4_field(4, value))
    for value in map(get, _BY_KIND["inet"]):
        append(_NULL if value is None else _inet_field(value))
    append(_STORING_ROOM)
    return b"".join(parts)


def storing_fields(ingested: datetime, log_object_id: int, stored_xid: int) -> bytes:
    """The fields that end every row of one file: STORING_SIZE bytes."""
    return (
        _int8_field(8, (ingested - _EPOCH) // _MICROSECOND)
        + _int8_field(8, log_object_id)
        + _int8_field(8, stored_xid)
    )


STORING_SIZE = 3 * _INT8_FIELD.size
_STORING_ROOM = bytes(STORING_SIZE)


@functools.lru_cache(maxsize=65536)
def _inet_field(ip: str) -> bytes:
    """inet's binary form: family, prefix length, is-CIDR flag, length, address."""
    address = ipaddress.ip_address(ip)
    family = 2 if address.version == 4 else 3  # PGSQL_AF_INET, PGSQL_AF_INET6
    data = bytes([family, address.max_prefixlen, 0, len(address.packed)]) + address.packed
    return _length(len(data)) + data


# --- SQLite: INSERT parameters -----------------------------------------------------

_DATETIME_POSITIONS = [i for i, f in enumerate(FIELDS) if f.get_internal_type() == "DateTimeField"]


def insert_values(columns: dict[str, Any]) -> tuple[Any, ...]:
    """One row's INSERT parameters, without the last two (storing) columns."""
    return tuple(columns[attname] for attname in ATTNAMES)


def insert_parameters(values: tuple[Any, ...], storing: tuple[Any, ...], ops: Any) -> list[Any]:
    """values and the storing columns, adapted as the database's operations adapt them."""
    row = [*values, *storing]
    for position in _DATETIME_POSITIONS:
        row[position] = ops.adapt_datetimefield_value(row[position])
    return row
