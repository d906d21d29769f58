"""What the HTTP handlers are given: the services, built once per process."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import Any, TypeVar

from starlette.requests import Request

from cargohold.config import Settings
from cargohold.services.fsck import BlobConsistencyCheck
from cargohold.services.gc import GarbageCollector
from cargohold.services.holds import HoldService
from cargohold.services.inventory import InventoryService
from cargohold.services.jobs import JobService, ScanJobs
from cargohold.services.lifecycle import LifecycleService
from cargohold.services.pulls import PullRecorder
from cargohold.services.quotas import QuotaService
from cargohold.services.registry import RegistryService
from cargohold.services.scanning import ScanService
from cargohold.services.storage_report import StorageReportService
from cargohold.services.tag_rules import TagRuleService
from cargohold.services.uploads import UploadService
from cargohold.storage.space import SpaceReserve

T = TypeVar("T")

# Until the access issue brings users, every change is made by the anonymous user.
ANONYMOUS = "anonymous"


@dataclass
class AppContext:
    settings: Settings
    registry: RegistryService
    uploads: UploadService
    pulls: PullRecorder
    inventory: InventoryService
    lifecycle: LifecycleService
    tag_rules: TagRuleService
    holds: HoldService
    gc: GarbageCollector
    quotas: QuotaService
    storage: StorageReportService
    # Metadata writes run here, never on the event loop: a writer waiting for SQLite's lock
    # (held by another worker) must not stall every other request of this process.
    db_executor: Executor
    jobs: JobService
    scans: ScanService
    scan_jobs: ScanJobs
    fsck: BlobConsistencyCheck
    # The data directory's free space and the reserve that keeps deletes working when full.
    space: SpaceReserve

    async def offload(self, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self.db_executor, fn, *args)


def context(request: Request) -> AppContext:
    return request.app.state.ctx  # type: ignore[no-any-return]
