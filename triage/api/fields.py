"""Field types the operations' schemas share, refusing what would otherwise be coerced.

pydantic's lax mode reads a number as a Unix time and "0.5" as a datetime;
an instant here is ISO 8601 text only, read as commands and settings read one
(config.env.parse_instant: without an offset, UTC). PostgreSQL stores no NUL
character, so text holding one is refused rather than failing at the database.
"""

from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, Field

from config.env import parse_instant
from config.queries import BIGINT_MAX


def _no_nul(value: str) -> str:
    if "\x00" in value:
        raise ValueError("must not contain a NUL character")
    return value


def _instant(value: Any) -> datetime:
    if isinstance(value, str):
        value = parse_instant(value)
    elif not isinstance(value, datetime):
        raise ValueError("must be an ISO 8601 date and time, e.g. 2026-01-31T00:00:00Z")
    # In UTC: PostgreSQL refuses offsets beyond 15:59, which ISO 8601 allows.
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise ValueError("is out of range (years 1 to 9999 in UTC)") from None


Text = Annotated[str, AfterValidator(_no_nul)]
Instant = Annotated[datetime, BeforeValidator(_instant)]
RowId = Annotated[int, Field(ge=1, le=BIGINT_MAX)]
