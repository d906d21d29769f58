"""Extension points: what an extension (extensions/) may hook into the registry's core.

The composition root (wiring.py) hands each service the hooks of every enabled extension as
constructor arguments; a service calls them in order and never knows which extension gave them.
"""

from __future__ import annotations

from typing import Protocol

from cargohold.meta.manifests import StoredManifest
from cargohold.oci.manifests import Manifest


class OnPush(Protocol):
    """Called after a manifest is stored (e.g. queue a scan). It must not block for long: the
    push waits for it. What it raises is logged and does not fail the push, which is stored."""

    def __call__(self, repository: str, digest: str, manifest: Manifest) -> None: ...


class PullGate(Protocol):
    """Called before a pull of a manifest is answered; refuses it by raising a RegistryError
    (DENIED), lets it through by returning."""

    def __call__(self, repository: str, stored: StoredManifest) -> None: ...
