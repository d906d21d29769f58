"""The signature gate: the pull gate that refuses, in a project that enforces signatures, a
manifest GET of an image no trusted key signed (docs/trust.md, decision 036).

It keeps the manifest GET a fast read on the event loop:
- a project that does not enforce: `applies` says no, from memory (one set lookup);
- a manifest of an enforcing project whose stored verdict passes (a signed image, or an
  accessory by its content): `passes` says so, from memory (the view holds the passing
  (repository, digest) pairs of enforcing projects);
- anything else goes to the pool: `check` looks the verdict up (one indexed query), computes
  it when none is stored, and refuses with DENIED naming the keys expected.

The view is reloaded every PULL_GATE_REFRESH_SECONDS (the server's refresh loop) only when the
stored generation moved: every change of keys, switch or verdicts bumps it.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from cargohold.errors import Denied
from cargohold.meta.manifests import StoredManifest
from cargohold.meta.signatures import SignatureRecords
from cargohold.oci.names import project_of
from cargohold.policy.signature_gate import PASSING, passes, refusal
from cargohold.services.extension_points import PullGate
from cargohold.services.signature_verdicts import SignatureVerdicts


@dataclass(frozen=True)
class _View:
    generation: int
    enforcing: frozenset[str]
    passing: frozenset[tuple[str, str]]


class SignatureGate:
    def __init__(self, records: SignatureRecords, verdicts: SignatureVerdicts) -> None:
        self.records = records
        self.verdicts = verdicts
        # Serialises reloads (never taken on the event loop: readers take the view as it is).
        self._reload_lock = threading.Lock()
        # None until first loaded: the gate then applies everywhere (fail closed).
        self._view: _View | None = None

    def pull_gate(self) -> PullGate:
        return PullGate(
            applies=self.applies, check=self.check, refresh=self.refresh, passes=self.passes
        )

    def refresh(self, force: bool = False) -> None:
        """Reload the view if the stored generation moved (one query when it did not)."""
        with self._reload_lock:
            generation = self.records.generation()
            view = self._view
            if view is not None and view.generation == generation and not force:
                return
            # Read after the generation: a change landing meanwhile bumps it past this one, and
            # the next refresh reads again.
            enforcing = frozenset(self.records.enforcing_projects())
            passing = frozenset(self.records.passing_in_enforcing_projects(PASSING))
            self._view = _View(generation, enforcing, passing)

    def invalidate(self) -> None:
        """A change made through this process: reload now (other processes within a refresh
        interval). Dropped first, so a failing reload leaves the gate applying everywhere."""
        self._view = None
        self.refresh(force=True)

    # -- on the event loop: memory only ----------------------------------------------------

    def applies(self, repository: str) -> bool:
        view = self._view
        return view is None or project_of(repository) in view.enforcing

    def passes(self, repository: str, stored: StoredManifest) -> bool:
        """Whether the pull surely passes: its stored verdict passes (an accessory's too:
        having a `subject` lets nothing through, decision 043)."""
        view = self._view
        return view is not None and (repository, stored.digest) in view.passing

    # -- on the pool ---------------------------------------------------------------------------

    def check(self, repository: str, stored: StoredManifest) -> None:
        """Called only when `needs_check` said so (RegistryService.check_gates): the project
        enforces and the pull does not surely pass. Without a view, the switch is read."""
        project = project_of(repository)
        if self._view is None and not self.records.enforcement(project).enforce:
            return
        refused = self.refusal_of(repository, stored.digest)
        if refused is not None:
            raise refused

    def refusal_of(self, repository: str, digest: str) -> Denied | None:
        """The DENIED a pull of this image would get from an enforcing project (its stored
        verdict, computed when missing), or None when it passes, whatever the project's switch
        says: the admission webhook asks this of every image it admits. May query."""
        found = self.records.verdict(repository, digest)
        if found is None:
            found = self.verdicts.compute(repository, digest)
        if found is None or passes(found.verdict):
            return None  # None: deleted meanwhile; the caller answers what it read
        project = project_of(repository)
        fingerprints = [key.fingerprint for key in self.records.keys(project)]
        return Denied(
            refusal(project, digest, found.verdict, fingerprints),
            detail={"project": project, "verdict": found.verdict, "expectedKeys": fingerprints},
        )
