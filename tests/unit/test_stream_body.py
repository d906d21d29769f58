"""api/bodies.stream_body: when it returns or raises, no write of the body is running, even
when the request is cancelled in the middle of one, or while it waits for one after the body
failed (the caller then cuts back what was written, and on S3 hands the writer to the
session's next request)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator

import pytest

from cargohold.api.bodies import stream_body

WAIT = 10.0  # bounded waits for threads; none is reached when things work


async def pieces(
    count: int, size: int, broken: threading.Event | None = None
) -> AsyncIterator[bytes]:
    for _ in range(count):
        yield b"x" * size
        await asyncio.sleep(0)
    if broken is not None:  # the client went away
        broken.set()
        raise ConnectionResetError("client went away")


class HeldWrites:
    """Writes that go on until the test releases them; records which ended."""

    def __init__(self) -> None:
        self.started = threading.Event()
        self.release = threading.Event()
        self.running = 0
        self.ended: list[int] = []

    def __call__(self, data: bytes) -> None:
        self.running += 1
        self.started.set()
        assert self.release.wait(WAIT)
        self.ended.append(len(data))
        self.running -= 1


async def _until(event: threading.Event) -> None:
    assert await asyncio.to_thread(event.wait, WAIT)


async def _cancel_while_writing(
    task: asyncio.Task[int], writes: HeldWrites, times: int = 1
) -> None:
    for _ in range(times):
        task.cancel()
        await asyncio.sleep(0.05)
    assert not task.done()  # still waiting for the write
    writes.release.set()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert writes.running == 0 and writes.ended


@pytest.mark.parametrize(
    ("count", "batch", "times"),
    [
        (1, 1024, 1),  # the body's last (here only) write
        (40, 16, 1),  # a write in flight while the next batch is received
        (40, 16, 3),  # cancelled again while it waits
    ],
)
def test_a_cancelled_body_ends_only_after_its_write(count: int, batch: int, times: int) -> None:
    writes = HeldWrites()

    async def request() -> None:
        task = asyncio.create_task(stream_body(pieces(count, 8), writes, batch_bytes=batch))
        await _until(writes.started)
        await _cancel_while_writing(task, writes, times)

    asyncio.run(request())


def test_a_broken_body_cancelled_while_its_last_write_runs_ends_after_it() -> None:
    writes = HeldWrites()
    broken = threading.Event()

    async def request() -> None:
        body = pieces(1, 16, broken)
        task = asyncio.create_task(stream_body(body, writes, batch_bytes=16))
        await _until(broken)  # the body failed; the write of its first batch still runs
        await _cancel_while_writing(task, writes, times=2)

    asyncio.run(request())


def test_a_whole_body_is_written_in_order() -> None:
    received: list[bytes] = []

    async def request() -> int:
        return await stream_body(_numbered(10), received.append, batch_bytes=3)

    assert asyncio.run(request()) == 10
    assert b"".join(received) == bytes(range(10))


async def _numbered(count: int) -> AsyncIterator[bytes]:
    for i in range(count):
        yield bytes([i])
