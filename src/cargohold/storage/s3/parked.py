"""A located writer held a moment past its request, for the session's next one (decision 056).

A request on a staged session takes the name's lease, lists the session, reads its state,
and at the end releases the lease: about 15 ms of the store's time per PATCH during which no
part goes out (a chunked push of 128 MiB in 16 MiB PATCHes pays it eight times). A client
sends its next PATCH as soon as the last one is answered, mostly on the same connection and so
to the same process. So a closed writer is parked here, its lease still held, for
`LINGER_SECONDS`: the next writer of that name in this process is that writer, as it was left
(every byte flushed, every part recorded: what a new writer would have read). After the
linger the lease is released. A writer in another process or node that finds the lease held
waits for that (lease.py's `ACQUIRE_WAIT_SECONDS`), so a session moving between nodes is
delayed by at most the linger, never refused.
"""

from __future__ import annotations

import atexit
import logging
import threading
from typing import Generic, Protocol, TypeVar

log = logging.getLogger("cargohold.storage.s3")

# Long enough for a client's next request on the session (it is sent as soon as the answer
# to the last arrives), short against what a request moving to another node then waits.
LINGER_SECONDS = 0.25


class Parkable(Protocol):
    name: str

    def let_go(self) -> None:
        """Release the name (the linger is over, or the process is stopping)."""
        ...


W = TypeVar("W", bound=Parkable)


class ParkedWriters(Generic[W]):
    """Closed writers of one driver, by name, each until its linger ends or it is taken."""

    def __init__(self, linger: float = LINGER_SECONDS) -> None:
        self._linger = linger
        self._lock = threading.Lock()
        self._parked: dict[str, tuple[W, threading.Timer]] = {}
        atexit.register(self.let_go_all)  # a stopping process leaves no lease to lapse

    def park(self, writer: W) -> bool:
        """Keep `writer` (its lease held) for the linger; False if the name has one parked
        already or nothing lingers (the caller releases its own lease)."""
        if self._linger <= 0:
            return False
        timer = threading.Timer(self._linger, self._linger_over, args=(writer,))
        timer.daemon = True
        with self._lock:
            if writer.name in self._parked:
                return False
            self._parked[writer.name] = (writer, timer)
        timer.start()
        return True

    def take(self, name: str) -> W | None:
        """The writer parked under `name`, no longer parked; None if there is none."""
        with self._lock:
            item = self._parked.pop(name, None)
        if item is None:
            return None
        item[1].cancel()
        return item[0]

    def _linger_over(self, writer: W) -> None:
        with self._lock:
            item = self._parked.get(writer.name)
            if item is None or item[0] is not writer:
                return  # taken meanwhile
            del self._parked[writer.name]
        writer.let_go()

    def let_go_all(self) -> None:
        """Release every parked writer's name now."""
        with self._lock:
            items = list(self._parked.values())
            self._parked.clear()
        for writer, timer in items:
            timer.cancel()
            writer.let_go()

    def __len__(self) -> int:
        with self._lock:
            return len(self._parked)
