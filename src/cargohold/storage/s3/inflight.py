"""A writer's store requests in flight while the next bytes arrive.

A writer that PUTs a part from the thread that hands it the body makes the client's bytes
wait for every part. Here the part goes to the driver's own threads and the caller returns at
once. At most `depth` requests of one writer are in flight; the caller waits for the oldest
before it starts another, so a writer holds at most `depth` parts in flight and the part being
filled, and it learns of each request's end in the order they were started. A staged
upload's commit sends its part copies the same way (assemble.py).
"""

from __future__ import annotations

import contextlib
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any


class InFlight:
    """At most `depth` background requests of one writer; a failure is raised by the `wait`
    that reaches it, never lost."""

    def __init__(self, executor: ThreadPoolExecutor, depth: int = 1) -> None:
        assert depth >= 1
        self._executor = executor
        self._depth = depth
        self._pending: deque[Future[Any]] = deque()

    @property
    def pending(self) -> int:
        """Requests started and not yet waited for."""
        return len(self._pending)

    @property
    def full(self) -> bool:
        """Another request must wait for the oldest one (`wait`)."""
        return len(self._pending) >= self._depth

    def start(self, request: Callable[..., Any], *args: Any) -> None:
        """Send `request`; the caller made room first (`wait` while `full`)."""
        assert not self.full, f"at most {self._depth} requests in flight"
        self._pending.append(self._executor.submit(request, *args))

    def wait(self) -> Any:
        """The result of the oldest request in flight (None if there is none); its error if
        it failed."""
        if not self._pending:
            return None
        return self._pending.popleft().result()

    def wait_all(self) -> list[Any]:
        """The results of every request in flight, oldest first; the first error raised."""
        return [self.wait() for _ in range(len(self._pending))]

    def settle(self) -> None:
        """Wait for every request in flight and forget how they ended (the writer is giving
        up)."""
        while self._pending:
            with contextlib.suppress(Exception):
                self.wait()
