"""api/bodies.stream_body: when it returns or raises, no write of the body is running, even
when the request is cancelled in the middle of one (the caller then cuts back what was written,
and on S3 hands the writer to the session's next request)."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator

import pytest

from cargohold.api.bodies import stream_body


async def pieces(count: int, size: int) -> AsyncIterator[bytes]:
    for _ in range(count):
        yield b"x" * size
        await asyncio.sleep(0)


class SlowWrites:
    """A write that takes a while; records which writes ended."""

    def __init__(self) -> None:
        self.started = threading.Event()
        self.running = 0
        self.ended: list[int] = []

    def __call__(self, data: bytes) -> None:
        self.running += 1
        self.started.set()
        time.sleep(0.3)
        self.ended.append(len(data))
        self.running -= 1


@pytest.mark.parametrize(
    ("count", "batch"),
    [
        (1, 1024),  # the body's last (here only) write
        (40, 16),  # a write in flight while the next batch is received
    ],
)
def test_a_cancelled_body_ends_only_after_its_write(count: int, batch: int) -> None:
    writes = SlowWrites()

    async def request() -> None:
        task = asyncio.create_task(stream_body(pieces(count, 8), writes, batch_bytes=batch))
        while not writes.started.is_set():
            await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert writes.running == 0 and writes.ended  # the write it was in ended first

    asyncio.run(request())


def test_a_whole_body_is_written_in_order() -> None:
    received: list[bytes] = []

    async def request() -> int:
        return await stream_body((p async for p in _numbered(10)), received.append, batch_bytes=3)

    assert asyncio.run(request()) == 10
    assert b"".join(received) == bytes(range(10))


async def _numbered(count: int) -> AsyncIterator[bytes]:
    for i in range(count):
        yield bytes([i])
