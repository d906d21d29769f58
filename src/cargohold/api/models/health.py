"""What /healthz and /readyz answer (docs/api.md; not part of the /api/v1 admin API)."""

from __future__ import annotations

from typing import Annotated

import msgspec

from cargohold.api.models.base import Model


class Health(Model):
    status: Annotated[str, msgspec.Meta(description='"ok"')]


class Readiness(Model):
    status: Annotated[str, msgspec.Meta(description='"ready" or "not ready"')]
    # The checks that did not pass, by name; empty when ready.
    failed: list[str]
    # Each check (metadata, blobs, jobs): "ok", "failed" or "timed out".
    checks: dict[str, str]
