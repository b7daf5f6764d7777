"""CloudTrail log files: the S3 key layout and decoding one file's records.

Keys look like
AWSLogs/[o-ORGID/]ACCOUNT/CloudTrail/REGION/YYYY/MM/DD/ACCOUNT_CloudTrail_REGION_YYYYMMDDTHHmmZ_UNIQUE.json.gz
The time in the name is the delivery time, not the events' time, and keys do
not arrive in key order. Digest and Insight objects share the bucket but are
not event logs.
"""

import json
import math
import re
import zlib
from dataclasses import dataclass
from datetime import date
from typing import Any

import orjson

LOG_KEY = re.compile(
    r"(?:^|/)AWSLogs/(?:(?P<org>o-[a-z0-9]+)/)?(?P<account>\d{12})/CloudTrail/"
    r"(?P<region>[a-z0-9-]+)/(?P<year>\d{4})/(?P<month>\d{2})/(?P<day>\d{2})/"
    r"(?P<name>[^/]+\.json(?:\.gz)?)$"
)
NOT_EVENT_LOGS = ("CloudTrail-Digest", "CloudTrail-Insight")


class BadLogFile(ValueError):
    """A log file that cannot be decoded; the message says why."""


@dataclass(frozen=True)
class LogKey:
    organization: str | None
    account: str
    region: str
    day: date
    name: str


def parse_key(key: str) -> LogKey | None:
    """The parts of a CloudTrail event-log key, or None for any other key."""
    match = LOG_KEY.search(key)
    if match is None:
        return None
    try:
        day = date(int(match["year"]), int(match["month"]), int(match["day"]))
    except ValueError:
        return None
    return LogKey(match["org"], match["account"], match["region"], day, match["name"])


def is_event_log(key: str) -> bool:
    """True for a .json or .json.gz object that is not a digest, insight or folder marker."""
    if key.endswith("/") or not key.endswith((".json", ".json.gz")):
        return False
    return not any(f"/{part}/" in f"/{key}" for part in NOT_EVENT_LOGS)


# NUL and unpaired UTF-16 surrogates can only arrive as JSON escapes; neither
# PostgreSQL text nor jsonb can hold them. Only a hand-made (hostile) file
# carries them, so the costly walk over a record runs only when one is present.
_UNSTORABLE_ESCAPE = re.compile(rb"\\u(?:0000|[dD][89a-fA-F])")
_UNSTORABLE_CHAR = re.compile("[\x00\ud800-\udfff]")


# The deepest a record may nest (objects and arrays, the record itself being
# the first): orjson, which writes the stored records, refuses anything deeper.
# Real records nest a dozen levels at most.
MAX_RECORD_DEPTH = 254


class TooLarge(BadLogFile):
    """A log file larger, once decompressed, than one file may be."""


@dataclass(frozen=True)
class LogDocument:
    records: list[Any]
    size: int  # bytes of JSON, decompressed
    unstorable_text: bool  # some record may hold NUL or a lone surrogate
    # Some record holds NaN, Infinity or a number too large for a double
    # (1e400): floats that JSON cannot write back. Only a hand-made file does.
    infinite_numbers: bool


def decompressed(content: bytes, *, max_bytes: int) -> bytes:
    """content as JSON text: gunzipped if it is gzip, never more than max_bytes.

    A few megabytes of gzip can expand to gigabytes: the content is inflated
    a bounded piece at a time and refused as soon as it passes max_bytes.
    Concatenated gzip members are read one after the other, as gzip reads them.
    """
    if content[:2] != b"\x1f\x8b":
        if len(content) > max_bytes:
            raise TooLarge(f"is {len(content):,} bytes, more than {max_bytes:,}")
        return content
    parts: list[bytes] = []
    size = 0
    pending = content
    try:
        while pending:
            inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
            while not inflater.eof:
                part = inflater.decompress(pending, max_bytes + 1 - size)
                pending = inflater.unconsumed_tail
                if not part and not pending:
                    raise BadLogFile("not a complete gzip file (it ends before its last member)")
                size += len(part)
                if size > max_bytes:
                    raise TooLarge(f"expands to more than {max_bytes:,} bytes")
                parts.append(part)
            pending = inflater.unused_data.lstrip(b"\x00")  # padding between members
    except zlib.error as error:
        raise BadLogFile(f"not a complete gzip file ({error})") from None
    return parts[0] if len(parts) == 1 else b"".join(parts)


