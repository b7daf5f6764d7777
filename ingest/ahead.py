"""Work on the next few items while the caller handles the current one.

Storing is serial (one transaction per log file), but fetching and decoding
the next files need not wait for it: while PostgreSQL takes in one file's
events, threads download the following ones, or another process decodes them.
Results come back in the items' order, and at most `depth` items are in
flight, so memory stays bounded however many items there are.
"""

from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Executor, Future
from itertools import islice
from typing import TypeVar

Item = TypeVar("Item")
Result = TypeVar("Result")


def worked_ahead(
    items: Iterable[Item], work: Callable[[Item], Result], *, pool: Executor, depth: int
) -> Iterator[tuple[Item, Result]]:
    """(item, work(item)) for each item, in order, with up to depth items submitted ahead.

    items is consumed in the caller's thread, as results are taken; an
    exception raised by work is raised again when its item's turn comes.
    """
    items = iter(items)
    pending: deque[tuple[Item, Future[Result]]] = deque(
        (item, pool.submit(work, item)) for item in islice(items, depth)
    )
    while pending:
        item, future = pending.popleft()
        for following in islice(items, 1):
            pending.append((following, pool.submit(work, following)))
        yield item, future.result()
