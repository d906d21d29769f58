"""A located writer held a moment past its request, for the session's next one (decision 056).

A request on a staged session takes the name's lease, lists the session, reads its state,
and at the end releases the lease: about 15 ms of the store's time per PATCH during which no
part goes out (a chunked push of 128 MiB in 16 MiB PATCHes pays it eight times). A client
sends its next PATCH as soon as the last one is answered, mostly on the same connection and so
to the same process. So a closed writer is parked here, its lease still held, for
`LINGER_SECONDS`: the next writer of that name in this process is that writer, as it was left
(every byte flushed, every part recorded: what a new writer would have read). After the
linger the lease is released. A writer in another process or node that finds the lease held
waits for that (lease.py's `ACQUIRE_WAIT_SECONDS`), so a session moving between processes is
delayed by at most the linger, never refused; and a session whose linger ran out untaken (its
requests go elsewhere, or come slowly) is not parked again by this process, so such a session
waits at most once per process.
"""

from __future__ import annotations

import atexit
import multiprocessing.util
import os
import threading
from collections import OrderedDict
from typing import Generic, Protocol, TypeVar

# Long enough for a client's next request on the session (it is sent as soon as the answer
# to the last arrives), short against what a request moving to another process then waits.
LINGER_SECONDS = 0.25
# Names whose linger ran out untaken, remembered (the most recent ones) so as not to park
# them again.
UNTAKEN_REMEMBERED = 4096


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
        self._untaken: OrderedDict[str, None] = OrderedDict()
        self._hooks_pid = 0

    def park(self, writer: W) -> bool:
        """Keep `writer` (its lease held) for the linger; False if nothing lingers, the name
        has a writer parked already, or its last linger ran out untaken (the caller releases
        its own lease then)."""
        if self._linger <= 0:
            return False
        self._release_at_exit()
        timer = threading.Timer(self._linger, self._linger_over, args=(writer,))
        timer.daemon = True
        with self._lock:
            if writer.name in self._parked or writer.name in self._untaken:
                return False
            self._parked[writer.name] = (writer, timer)
        try:
            timer.start()
        except BaseException:
            with self._lock:
                self._parked.pop(writer.name, None)
            return False
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
            self._untaken[writer.name] = None
            while len(self._untaken) > UNTAKEN_REMEMBERED:
                self._untaken.popitem(last=False)
        writer.let_go()

    def let_go_all(self) -> None:
        """Release every parked writer's name now."""
        with self._lock:
            items = list(self._parked.values())
            self._parked.clear()
        for writer, timer in items:
            timer.cancel()
            writer.let_go()

    def _release_at_exit(self) -> None:
        """A stopping process leaves no lease to lapse: interpreter exit runs atexit, a
        multiprocessing child (granian's forked workers) leaves through os._exit after
        multiprocessing's exit finalizers. Registered in the process that parks."""
        if self._hooks_pid == os.getpid():
            return
        self._hooks_pid = os.getpid()
        atexit.register(self.let_go_all)
        multiprocessing.util.Finalize(self, self.let_go_all, exitpriority=100)

    def __len__(self) -> int:
        with self._lock:
            return len(self._parked)
