"""Change records read back for a page: each change with the settings it changed.

Exclusions and notification destinations keep the same kind of record
(triage.models.ChangeRecord) and show it the same way (change_history.html).
"""

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from triage.models import ChangeRecord


@dataclass
class ChangeEntry:
    change: ChangeRecord
    differences: list[tuple[str, Any, Any]]  # name, before, after


def change_history(
    changes: Iterable[ChangeRecord],
    *,
    names: Iterable[str] | None = None,
    shown: Callable[[Any], Any] = lambda value: value,
) -> list[ChangeEntry]:
    """Each change with what differs before → after (everything, for a creation).

    names: the settings compared, in the order shown; by default those the
    record itself holds.
    """
    entries = []
    for change in changes:
        before, after = change.before or {}, change.after or {}
        differences = [
            (name, shown(before.get(name)), shown(after.get(name)))
            for name in (names if names is not None else after)
            if change.before is None or before.get(name) != after.get(name)
        ]
        entries.append(ChangeEntry(change=change, differences=differences))
    return entries
