"""What an extension gives the core: hooks, admission checks and kinds of job. Its admin
routes belong to the HTTP layer (api/app.py EXTENSION_ROUTES), which adds them for the
extensions enabled."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.engine import Engine

from cargohold.meta.store import MetadataStore
from cargohold.services.events import EventSink
from cargohold.services.extension_points import ImageChecks, OnPush, PullGate
from cargohold.services.jobs import JobKind, JobService
from cargohold.storage.base import BlobDriver


@dataclass(frozen=True)
class CoreServices:
    """What an extension may build on: the core's stores and its job service. Built before
    the services that take the extensions' hooks (the registry)."""

    engine: Engine
    meta: MetadataStore
    blobs: BlobDriver
    jobs: JobService
    # The event sinks the core's services tell (services/events.py): an extension's services
    # with events of their own tell the same ones.
    events: Sequence[EventSink]


@dataclass(frozen=True)
class Extension:
    """An enabled (or disabled) extension, as the composition root wires it."""

    name: str
    enabled: bool
    on_push: Sequence[OnPush]
    pull_gates: Sequence[PullGate]
    job_kinds: Sequence[JobKind]
    # What the admission webhook asks of an image of this registry before it may run.
    image_checks: ImageChecks
