"""/readyz's checks: each store's round trip on the probe pool, bounded by a timeout.

Each check has at most one run in flight: a probe that arrives while the last run is still
going waits for that run (up to the timeout) instead of starting another, so a store that
hangs holds one probe thread, not one per probe. A failure is logged with its cause when the
check's state changes (not on every probe); the answer names only the check and whether it
failed or timed out, since anyone may ask.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping

from cargohold.api.boundary import SingleFlight, start_probe

log = logging.getLogger("cargohold.readiness")

OK = "ok"
FAILED = "failed"
TIMED_OUT = "timed out"


class Readiness:
    def __init__(self, checks: Mapping[str, Callable[[], object]], timeout: float) -> None:
        self.checks = dict(checks)
        self.timeout = timeout
        self._flights: dict[str, SingleFlight[object]] = {
            name: SingleFlight() for name in self.checks
        }
        self._last: dict[str, str] = {}

    async def probe(self) -> dict[str, str]:
        """Each check's state (OK, FAILED, TIMED_OUT), run at once."""
        names = list(self.checks)
        states = await asyncio.gather(*(self._one(name) for name in names))
        return dict(zip(names, states, strict=True))

    async def _one(self, name: str) -> str:
        try:
            await self._flights[name].wait(lambda: start_probe(self.checks[name]), self.timeout)
        except TimeoutError:
            return self._note(name, TIMED_OUT, f"no answer within {self.timeout:g} s")
        except Exception as exc:
            return self._note(name, FAILED, f"{type(exc).__name__}: {exc}")
        return self._note(name, OK, "")

    def _note(self, name: str, state: str, cause: str) -> str:
        if self._last.get(name, OK) != state:
            if state == OK:
                log.info("readiness: %s answers again", name)
            else:
                log.warning("readiness: %s %s: %s", name, state, cause)
        self._last[name] = state
        return state
