"""The CloudTrail records behind stored events, kept compressed a block of a log file at a time.

An event's row holds the columns the pages filter, sort and list on. The
record it was made from is kept once, with the other records of its log file:
BLOCK_RECORDS of them end to end in one zstd frame (ingest.models.LogRecords),
about a tenth of their JSON. The event's row says where its record is (its log
object and its place among that file's stored records); the other ECS fields
(DESIGN.md section 2) are made from the record again, by the same
ingest.ecs.normalise that made the row, so they are what they were when the
event was stored. Enrichment (source.geo) depends on the GeoIP database of the
day the event was stored, so it is kept beside the record in the same frame.

Reading one event's record decompresses its block only (a few hundred KB of
JSON at most); blocks read recently are kept decompressed (see
ingest.models.load_details), so a page of events costs a block each at most
once. Nothing here touches the database.
"""

import json
import struct
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import orjson
import zstandard

from ingest.ecs import BadRecord, normalise
from ingest.logfiles import MAX_RECORD_DEPTH, may_hold_long_integers, nests_too_deeply

BLOCK_RECORDS = 256  # records per frame: small enough to read one, large enough to compress
LEVEL = 3  # zstd's default: ~12x on CloudTrail JSON at ~1 µs a record; higher gains little
_COUNT = struct.Struct("<I")

# The ECS columns an event row leaves out, made again from the record (and source.geo).
FROM_RECORD = (
    "region", "user_id", "identity_arn", "session_issuer_arn", "source_address", "geo",
    "user_agent", "request_parameters", "error_code", "error_message", "event_category",
)  # fmt: skip


class TooDeep(ValueError):
    """A record nested deeper than a record may be (logfiles.MAX_RECORD_DEPTH)."""


class NotJson(ValueError):
    """A record holding NaN or an infinite number, which JSON has no way to write."""


def encode_exactly(record: Any) -> bytes:
    """A record's JSON, integers of any size exact. Raises TooDeep, NotJson."""
    if nests_too_deeply(record):
        raise TooDeep(f"nested more than {MAX_RECORD_DEPTH} levels deep")
    try:
        text = json.dumps(record, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
        return text.encode()
    except ValueError:
        raise NotJson("holds NaN or an infinite number, which JSON cannot hold") from None


def encode_quickly(record: Any) -> bytes:
    """The same JSON, several times faster, for records holding no NaN and no infinite
    number (orjson would write those as null)."""
    try:
        return orjson.dumps(record)
    except TypeError:  # an integer beyond 64 bits, or nesting beyond orjson's limit
        return encode_exactly(record)


class BadBlock(ValueError):
    """A stored block that cannot be read back (the message says why)."""


def pack_block(records: list[bytes], geos: list[bytes]) -> bytes:
    """One frame: each record's JSON as stored, and beside it its source.geo's (or b"")."""
    if len(records) != len(geos):
        raise ValueError("a geo for every record")
    count = len(records)
    ends = []
    end = 0
    for piece in (*records, *geos):
        end += len(piece)
        ends.append(end)
    header = _COUNT.pack(count) + struct.pack(f"<{2 * count}Q", *ends)
    return zstandard.ZstdCompressor(level=LEVEL).compress(header + b"".join((*records, *geos)))


@dataclass(frozen=True)
class Block:
    """One decompressed frame: its records' JSON and their source.geo JSON."""

    records: tuple[bytes, ...]
    geos: tuple[bytes, ...]

    @classmethod
    def unpack(cls, frame: bytes) -> "Block":
        try:
            data = zstandard.ZstdDecompressor().decompress(frame)
            (count,) = _COUNT.unpack_from(data)
            ends = struct.unpack_from(f"<{2 * count}Q", data, _COUNT.size)
        except (zstandard.ZstdError, struct.error) as error:
            raise BadBlock(f"cannot be decompressed: {error}") from None
        body = memoryview(data)[_COUNT.size + 16 * count :]
        pieces = [bytes(body[start:end]) for start, end in zip((0, *ends), ends, strict=False)]
        return cls(records=tuple(pieces[:count]), geos=tuple(pieces[count:]))

    def details(self, index: int) -> "Details":
        if not 0 <= index < len(self.records):
            return NO_DETAILS
        return Details(record=self.records[index], geo_json=self.geos[index])


def loads(data: bytes) -> Any:
    """JSON as stored: with orjson, or json where a number may be beyond orjson's."""
    if may_hold_long_integers(data):
        return json.loads(data)
    return orjson.loads(data)


@dataclass(frozen=True)
class Details:
    """An event's stored record and what is made from it again."""

    record: bytes | None  # the record's JSON, byte for byte as stored; None when not kept
    geo_json: bytes = b""

    @cached_property
    def raw(self) -> Any:
        return None if self.record is None else loads(self.record)

    @cached_property
    def columns(self) -> dict[str, Any]:
        if self.raw is None:
            return {}
        try:
            columns = normalise(self.raw).columns
        except BadRecord:  # stored by a version that took what this one refuses
            columns = {}
        columns["geo"] = loads(self.geo_json) if self.geo_json else None
        return columns

    def value(self, name: str) -> Any:
        return self.columns.get(name)


NO_DETAILS = Details(record=None)
