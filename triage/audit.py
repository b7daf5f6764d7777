"""Change records read back for a page: each change with the settings it changed.

Exclusions and notification destinations keep the same kind of record
(triage.models.ChangeRecord) and show it the same way (change_history.html).
"""

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from triage.models import ChangeRecord


@dataclass
class ChangeEntry:
    change: ChangeRecord
    differences: list[tuple[str, Any, Any]]  # name, before, after, as recorded (the API's)
    shown: list[tuple[str, Any, Any]]  # label, before, after, as a page shows them
    note: str = ""  # what else the record says, in words


def readable(name: str, value: Any) -> Any:
    """A recorded value as a page shows it: yes/no, a list as text."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        return ", ".join(str(item) for item in value)
    return value


def change_history(
    changes: Iterable[ChangeRecord],
    *,
    names: Iterable[str] | None = None,
    labels: Mapping[str, str] | None = None,
    shown: Callable[[str, Any], Any] = readable,
    note: Callable[[ChangeRecord], str] = lambda change: "",
) -> list[ChangeEntry]:
    """Each change with what differs before → after (everything, for a creation).

    names: the settings compared, in the order shown; by default those the
    record itself holds. labels: their names for people (default: the name).
    """
    labels = labels or {}
    entries = []
    for change in changes:
        before, after = change.before or {}, change.after or {}
        differences = [
            (name, before.get(name), after.get(name))
            for name in (names if names is not None else after)
            if change.before is None or before.get(name) != after.get(name)
        ]
        entries.append(
            ChangeEntry(
                change=change,
                differences=differences,
                shown=[
                    (labels.get(name, name), shown(name, old), shown(name, new))
                    for name, old, new in differences
                ],
                note=note(change),
            )
        )
    return entries
