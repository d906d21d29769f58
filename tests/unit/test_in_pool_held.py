"""api/boundary.in_pool_held: what a request takes on the pool (a held upload) is given back
even when the request is cancelled while the taking runs (the thread takes it all the same),
without relying on the event loop, which may be closing by then."""

from __future__ import annotations

import asyncio
import threading

import pytest

from cargohold.api.boundary import in_pool_held

WAIT = 10.0  # bounded waits for threads; none is reached when things work


class Holds:
    def __init__(self) -> None:
        self.taking = threading.Event()
        self.finish = threading.Event()
        self.ended = threading.Event()
        self.given_back: list[tuple[str, BaseException]] = []
        self.returned = threading.Event()

    def take(self, name: str | None) -> str | None:
        self.taking.set()
        assert self.finish.wait(WAIT)
        self.ended.set()
        return name

    def give_back(self, taken: str, failure: BaseException) -> None:
        self.given_back.append((taken, failure))
        self.returned.set()


def _cancelled_while_taking(holds: Holds, name: str | None) -> None:
    """A request cancelled while its take runs; the loop is gone before the take ends."""

    async def request() -> None:
        task = asyncio.create_task(in_pool_held(holds.take, holds.give_back, name))
        assert await asyncio.to_thread(holds.taking.wait, WAIT)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(request())
    holds.finish.set()


def test_a_hold_taken_for_a_cancelled_request_is_given_back() -> None:
    holds = Holds()
    _cancelled_while_taking(holds, "upload-1")
    assert holds.returned.wait(WAIT)
    [(taken, failure)] = holds.given_back
    assert taken == "upload-1" and isinstance(failure, asyncio.CancelledError)


def test_nothing_taken_is_nothing_to_give_back() -> None:
    holds = Holds()
    _cancelled_while_taking(holds, None)
    assert holds.ended.wait(WAIT)
    assert not holds.returned.wait(0.2) and holds.given_back == []


def test_a_request_not_cancelled_keeps_what_it_took() -> None:
    holds = Holds()
    holds.finish.set()

    async def request() -> str | None:
        return await in_pool_held(holds.take, holds.give_back, "upload-2")

    assert asyncio.run(request()) == "upload-2"
    assert holds.given_back == []
