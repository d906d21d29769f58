"""The signatures extension turned off (`signatures = false`): no signature gate, no hook, no
job, no routes. The twin of signatures.py."""

from __future__ import annotations

from cargohold.config import Settings
from cargohold.extensions.base import CoreServices, Extension
from cargohold.services.extension_points import ImageChecks

NAME = "signatures"


def enable(settings: Settings, core: CoreServices) -> Extension:
    return Extension(
        name=NAME,
        enabled=False,
        on_push=(),
        pull_gates=(),
        job_kinds=(),
        image_checks=ImageChecks(),
    )
