"""CloudTrail record → ECS fields (DESIGN.md section 2), and back out as ECS JSON.

`normalise` turns one CloudTrail record into the Event columns; `ecs_document`
turns a stored Event into the nested document Elastic's AWS integration would
index. The table below is the one place where columns meet ECS names.
"""

import functools
import ipaddress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

# (ECS field, Event column), in the order an analyst reads them.
ECS_COLUMNS: list[tuple[str, str]] = [
    ("@timestamp", "timestamp"),
    ("event.id", "event_id"),
    ("event.ingested", "ingested"),
    ("event.provider", "provider"),
    ("event.action", "action"),
    ("event.outcome", "outcome"),
    ("cloud.account.id", "account_id"),
    ("cloud.region", "region"),
    ("user.name", "user_name"),
    ("user.id", "user_id"),
    ("aws.cloudtrail.user_identity.type", "identity_type"),
    ("aws.cloudtrail.user_identity.arn", "identity_arn"),
    ("aws.cloudtrail.user_identity.access_key_id", "access_key_id"),
    ("aws.cloudtrail.user_identity.invoked_by", "invoked_by"),
    ("aws.cloudtrail.user_identity.session_context.session_issuer.arn", "session_issuer_arn"),
    ("source.address", "source_address"),
    ("source.ip", "source_ip"),
    ("source.as.number", "as_number"),
    ("source.as.organization.name", "as_organization"),
    ("source.geo", "geo"),
    ("user_agent.original", "user_agent"),
    ("aws.cloudtrail.request_parameters", "request_parameters"),
    ("aws.cloudtrail.error_code", "error_code"),
    ("aws.cloudtrail.error_message", "error_message"),
    ("aws.cloudtrail.event_category", "event_category"),
]

# Kept as a column for the pages (the alert list, a function's invocations),
# exported as part of aws.cloudtrail.request_parameters.
FUNCTION_NAME = "aws.cloudtrail.request_parameters.functionName"
_ECS_NAMES = {column: ecs_name for ecs_name, column in ECS_COLUMNS} | {
    "function_name": FUNCTION_NAME
}

# Longest value kept in an indexed column; the raw record keeps everything.
# Attackers choose user agents and function names, and CloudTrail itself
# caps none of them in files that reach us.
MAX_FIELD_CHARS = 8192
MAX_EVENT_ID_CHARS = 256


class BadRecord(ValueError):
    """A record that cannot be stored; the message says why."""


@dataclass
class Normalised:
    columns: dict[str, Any]
    warnings: list[str] = field(default_factory=list)


def _text(value: Any) -> str | None:
    if value is None or type(value) is str:
        return value
    if isinstance(value, (dict, list)):
        return None
    return str(value)


def _get(obj: Any, *path: str) -> Any:
    for key in path:
        if not isinstance(obj, dict):
            return None
        obj = obj.get(key)
    return obj


def parse_event_time(value: Any) -> datetime:
    if not isinstance(value, str) or not value:
        raise BadRecord("eventTime is missing")
    try:
        moment = datetime.fromisoformat(value)
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        return moment.astimezone(UTC)
    except (ValueError, OverflowError):
        raise BadRecord(f"eventTime {value[:64]!r} is not an ISO 8601 time") from None


def ip_or_none(address: str | None) -> str | None:
    """The address in canonical form when it is an IPv4/IPv6 address, else None."""
    if not address:
        return None
    return _canonical_ip(address)


# A log file's records come from a few addresses over and over; parsing one
# costs microseconds, a cache hit next to nothing.
@functools.lru_cache(maxsize=65536)
def _canonical_ip(address: str) -> str | None:
    # An IPv6 zone (fe80::1%eth0) names an interface on the caller's host, not a network.
    try:
        return str(ipaddress.ip_address(address.strip().partition("%")[0]))
    except ValueError:
        return None


def normalise(record: Any) -> Normalised:
    """The Event columns for one CloudTrail record (enrichment fills source.as/geo).

    Raises BadRecord when the record cannot be stored at all.
    """
    if not isinstance(record, dict):
        raise BadRecord(f"record is a JSON {type(record).__name__}, not an object")
    event_id = record.get("eventID")
    if not isinstance(event_id, str) or not event_id:
        raise BadRecord("eventID is missing")
    if len(event_id) > MAX_EVENT_ID_CHARS:
        raise BadRecord(f"eventID is {len(event_id)} characters long")
    timestamp = parse_event_time(record.get("eventTime"))

    identity = record.get("userIdentity")
    identity = identity if type(identity) is dict else {}
    issuer = _get(identity, "sessionContext", "sessionIssuer")
    issuer = issuer if type(issuer) is dict else {}
    get = record.get
    error_code = _text(get("errorCode"))
    error_message = _text(get("errorMessage"))
    source_address = _text(get("sourceIPAddress"))
    request_parameters = get("requestParameters")
    request_parameters = request_parameters if type(request_parameters) is dict else None
    function_name = request_parameters.get("functionName") if request_parameters else None

    columns: dict[str, Any] = {
        "event_id": event_id,
        "timestamp": timestamp,
        "provider": _text(get("eventSource")) or "",
        "action": _text(get("eventName")) or "",
        "outcome": "failure" if error_code is not None or error_message is not None else "success",
        "account_id": _text(identity.get("accountId")) or _text(get("recipientAccountId")),
        "region": _text(get("awsRegion")),
        "user_name": _text(identity.get("userName")) or _text(issuer.get("userName")),
        "user_id": _text(identity.get("principalId")),
        "identity_type": _text(identity.get("type")),
        "identity_arn": _text(identity.get("arn")),
        "access_key_id": _text(identity.get("accessKeyId")),
        "invoked_by": _text(identity.get("invokedBy")),
        "session_issuer_arn": _text(issuer.get("arn")),
        "source_address": source_address,
        "source_ip": ip_or_none(source_address),
        "as_number": None,
        "as_organization": None,
        "geo": None,
        "user_agent": _text(get("userAgent")),
        "request_parameters": request_parameters,
        "function_name": function_name if type(function_name) is str else None,
        "error_code": error_code,
        "error_message": error_message,
        "event_category": _text(get("eventCategory")),
    }
    too_long = [
        column
        for column, value in columns.items()
        if type(value) is str and len(value) > MAX_FIELD_CHARS
    ]
    warnings = []
    for column in too_long:
        value = columns[column]
        warnings.append(
            f"{_ECS_NAMES[column]} is {len(value):,} characters; kept the first"
            f" {MAX_FIELD_CHARS:,} (the raw record keeps all of it)"
        )
        columns[column] = value[:MAX_FIELD_CHARS]
    return Normalised(columns=columns, warnings=warnings)


def _nest(document: dict[str, Any], dotted: str, value: Any) -> None:
    *parents, leaf = dotted.split(".")
    node = document
    for part in parents:
        node = node.setdefault(part, {})
    node[leaf] = value


def _json_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
    return value


def ecs_document(event: Any) -> dict[str, Any]:
    """A stored Event as a nested ECS document, with only the fields present."""
    document: dict[str, Any] = {}
    for ecs_name, column in ECS_COLUMNS:
        value = getattr(event, column)
        if value is None:
            continue
        if ecs_name == "@timestamp":
            document["@timestamp"] = _json_value(value)
        else:
            _nest(document, ecs_name, _json_value(value))
    document.setdefault("event", {}).update(
        {"kind": "event", "module": "aws", "dataset": "aws.cloudtrail"}
    )
    document["cloud"] = {**document.get("cloud", {}), "provider": "aws"}
    return document
