"""The event loop's boundary with the services, which are plain synchronous code.

A handler calls a service in one of exactly two ways (docs/decisions/017-one-event-loop-rule.md):

- `fast_read`: on the event loop. Only for the bounded, single-statement fast-path reads the
  benchmark proves cheap (manifest GET/HEAD where no pull gate applies, blob HEAD/GET, tags
  list, a registry token's cached verdict); a thread hop would cost more than the read.
  tests/unit/test_event_loop_rule.py keeps it there.
- `in_pool`: everything else, on one bounded thread pool per server process (`in_pool_held`
  for work that takes something the caller must give back). When every thread
  is busy the work waits its turn in order; the loop keeps serving fast reads and receiving
  other requests' bytes, and a body whose write waits is not read further (see
  api/bodies.stream_body), so the client is slowed by TCP, not buffered in memory.

One more pool, for one purpose: readiness checks (`start_probe`, api/readiness.py) run on a
pool of PROBE_THREADS threads of their own, so that a store that hangs cannot take the request
pool's threads one probe at a time, and a request pool busy with pushes cannot make a node look
down to its load balancer.

`SingleFlight` keeps one run of such work in flight (each readiness check, and /metrics' read
of the stores' figures): callers that come meanwhile wait for that run, with a timeout.

Nothing else in api/ or services/ starts threads or touches the loop's executor.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Generic, ParamSpec, TypeVar

log = logging.getLogger("cargohold.api")

T = TypeVar("T")
P = ParamSpec("P")

# Threads per server process. Their work blocks on the disk, the database or the SQLite writer
# lock and releases the GIL meanwhile (hashing too, for buffers over 2 KiB), so more threads
# than cores overlap waits; 16 keeps 8 uploads writing while 8 other requests query or commit.
# Writes past that queue on the writer lock anyway (meta/db.WriterLock).
POOL_THREADS = 16

_pool: ThreadPoolExecutor | None = None
# Readiness checks: each has at most one run in flight, so a store that hangs holds at most
# one thread per check.
PROBE_THREADS = 3
_probe_pool: ThreadPoolExecutor | None = None


def open_pool(threads: int = POOL_THREADS) -> ThreadPoolExecutor:
    """This process's pool, started on first use (the app's lifespan opens it at start)."""
    global _pool
    if _pool is None:
        _pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="api")
    return _pool


def close_pool() -> None:
    """Let queued work finish and stop the threads (the app's lifespan, at shutdown); a probe
    still waiting on a hung store is not waited for."""
    global _pool, _probe_pool
    pool, _pool = _pool, None
    if pool is not None:
        pool.shutdown(wait=True)
    probes, _probe_pool = _probe_pool, None
    if probes is not None:
        probes.shutdown(wait=False, cancel_futures=True)


def fast_read(read: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """Run a bounded fast-path read on the event loop (see the module's docstring)."""
    return read(*args, **kwargs)


async def in_pool(work: Callable[..., T], *args: object) -> T:
    """Run blocking service work on the bounded pool and wait for it without blocking the loop.

    Work already running finishes even if the waiting request goes away: a thread cannot be
    stopped, and a half-done write must be allowed to end so its cleanup can follow it."""
    return await asyncio.get_running_loop().run_in_executor(open_pool(), work, *args)


async def wait_out(work: asyncio.Future[Any]) -> None:
    """Wait until `work` (pool work already running) has ended, whatever cancels the waiting
    meanwhile, and raise such a cancellation only then. Its own outcome is not raised: whoever
    awaited it has it."""
    cancelled: asyncio.CancelledError | None = None
    while not work.done():
        try:
            await asyncio.shield(work)
        except asyncio.CancelledError as again:
            cancelled = cancelled or again
        except Exception:
            break
    if cancelled is not None:
        raise cancelled


async def in_pool_held(
    take: Callable[..., T], give_back: Callable[[T, BaseException], None], *args: object
) -> T:
    """`in_pool` for work that takes something only its caller gives back (a held upload;
    None: nothing taken).

    If the caller is cancelled while `take` runs, the thread goes on and takes it all the same;
    then `give_back(taken, cancellation)` runs on the pool thread right after, so nothing stays
    held by a request that went away (on S3 that is the session's lease, which would hold the
    client's retries off for two minutes). Which of the two gives it back is settled under a
    lock, without the event loop, which may be closing."""
    pool = open_pool()
    lock = threading.Lock()
    gone: list[BaseException] = []  # the caller's cancellation, once it left
    handed: list[T] = []  # what the take returned to a caller still there

    def run() -> T:
        taken = take(*args)
        with lock:
            if not gone:
                handed.append(taken)
        if gone and taken is not None:
            _give_back(give_back, taken, gone[0])
        return taken

    running = asyncio.get_running_loop().run_in_executor(pool, run)
    try:
        return await asyncio.shield(running)
    except asyncio.CancelledError as cancelled:
        with lock:
            gone.append(cancelled)
            taken = handed[0] if handed else None
        if taken is not None:  # the take ended just before the caller left
            try:
                pool.submit(_give_back, give_back, taken, cancelled)
            except RuntimeError:  # the pool is stopping
                _give_back(give_back, taken, cancelled)
        raise


def _give_back(give_back: Callable[[T, BaseException], None], taken: T, why: BaseException) -> None:
    try:
        give_back(taken, why)
    except Exception:
        log.exception("giving back what a cancelled request held failed")


def start_probe(check: Callable[[], T]) -> asyncio.Future[T]:
    """Start a readiness check on the probe pool; the caller awaits it with its timeout."""
    global _probe_pool
    if _probe_pool is None:
        _probe_pool = ThreadPoolExecutor(max_workers=PROBE_THREADS, thread_name_prefix="probe")
    return asyncio.get_running_loop().run_in_executor(_probe_pool, check)


class SingleFlight(Generic[T]):
    """At most one run in flight: a caller that comes while a run is going waits for that run
    instead of starting another, so work that hangs holds one thread, not one per caller."""

    def __init__(self) -> None:
        self._running: asyncio.Future[T] | None = None

    async def wait(self, start: Callable[[], Awaitable[T]], timeout: float) -> T:
        """The outcome of the run in flight, or of `start()` when none is; TimeoutError after
        `timeout` seconds (the run goes on, and the next caller waits for it)."""
        running = self._running
        if running is None or running.done():
            running = self._running = asyncio.ensure_future(start())
            # Read the outcome even when no caller waits for it any more (no "never retrieved").
            running.add_done_callback(lambda done: done.cancelled() or done.exception())
        return await asyncio.wait_for(asyncio.shield(running), timeout)
