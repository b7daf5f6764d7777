"""Typed readers for settings taken from the environment.

Each reader fails loudly with ImproperlyConfigured naming the variable, so a
typo in a deployment stops start-up instead of silently running on a default.
"""

import os
from datetime import UTC, datetime, tzinfo
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def _raw(name: str) -> str | None:
    value = os.environ.get(name)
    if value is None or value.strip() == "":
        return None
    return value.strip()


def env_str(name: str, default: str | None = None) -> str | None:
    value = _raw(name)
    return default if value is None else value


def env_bool(name: str, default: bool) -> bool:
    value = _raw(name)
    if value is None:
        return default
    if value.lower() in _TRUE:
        return True
    if value.lower() in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name}={value!r} is not a boolean (use true or false)")


def env_int(name: str, default: int, *, minimum: int | None = None) -> int:
    value = _raw(name)
    if value is None:
        return default
    try:
        number = int(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name}={value!r} is not a whole number") from None
    if minimum is not None and number < minimum:
        raise ImproperlyConfigured(f"{name}={number} is below the minimum of {minimum}")
    return number


def env_list(name: str, default: list[str] | None = None) -> list[str]:
    value = _raw(name)
    if value is None:
        return list(default or [])
    return [item.strip() for item in value.split(",") if item.strip()]


def parse_instant(value: str, zone: tzinfo = UTC) -> datetime:
    """An ISO 8601 instant; a date or a time without offset is taken in zone (UTC).

    Raises ValueError naming the value. Shared by settings, commands and imports
    so that every place accepts the same spellings.
    """
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        raise ValueError(
            f"{value!r} is not an ISO 8601 date or time (e.g. 2026-01-31T00:00:00Z)"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=zone)


def env_datetime(name: str) -> datetime | None:
    value = _raw(name)
    if value is None:
        return None
    try:
        return parse_instant(value)
    except ValueError as error:
        raise ImproperlyConfigured(f"{name}: {error}") from None


def env_file(name: str) -> Path | None:
    """A path that must name an existing, readable file when it is set."""
    value = _raw(name)
    if value is None:
        return None
    path = Path(value).expanduser()
    if not path.is_file():
        raise ImproperlyConfigured(f"{name}={value!r}: no such file")
    return path


def env_dir(name: str) -> Path | None:
    """A path that must name an existing folder when it is set."""
    value = _raw(name)
    if value is None:
        return None
    path = Path(value).expanduser()
    if not path.is_dir():
        raise ImproperlyConfigured(f"{name}={value!r}: no such folder")
    return path


def cron_fields(value: str) -> dict[str, str]:
    """Cron's five fields (minute hour day-of-month month day-of-week) as crontab's keywords."""
    names = ("minute", "hour", "day_of_month", "month_of_year", "day_of_week")
    fields = value.split()
    if len(fields) != len(names):
        raise ValueError(f"{value!r} is not five cron fields, e.g. '0 8 * * mon'")
    return dict(zip(names, fields, strict=True))


def env_cron(name: str, default: str) -> str:
    """A cron schedule that Celery's crontab accepts, checked at start-up."""
    from celery.schedules import crontab  # only settings that name a schedule need Celery

    value = _raw(name) or default
    try:
        crontab(**cron_fields(value))
    except ValueError as error:
        raise ImproperlyConfigured(f"{name}: {error}") from None
    return value
