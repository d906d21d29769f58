"""One store request in flight per writer while the next bytes arrive.

A writer that PUTs a part from the thread that hands it the body makes the client's bytes
wait for every part. Here the part goes to the driver's own threads and the caller returns at
once; the next part is sent only after the previous one is done, so a writer holds at most the
part in flight and the part being filled (about two parts of memory), and its requests stay in
order.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any


class InFlight:
    """At most one background request of one writer; its failure is raised by the `wait`
    that follows it, never lost."""

    def __init__(self, executor: ThreadPoolExecutor) -> None:
        self._executor = executor
        self._pending: Future[Any] | None = None

    def start(self, request: Callable[..., Any], *args: Any) -> None:
        """Send `request`; the caller waited for the one before (`wait`)."""
        assert self._pending is None, "one request in flight at a time"
        self._pending = self._executor.submit(request, *args)

    def wait(self) -> Any:
        """The result of the request in flight (None if there is none); its error if it failed."""
        pending, self._pending = self._pending, None
        return None if pending is None else pending.result()

    def settle(self) -> None:
        """Wait for the request in flight and forget how it ended (the writer is giving up)."""
        with contextlib.suppress(Exception):
            self.wait()
