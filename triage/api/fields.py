"""Field types the operations' schemas share, refusing what would otherwise be coerced.

pydantic's lax mode reads a number as a Unix time and "0.5" as a datetime;
an instant here is ISO 8601 text only, read as commands and settings read one
(config.env.parse_instant: without an offset, UTC). PostgreSQL stores no NUL
character, so text holding one is refused rather than failing at the database.
"""

from datetime import datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, Field

from config.env import parse_instant
from config.queries import BIGINT_MAX


def _no_nul(value: str) -> str:
    if "\x00" in value:
        raise ValueError("must not contain a NUL character")
    return value


def _instant(value: Any) -> datetime:
    if isinstance(value, datetime):  # a default, or a value already read
        return value
    if not isinstance(value, str):
        raise ValueError("must be an ISO 8601 date and time, e.g. 2026-01-31T00:00:00Z")
    return parse_instant(value)


Text = Annotated[str, AfterValidator(_no_nul)]
Instant = Annotated[datetime, BeforeValidator(_instant)]
RowId = Annotated[int, Field(ge=1, le=BIGINT_MAX)]
