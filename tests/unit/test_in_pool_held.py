"""api/boundary.in_pool_held: what a request takes on the pool (a held upload) is given back
even when the request is cancelled while the taking runs (the thread takes it all the same)."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from cargohold.api.boundary import in_pool_held


class Holds:
    def __init__(self) -> None:
        self.taking = threading.Event()
        self.given_back: list[tuple[str, BaseException]] = []
        self.returned = threading.Event()

    def take(self, name: str | None) -> str | None:
        self.taking.set()
        time.sleep(0.3)
        return name

    def give_back(self, taken: str, failure: BaseException) -> None:
        self.given_back.append((taken, failure))
        self.returned.set()


def _cancelled_while_taking(holds: Holds, name: str | None) -> None:
    async def request() -> None:
        task = asyncio.create_task(in_pool_held(holds.take, holds.give_back, name))
        while not holds.taking.is_set():
            await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await asyncio.sleep(0.6)  # the taking ends meanwhile; its callback runs on the loop

    asyncio.run(request())


def test_a_hold_taken_for_a_cancelled_request_is_given_back() -> None:
    holds = Holds()
    _cancelled_while_taking(holds, "upload-1")
    assert holds.returned.wait(5)
    [(taken, failure)] = holds.given_back
    assert taken == "upload-1" and isinstance(failure, asyncio.CancelledError)


def test_nothing_taken_is_nothing_to_give_back() -> None:
    holds = Holds()
    _cancelled_while_taking(holds, None)
    assert not holds.returned.wait(0.5) and holds.given_back == []


def test_a_request_not_cancelled_keeps_what_it_took() -> None:
    holds = Holds()

    async def request() -> str | None:
        return await in_pool_held(holds.take, holds.give_back, "upload-2")

    assert asyncio.run(request()) == "upload-2"
    assert holds.given_back == []
