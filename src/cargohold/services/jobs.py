"""Background jobs: what kinds there are, when they run, and the record of each run.

A job is submitted (by the admin API, a schedule, or later a push), recorded in the
metadata store as `queued`, and handed to the queue; whichever consumer takes it marks it
`running`, then `succeeded` with its result or `failed` with a one-line error. The kinds:

- `gc`: one garbage collection pass (args: `untagged`, `dryRun`).
- `lifecycle`: apply the stored lifecycle policy of one repository (args: `repository`),
  or of every repository that has one (no args): what the daily schedule runs.
- `audit-purge`: remove audit entries older than `audit_retention_days` (none when it is 0),
  itself audited; scheduled by `audit_purge_schedule` when retention is on.
The scanning extension (extensions/scanning.py, services/scan_jobs.py) adds, when enabled:

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
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from queue import SimpleQueue
from typing import Any

from cargohold.errors import JobInvalid, JobQueueUnavailable, JobUnknown, RegistryError
from cargohold.errors.exception_text import first_line
from cargohold.jobs.queue import JobQueue
from cargohold.meta.jobs import STATES, JobRun, JobRunStore
from cargohold.meta.store import MetadataStore
from cargohold.oci.digests import is_valid_digest
from cargohold.oci.names import is_valid_name
from cargohold.services.audit import AuditTrail
from cargohold.services.caller import Caller, job_caller, system_caller
from cargohold.services.events import EventSink, JobFinished, notify
from cargohold.services.gc import GarbageCollector
from cargohold.services.lifecycle import LifecycleService

log = logging.getLogger("cargohold.jobs")

SCHEDULE_ACTOR = "schedule"
# Jobs queued without a job_runs row (scans on push) have ids with this prefix.
UNTRACKED = "untracked-"


JobBody = Callable[..., dict[str, Any]]


@dataclass(frozen=True)
class JobArg:
    """One argument a kind of job takes: its JSON type, whether it must be given, and a
    check of its value (the problem in words, or None)."""

    type: type
    required: bool = False
    check: Callable[[Any], str | None] | None = None


def _shown(value: Any) -> str:
    """A value for an error message: JSON-ish, and never a page long."""
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _repository_name(value: str) -> str | None:
    return None if is_valid_name(value) else f"{_shown(value)} is not a valid repository name"


def _manifest_digest(value: str) -> str | None:
    if is_valid_digest(value):
        return None
    return f"{_shown(value)} is not a digest like sha256:<64 hex digits>"


@dataclass(frozen=True)
class JobKind:
    """A kind of job: its name, the function that runs it, and the arguments it takes. The core
    has `gc` and `lifecycle`; extensions bring theirs (extensions/)."""

    name: str
    body: JobBody
    args: Mapping[str, JobArg]


_JSON_TYPES = {bool: "boolean", str: "string", int: "integer"}


class JobService:
    def __init__(
        self,
        meta: MetadataStore,
        queue: JobQueue,
        gc: GarbageCollector,
        lifecycle: LifecycleService,
        audit: AuditTrail,
        *,
        events: Sequence[EventSink] = (),
    ) -> None:
        self.meta = meta
        self.audit = audit
        self.queue = queue
        self.runs = JobRunStore(meta.db)
        self.gc = gc
        self.lifecycle = lifecycle
        # Told of every run's end (services/events.py); none by default.
        self.events = tuple(events)
        self._outbox: SimpleQueue[tuple[str, str, dict[str, Any]]] = SimpleQueue()
        self._sender_lock = threading.Lock()
        self._sender = threading.Thread(target=self._send, name="job-outbox", daemon=True)
        # kind -> (body, the arguments it takes)
        self._kinds: dict[str, tuple[JobBody, Mapping[str, JobArg]]] = {}
        self.add_kind(
            JobKind("gc", self._run_gc, {"untagged": JobArg(bool), "dryRun": JobArg(bool)})
        )
        self.add_kind(
            JobKind(
                "lifecycle",
                self._run_lifecycle,
                {"repository": JobArg(str, check=_repository_name)},
            )
        )
        self.add_kind(JobKind("audit-purge", self._run_audit_purge, {}))

    def add_kind(self, job_kind: JobKind) -> None:
        """Register a kind of job; the composition root adds the enabled extensions' kinds."""
        kind, body = job_kind.name, job_kind.body
        self._kinds[kind] = (body, job_kind.args)

        def run(job_id: str, **kwargs: Any) -> None:
            self._execute(job_id, kind, body, kwargs)

        self.queue.register(kind, run)

    def add_schedules(
        self,
        gc_schedule: str,
        gc_untagged: bool,
        lifecycle_schedule: str,
        audit_purge_schedule: str,
    ) -> None:
        schedule = system_caller(SCHEDULE_ACTOR)
        self.queue.register_schedule(
            "gc",
            gc_schedule,
            lambda: self.submit("gc", {"untagged": gc_untagged}, "schedule", schedule),
        )
        self.queue.register_schedule(
            "lifecycle",
            lifecycle_schedule,
            lambda: self.submit("lifecycle", {}, "schedule", schedule),
        )
        if self.audit.retention_days > 0:
            self.queue.register_schedule(
                "audit-purge",
                audit_purge_schedule,
                lambda: self.submit("audit-purge", {}, "schedule", schedule),
            )

    @property
    def kinds(self) -> list[str]:
        return sorted(self._kinds)

    # -- submitting and reading -----------------------------------------------------------

    def check_args(self, kind: str, args: Mapping[str, Any]) -> None:
        """JobInvalid unless `args` are what a `kind` job takes: known names, JSON types,
        valid values, every required one. Checked at submission, so a job never fails for
        arguments it could not have run with."""
        if kind not in self._kinds:
            raise JobInvalid(f"unknown job kind {kind!r}; known kinds: {', '.join(self.kinds)}")
        spec = self._kinds[kind][1]
        for name, value in args.items():
            if name not in spec:
                known = ", ".join(sorted(spec)) or "none"
                raise JobInvalid(f"job {kind!r} takes no argument {name!r} (arguments: {known})")
            arg = spec[name]
            # bool is an int in Python, not in JSON.
            if not isinstance(value, arg.type) or (arg.type is int and isinstance(value, bool)):
                json_type = _JSON_TYPES.get(arg.type, arg.type.__name__)
                raise JobInvalid(
                    f"job {kind!r}: {name!r} must be a {json_type}, got {_shown(value)}"
                )
            problem = arg.check(value) if arg.check else None
            if problem:
                raise JobInvalid(f"job {kind!r}: {name!r}: {problem}")
        missing = [name for name, arg in spec.items() if arg.required and name not in args]
        if missing:
            names = ", ".join(repr(name) for name in missing)
            raise JobInvalid(f"job {kind!r} needs the argument(s) {names}")

    def submit(self, kind: str, args: dict[str, Any], trigger: str, caller: Caller) -> JobRun:
        self.check_args(kind, args)
        job_id = uuid.uuid4().hex
        run = self.runs.create(job_id, kind, args, trigger, caller.actor)
        try:
            self.queue.enqueue(kind, job_id, args)
        except Exception as exc:
            # The run is recorded: it must not stay `queued` for a job no consumer will see.
            reason = f"could not be queued: {first_line(exc)}"
            log.warning("%s job %s %s", kind, job_id, reason)
            self.runs.finished(job_id, None, reason)
            raise JobQueueUnavailable(
                f"the job queue cannot be reached ({first_line(exc)}); job {job_id} is "
                "recorded as failed; submit it again once the queue is back",
                detail={"id": job_id},
                headers={"Retry-After": "5"},
            ) from None
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
        started = time.monotonic()
        succeeded = self._run(job_id, kind, body, kwargs)
        try:
            # In the metadata store, not this process's metrics: /metrics on any node shows
            # the runs of every process, `cargohold worker`s on other machines included.
            self.runs.count_end(kind, succeeded)
        except Exception:
            log.exception("could not count the end of job %s (%s)", job_id, kind)
        notify(self.events, JobFinished(kind, succeeded, time.monotonic() - started))

    def end_counts(self) -> dict[tuple[str, str], int]:
        """(kind, result) -> runs that ended so, every kind shown (at zero if none ran)."""
        counts = dict.fromkeys(
            ((kind, result) for kind in self.kinds for result in ("succeeded", "failed")), 0
        )
        counts.update(self.runs.end_counts())
        return counts

    def _run(self, job_id: str, kind: str, body: JobBody, kwargs: dict[str, Any]) -> bool:
        """Run one job and record its end; whether it succeeded."""
        if job_id.startswith(UNTRACKED):
            try:
                body(caller=system_caller(SCHEDULE_ACTOR), **kwargs)
            except Exception:
                log.exception("job %s (%s) failed", job_id, kind)
                return False
            return True
        submitted_by = self.runs.started(job_id) or SCHEDULE_ACTOR
        # Changes a job makes are audited under whoever submitted it (method "job"), or the
        # schedule (method "system").
        if submitted_by == SCHEDULE_ACTOR:
            caller = system_caller(SCHEDULE_ACTOR)
        else:
            caller = job_caller(submitted_by)
        try:
            result = body(caller=caller, **kwargs)
        except RegistryError as exc:
            self.runs.finished(job_id, None, exc.message)
            return False
        except Exception as exc:
            log.exception("job %s (%s) failed", job_id, kind)
            self.runs.finished(job_id, None, f"{type(exc).__name__}: {exc}")
            return False
        self.runs.finished(job_id, result)
        return True

    def _run_gc(
        self,
        caller: Caller,
        untagged: bool = False,
        dryRun: bool = False,
    ) -> dict[str, Any]:
        return self.gc.run(dry_run=dryRun, untagged=untagged, caller=caller).as_record()

    def _run_audit_purge(self, caller: Caller) -> dict[str, Any]:
        return self.audit.purge(caller).as_record()

    def _run_lifecycle(self, caller: Caller, repository: str | None = None) -> dict[str, Any]:
        names = [repository] if repository else self.meta.lifecycle_policies.repositories()
        repositories: dict[str, Any] = {}
        failures = 0
        for name in names:
            try:
                outcome = self.lifecycle.apply(name, caller)
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
                # Expiring images kept because they changed since the evaluation.
                "skipped": [
                    {"imageDigest": skip.digest, "reason": skip.reason} for skip in outcome.skipped
                ],
            }
        return {"repositories": repositories, "failures": failures}
