"""Work on the next few items while the caller handles the current one.

Storing is serial (one transaction per log file), but fetching and decoding
the next files need not wait for it: while PostgreSQL takes in one file's
events, threads download the following ones, or another process decodes them.
Results come back in the items' order, and at most `depth` items, weighing at
most `budget` together, are in flight, so memory stays bounded however many
items there are and however large each one is.
"""

from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Executor, Future
from itertools import islice
from typing import TypeVar

Item = TypeVar("Item")
Result = TypeVar("Result")


def worked_ahead(
    items: Iterable[Item],
    work: Callable[[Item], Result],
    *,
    pool: Executor,
    depth: int,
    weigh: Callable[[Item], int] | None = None,
    budget: int = 0,
) -> Iterator[tuple[Item, Result]]:
    """(item, work(item)) for each item, in order, with up to depth items submitted ahead.

    With weigh, the items submitted ahead also weigh at most budget together
    (one that alone weighs more goes ahead by itself). items is consumed in
    the caller's thread, as results are taken; an exception raised by work is
    raised again when its item's turn comes.
    """
    items = iter(items)
    pending: deque[tuple[Item, Future[Result], int]] = deque()
    held: list[Item] = []  # taken from items, waiting for room in the budget
    in_flight = 0

    def submit_ahead() -> None:
        nonlocal in_flight
        while len(pending) < depth:
            held.extend(islice(items, 0 if held else 1))
            if not held:
                return
            weight = weigh(held[0]) if weigh else 0
            if pending and in_flight + weight > budget:
                return
            item = held.pop()
            pending.append((item, pool.submit(work, item), weight))
            in_flight += weight

    submit_ahead()
    while pending:
        item, future, weight = pending.popleft()
        in_flight -= weight
        submit_ahead()
        yield item, future.result()
