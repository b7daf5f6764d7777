"""ingest.ahead.worked_ahead: the next items worked on while the caller handles one."""

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from ingest.ahead import worked_ahead


def test_it_yields_results_in_the_items_order_whichever_finishes_first():
    first_may_finish = threading.Event()

    def work(item: int) -> int:
        if item == 0:
            # Held until a later item has finished: the first one finishes last.
            assert first_may_finish.wait(timeout=10)
        else:
            first_may_finish.set()
        return item * 10

    with ThreadPoolExecutor(max_workers=3) as pool:
        results = list(worked_ahead(range(5), work, pool=pool, depth=3))

    assert results == [(0, 0), (1, 10), (2, 20), (3, 30), (4, 40)]


def test_it_takes_no_more_than_depth_items_ahead_of_the_caller():
    taken = []

    def items():
        for item in range(10):
            taken.append(item)
            yield item

    with ThreadPoolExecutor(max_workers=2) as pool:
        results = worked_ahead(items(), lambda item: item, pool=pool, depth=2)
        ahead = []
        for item, _ in results:
            ahead.append(len(taken) - item - 1)

    # While the caller holds item n, items up to n + depth have been taken, no more.
    assert ahead == [2, 2, 2, 2, 2, 2, 2, 2, 1, 0]


def test_it_raises_a_failure_when_its_item_comes_after_the_results_before_it():
    def work(item: int) -> int:
        if item == 2:
            raise ValueError("item 2 is bad")
        return item

    received = []
    with ThreadPoolExecutor(max_workers=2) as pool, pytest.raises(ValueError, match="item 2"):
        for item, _ in worked_ahead(range(5), work, pool=pool, depth=2):
            received.append(item)

    assert received == [0, 1]
