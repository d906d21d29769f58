"""Pulls, recorded in batches so a pull never waits for a database write: each manifest's
last-pull time, and the audit trail's notes (one `manifest.pull` entry per distinct caller,
client and reference per flush, with a count; services/audit.py)."""

from __future__ import annotations

import logging
import threading
import time

from cargohold.errors import is_disk_full
from cargohold.meta.manifests import ManifestRecords
from cargohold.services.audit import AuditTrail
from cargohold.services.caller import Caller

log = logging.getLogger("cargohold.pulls")


class PullRecorder:
    """Buffers (manifest id -> last pull time) and flushes every `interval` seconds, with the
    audit trail's notes (pulls, logins, denials: whatever was noted meanwhile).

    A clean shutdown calls `close()`, which flushes what is left.
    """

    def __init__(self, manifests: ManifestRecords, trail: AuditTrail, interval: float) -> None:
        self._manifests = manifests
        self._trail = trail
        self._interval = interval
        self._pending: dict[int, float] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def record(
        self, manifest_id: int, caller: Caller, repository: str, reference: str, digest: str
    ) -> None:
        # A dict assignment and a deque append are atomic under the GIL; the lock only guards
        # the swap. No write here: the flush makes one per batch.
        now = time.time()
        self._pending[manifest_id] = now
        self._trail.pulled(caller, repository, reference, digest, now)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="pull-recorder", daemon=True)
        self._thread.start()

    def flush(self) -> None:
        self._flush_times()
        self._trail.flush()

    def _flush_times(self) -> None:
        with self._lock:
            pending, self._pending = self._pending, {}
        if not pending:
            return
        try:
            self._manifests.record_pulls(pending)
        except Exception as exc:
            if is_disk_full(exc):
                # Every flush would fail alike: one line each, not a traceback every interval.
                log.warning(
                    "could not record %d pull times: the disk is full; will retry", len(pending)
                )
            else:
                log.exception("could not record %d pull times; will retry", len(pending))
            with self._lock:
                for manifest_id, pulled_at in pending.items():
                    if self._pending.get(manifest_id, 0) < pulled_at:
                        self._pending[manifest_id] = pulled_at

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            self.flush()

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        self.flush()