# A number of nineteen digits or more may be an integer beyond 64 bits, which
# orjson reads as a float. It starts after a colon, bracket, comma or space,
# maybe with a minus: found by mapping every byte to its kind (d for a digit,
# s for those, m for a minus) and looking for the runs, at memory speed. A
# string that holds such digits only sends its file the slower, exact way.
_KINDS = bytes(
    ord("d") if byte in b"0123456789" else ord("s") if byte in b":[, \t\r\n" else ord("m")
    if byte == ord("-") else ord("x")
    for byte in range(256)
)  # fmt: skip
_LONG = b"s" + b"d" * 19
_LONG_NEGATIVE = b"sm" + b"d" * 19


def may_hold_long_integers(text: bytes) -> bool:
    kinds = text.translate(_KINDS)
    return _LONG in kinds or _LONG_NEGATIVE in kinds


def quick_loads(text: bytes) -> Any:
    """JSON with orjson, several times faster than json; None where json is needed to
    read it exactly or to say what is wrong with it: an integer beyond 64 bits, NaN,
    Infinity, a lone surrogate, nesting deeper than orjson goes, text that is not JSON."""
    if may_hold_long_integers(text):
        return None
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return None


def decode_records(content: bytes, *, max_bytes: int) -> LogDocument:
    """The Records array of one log file, gzip-compressed or not.

    The elements are returned as they are: each record is checked on its own
    when it is stored, so that one bad record does not lose the others.
    """
    content = decompressed(content, max_bytes=max_bytes)
    document = quick_loads(content)
    if document is None:
        document, infinite = _exactly(content)
    else:
        infinite = False  # orjson refuses NaN and Infinity, and numbers that overflow
    if not isinstance(document, dict) or "Records" not in document:
        raise BadLogFile("not a CloudTrail log: the document has no Records")
    records = document["Records"]
    if not isinstance(records, list):
        raise BadLogFile(f"Records is a JSON {type(records).__name__}, not a list")
    return LogDocument(
        records,
        size=len(content),
        unstorable_text=bool(_UNSTORABLE_ESCAPE.search(content)),
        infinite_numbers=infinite,
    )


def _exactly(content: bytes) -> tuple[Any, bool]:
    """The document read with json, and whether it holds NaN or an infinite number."""
    infinite = False

    def constant(name: str) -> float:  # NaN, Infinity, -Infinity
        nonlocal infinite
        infinite = True
        return float(name)

    def number(text: str) -> float:
        nonlocal infinite
        value = float(text)
        infinite = infinite or math.isinf(value)
        return value

    try:
        document = json.loads(content, parse_constant=constant, parse_float=number)
    except UnicodeDecodeError as error:
        raise BadLogFile(f"not UTF-8 text ({error.reason} at byte {error.start})") from None
    except json.JSONDecodeError as error:
        raise BadLogFile(
            f"invalid JSON at line {error.lineno} column {error.colno}: {error.msg}"
        ) from None
    except RecursionError:
        raise BadLogFile(
            f"JSON nested too deeply to read (records may nest at most {MAX_RECORD_DEPTH} levels)"
        ) from None
    return document, infinite


def nests_too_deeply(value: Any) -> bool:
    """Whether value nests deeper than MAX_RECORD_DEPTH, found without recursion.

    Only records that are walked anyway (see storable) or that orjson cannot
    write are measured: orjson measures the others as it writes them.
    """
    if not isinstance(value, (dict, list)):
        return False
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        children = item.values() if isinstance(item, dict) else item
        if depth > MAX_RECORD_DEPTH:
            return True
        stack.extend((child, depth + 1) for child in children if isinstance(child, (dict, list)))
    return False


def storable(value: Any) -> Any:
    """value with NUL and unpaired surrogates replaced by U+FFFD (the same object if none)."""
    if isinstance(value, str):
        return _UNSTORABLE_CHAR.sub("\ufffd", value) if _UNSTORABLE_CHAR.search(value) else value
    if isinstance(value, list):
        return [storable(item) for item in value]
    if isinstance(value, dict):
        return {storable(key): storable(item) for key, item in value.items()}
    return value
