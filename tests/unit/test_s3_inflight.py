"""A writer's parts in flight (storage/s3/inflight.py): bounded, answered in the order they
were sent, and no failure lost."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from cargohold.storage.s3.inflight import InFlight


@pytest.fixture
def executor() -> Iterator[ThreadPoolExecutor]:
    with ThreadPoolExecutor(4) as pool:
        yield pool


def test_parts_answer_in_order_and_depth_bounds_them(executor: ThreadPoolExecutor) -> None:
    inflight = InFlight(executor, depth=2)
    first_may_end = threading.Event()

    def part(number: int) -> int:
        if number == 1:
            assert first_may_end.wait(10)
        return number

    inflight.start(part, 1)
    assert not inflight.full
    inflight.start(part, 2)
    assert inflight.full
    with pytest.raises(AssertionError):
        inflight.start(part, 3)
    first_may_end.set()
    assert inflight.wait() == 1  # the oldest, though the second ended first
    inflight.start(part, 3)
    assert inflight.wait_all() == [2, 3]
    assert inflight.wait() is None and not inflight.full


def test_a_failed_part_is_raised_and_settle_waits_for_the_rest(
    executor: ThreadPoolExecutor,
) -> None:
    inflight = InFlight(executor, depth=2)
    ended: list[int] = []

    def part(number: int) -> int:
        if number == 1:
            raise ConnectionError("the store went away")
        ended.append(number)
        return number

    inflight.start(part, 1)
    inflight.start(part, 2)
    with pytest.raises(ConnectionError):
        inflight.wait_all()
    inflight.start(part, 3)
    inflight.settle()  # giving up: every request has ended, none is left behind
    assert sorted(ended) == [2, 3] and inflight.wait() is None
