"""Background jobs: what kinds there are, when they run, and the record of each run.

A job is submitted (by the admin API, a schedule, or later a push), recorded in the
metadata store as `queued`, and handed to the queue; whichever consumer takes it marks it
`running`, then `succeeded` with its result or `failed` with a one-line error. The kinds:

- `gc`: one garbage collection pass (args: `untagged`, `dryRun`).
- `lifecycle`: apply the stored lifecycle policy of one repository (args: `repository`),
  or of every repository that has one (no args): what the daily schedule runs.
- `scan`: scan one manifest (args: `repository`, `digest`, `rescan`); pushes queue these
  untracked (no job_runs row: the scan report itself is the record).
- `vulndb-update`: import the configured vulnerability sources, then re-evaluate.
- `reevaluate`: bring every stored scan report up to the current vulnerability database.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable
from queue import SimpleQueue
from typing import Any

from cargohold.errors import RegistryError
from cargohold.jobs.queue import JobQueue
from cargohold.meta.jobs import STATES, JobRun, JobRunStore
from cargohold.meta.store import MetadataStore
from cargohold.services.gc import GarbageCollector
from cargohold.services.lifecycle import LifecycleService
from cargohold.services.scanning import ScanService

log = logging.getLogger("cargohold.jobs")

SCHEDULE_ACTOR = "schedule"
# Jobs queued without a job_runs row (scans on push) have ids with this prefix.
UNTRACKED = "untracked-"


class JobInvalid(RegistryError):
    code = "JOB_INVALID"
    status = 400
    default_message = "invalid job request"


class JobUnknown(RegistryError):
    code = "JOB_UNKNOWN"
    status = 404
    default_message = "no such job"


JobBody = Callable[..., dict[str, Any]]


class JobService:
    def __init__(
        self,
        meta: MetadataStore,
        queue: JobQueue,
        gc: GarbageCollector,
        lifecycle: LifecycleService,
    ) -> None:
        self.meta = meta
        self.queue = queue
        self.runs = JobRunStore(meta)
        self.gc = gc
        self.lifecycle = lifecycle
        self._outbox: SimpleQueue[tuple[str, str, dict[str, Any]]] = SimpleQueue()
        self._sender_lock = threading.Lock()
        self._sender = threading.Thread(target=self._send, name="job-outbox", daemon=True)
        # kind -> (body, allowed args and their types)
        self._kinds: dict[str, tuple[JobBody, dict[str, type]]] = {}
        self.add_kind("gc", self._run_gc, {"untagged": bool, "dryRun": bool})
        self.add_kind("lifecycle", self._run_lifecycle, {"repository": str})

    def add_kind(self, kind: str, body: JobBody, args: dict[str, type]) -> None:
        self._kinds[kind] = (body, args)

        def run(job_id: str, **kwargs: Any) -> None:
            self._execute(job_id, kind, body, kwargs)

        self.queue.register(kind, run)

    def add_schedules(self, gc_schedule: str, gc_untagged: bool, lifecycle_schedule: str) -> None:
        self.queue.register_schedule(
            "gc",
            gc_schedule,
            lambda: self.submit("gc", {"untagged": gc_untagged}, "schedule", SCHEDULE_ACTOR),
        )
        self.queue.register_schedule(
            "lifecycle",
            lifecycle_schedule,
            lambda: self.submit("lifecycle", {}, "schedule", SCHEDULE_ACTOR),
        )

    @property
    def kinds(self) -> list[str]:
        return sorted(self._kinds)

    # -- submitting and reading -----------------------------------------------------------

    def submit(self, kind: str, args: dict[str, Any], trigger: str, actor: str) -> JobRun:
        if kind not in self._kinds:
            raise JobInvalid(f"unknown job kind {kind!r}; known kinds: {', '.join(self.kinds)}")
        allowed = self._kinds[kind][1]
        for name, value in args.items():
            if name not in allowed:
                known = ", ".join(sorted(allowed)) or "none"
                raise JobInvalid(f"job {kind!r} takes no argument {name!r} (arguments: {known})")
            if not isinstance(value, allowed[name]):
                raise JobInvalid(f"job {kind!r}: {name!r} must be a {allowed[name].__name__}")
        job_id = uuid.uuid4().hex
        run = self.runs.create(job_id, kind, args, trigger, actor)
        self.queue.enqueue(kind, job_id, args)
        return run

    def get(self, job_id: str) -> JobRun:
        run = self.runs.get(job_id)
        if run is None:
            raise JobUnknown(f"no job {job_id!r}")
        return run

    def recent(self, limit: int, kind: str | None, state: str | None) -> list[JobRun]:
        if state is not None and state not in STATES:
            raise JobInvalid(f"unknown state {state!r}; states: {', '.join(STATES)}")
        if kind is not None and kind not in self._kinds:
            raise JobInvalid(f"unknown job kind {kind!r}; known kinds: {', '.join(self.kinds)}")
        return self.runs.recent(limit, kind, state)

    # -- running --------------------------------------------------------------------------

    def submit_untracked(self, kind: str, args: dict[str, Any]) -> None:
        """Queue a job nobody will look up by id (a scan on push): no job_runs row.

        Returns at once: a thread of its own hands the job to the queue, so the push that asks
        for it never waits on the queue's storage (on SQLite that write would sit in the
        metadata writer's path). A process that dies in between loses the job; the image then
        shows as not scanned and is scanned on demand.
        """
        self._outbox.put((kind, f"{UNTRACKED}{uuid.uuid4().hex}", args))
        if not self._sender.is_alive():
            with self._sender_lock:
                if not self._sender.is_alive():
                    self._sender = threading.Thread(
                        target=self._send, name="job-outbox", daemon=True
                    )
                    self._sender.start()

    def _send(self) -> None:
        while True:
            kind, job_id, args = self._outbox.get()
            try:
                self.queue.enqueue(kind, job_id, args)
            except Exception:
                log.exception("could not queue %s job %s", kind, job_id)

    def flush(self, timeout: float = 5.0) -> None:
        """Wait (bounded) until queued-on-the-side jobs reached the queue (clean shutdown)."""
        deadline = time.monotonic() + timeout
        while not self._outbox.empty() and time.monotonic() < deadline:
            time.sleep(0.01)

    def _execute(self, job_id: str, kind: str, body: JobBody, kwargs: dict[str, Any]) -> None:
        if job_id.startswith(UNTRACKED):
            try:
                body(actor=SCHEDULE_ACTOR, **kwargs)
            except Exception:
                log.exception("job %s (%s) failed", job_id, kind)
            return
        actor = self.runs.started(job_id) or SCHEDULE_ACTOR
        try:
            result = body(actor=actor, **kwargs)
        except RegistryError as exc:
            self.runs.finished(job_id, None, exc.message)
        except Exception as exc:
            log.exception("job %s (%s) failed", job_id, kind)
            self.runs.finished(job_id, None, f"{type(exc).__name__}: {exc}")
        else:
            self.runs.finished(job_id, result)

    def _run_gc(
        self,
        actor: str,
        untagged: bool = False,
        dryRun: bool = False,
    ) -> dict[str, Any]:
        return self.gc.run(dry_run=dryRun, untagged=untagged).as_dict()

    def _run_lifecycle(self, actor: str, repository: str | None = None) -> dict[str, Any]:
        names = [repository] if repository else self.meta.repositories_with_lifecycle_policy()
        repositories: dict[str, Any] = {}
        failures = 0
        for name in names:
            try:
                outcome = self.lifecycle.apply(name, actor)
            except RegistryError as exc:
                if repository:
                    raise
                failures += 1
                repositories[name] = {"error": exc.message}
                continue
            repositories[name] = {
                "expired": len(outcome.expiring),
                "deleted": outcome.deleted,
                "bytesFreed": outcome.bytes_freed,
            }
        return {"repositories": repositories, "failures": failures}


class ScanJobs:
    """The scanning kinds of job, registered on a JobService."""

    def __init__(self, jobs: JobService, scans: ScanService, sources: list[str]) -> None:
        self.jobs = jobs
        self.scans = scans
        self.sources = sources
        jobs.add_kind("scan", self._scan, {"repository": str, "digest": str, "rescan": bool})
        jobs.add_kind("vulndb-update", self._update, {})
        jobs.add_kind("reevaluate", self._reevaluate, {})

    def add_schedule(self, schedule: str) -> None:
        if self.sources:
            self.jobs.queue.register_schedule(
                "vulndb-update",
                schedule,
                lambda: self.jobs.submit("vulndb-update", {}, "schedule", SCHEDULE_ACTOR),
            )

    def scan_pushed(self, repository: str, digest: str) -> None:
        self.jobs.submit_untracked("scan", {"repository": repository, "digest": digest})

    def _scan(
        self, actor: str, repository: str, digest: str, rescan: bool = False
    ) -> dict[str, Any]:
        return self.scans.scan(repository, digest, rescan).as_dict()

    def _update(self, actor: str) -> dict[str, Any]:
        from cargohold.services.vulndb import SourceError, import_document, import_source

        imports = []
        for source in self.sources:
            try:
                result = import_source(self.scans.vulndb, source)
            except SourceError as exc:
                imports.append({"location": source, "error": str(exc)})
                continue
            imports.append(import_document(result))
        return {"imports": imports, "reevaluation": self.scans.reevaluate_all()}

    def _reevaluate(self, actor: str) -> dict[str, Any]:
        return self.scans.reevaluate_all()
