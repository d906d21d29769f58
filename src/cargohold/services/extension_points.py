"""Extension points: what an extension (extensions/) may hook into the registry's core.

The composition root (wiring.py) hands each service the hooks of every enabled extension as
constructor arguments; a service calls them in order and never knows which extension gave them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from cargohold.meta.manifests import StoredManifest
from cargohold.oci.manifests import Manifest


class OnPush(Protocol):
    """Called after a manifest is stored (e.g. queue a scan), with the tag it was pushed under
    (None: by digest). It must not block for long: the push waits for it. What it raises is
    logged and does not fail the push, which is stored."""

    def __call__(
        self, repository: str, digest: str, manifest: Manifest, tag: str | None
    ) -> None: ...


# How often a server process refreshes its pull gates (PullGate.refresh, on its pool): the
# longest a change made through another process (a scan policy set on another worker or node)
# can take to reach this process's pulls, when the pool is not saturated.
PULL_GATE_REFRESH_SECONDS = 2.0


@dataclass(frozen=True)
class PullGate:
    """Asked before a pull of a manifest is answered. The manifest GET is a fast read on the
    event loop (docs/decisions/017-one-event-loop-rule.md), so a gate comes in three parts:

    - `applies(repository)`: whether a pull in this repository needs `check`. From memory
      only, never a query, a lock wait or a file read: it runs on the event loop in every
      manifest GET. When it cannot tell (nothing loaded yet), it says True.
    - `check(repository, stored)`: refuses the pull by raising a RegistryError (DENIED), lets
      it through by returning. It may query: it runs on the pool, and only when `applies` said
      so; the GET then goes to the pool as a whole.
    - `refresh()`: reload what `applies` answers from (it may query). The server calls it on its
      pool every PULL_GATE_REFRESH_SECONDS; a change made through this process should refresh
      the gate at once, itself.
    - `passes(repository, stored)` (optional): from memory only, like `applies`, whether this
      pull surely passes `check`; True keeps the GET a fast read on the event loop (the
      signature gate: an image whose stored verdict passes). False or absent: `check` runs.
    """

    applies: Callable[[str], bool]
    check: Callable[[str, StoredManifest], None]
    refresh: Callable[[], None]
    passes: Callable[[str, StoredManifest], bool] | None = None

    def needs_check(self, repository: str, stored: StoredManifest) -> bool:
        """Whether a pull must go to `check` (memory only: on the event loop)."""
        if not self.applies(repository):
            return False
        return self.passes is None or not self.passes(repository, stored)


class ImageCheck(Protocol):
    """Asked by the admission webhook whether an image of the registry may run in a cluster:
    raises a RegistryError (DENIED) whose message says why not, returns when it may. It may
    query (it runs on the pool). The signatures extension's asks for a valid signature by a
    trusted key of the project whether or not the project enforces signatures on pull; the
    scanning extension's is its pull gate's check (the project's scan policy)."""

    def __call__(self, repository: str, stored: StoredManifest) -> None: ...


@dataclass(frozen=True)
class ImageChecks:
    """An enabled extension's admission checks, by what they check (`signature`: whether an
    image is signed; `other`: the rest)."""

    signature: ImageCheck | None = None
    other: tuple[ImageCheck, ...] = ()
