"""What the HTTP handlers are given: the services, built once per process."""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import Request

from cargohold.config import Settings
from cargohold.services.pulls import PullRecorder
from cargohold.services.registry import RegistryService
from cargohold.services.uploads import UploadService


@dataclass
class AppContext:
    settings: Settings
    registry: RegistryService
    uploads: UploadService
    pulls: PullRecorder


def context(request: Request) -> AppContext:
    return request.app.state.ctx  # type: ignore[no-any-return]
