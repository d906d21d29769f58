"""What an extension gives the core: hooks, kinds of job and admin routes."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy.engine import Engine

from cargohold.meta.store import MetadataStore
from cargohold.services.extension_points import OnPush, PullGate
from cargohold.services.jobs import JobKind, JobService
from cargohold.storage.base import BlobDriver

if TYPE_CHECKING:
    from starlette.routing import BaseRoute


@dataclass(frozen=True)
class CoreServices:
    """What an extension may build on: the core's stores and its job service. Built before
    the services that take the extensions' hooks (the registry)."""

    engine: Engine
    meta: MetadataStore
    blobs: BlobDriver
    jobs: JobService


@dataclass(frozen=True)
class Extension:
    """An enabled (or disabled) extension, as the composition root wires it.

    `routes` is called only when an HTTP app is built, so a worker process never imports an
    extension's HTTP handlers.
    """

    name: str
    enabled: bool
    on_push: Sequence[OnPush]
    pull_gates: Sequence[PullGate]
    job_kinds: Sequence[JobKind]
    routes: Callable[[], Sequence[BaseRoute]]


def no_routes() -> Sequence[BaseRoute]:
    return ()
