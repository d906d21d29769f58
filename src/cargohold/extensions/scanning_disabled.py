"""The scanning extension turned off (`scanning = false`): no hooks, no kinds of job, no
routes, and nothing of the scanner imported. The twin of scanning.py."""

from __future__ import annotations

from cargohold.config import Settings
from cargohold.extensions.base import CoreServices, Extension
from cargohold.services.extension_points import ImageChecks

NAME = "scanning"


def enable(settings: Settings, core: CoreServices) -> Extension:
    return Extension(
        name=NAME,
        enabled=False,
        on_push=(),
        pull_gates=(),
        job_kinds=(),
        image_checks=ImageChecks(),
    )
