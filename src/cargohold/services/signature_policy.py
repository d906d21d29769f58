"""Projects' signature enforcement as project admins manage it: the trusted keys (cosign PEM
public keys) and the switch. Each change is audited with who made it (in its transaction,
meta/signatures.py), recomputes the verdicts of a project that enforces (inline up to
RECOMPUTE_INLINE manifests, else as a job) and refreshes this process's signature gate at
once."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from cargohold.errors import TrustKeyExists, TrustKeyInvalid, TrustKeyUnknown
from cargohold.meta.signatures import Enforcement, SignatureRecords, TrustedKeyRow
from cargohold.oci.names import is_valid_name
from cargohold.services.caller import Caller
from cargohold.services.signature_gate import SignatureGate
from cargohold.services.signature_verdicts import RECOMPUTE_INLINE, SignatureVerdicts
from cargohold.trust.keys import KeyFileError, describe_key, key_id, load_public_key, public_key_pem

log = logging.getLogger("cargohold.trust")

MAX_PEM_BYTES = 16 * 1024
RECOMPUTE_JOB = "signature-verdicts"

# Queue a recomputation job for a project: (project, caller).
QueueRecompute = Callable[[str, Caller], None]


def check_project(project: str) -> None:
    if "/" in project or not is_valid_name(project):
        raise TrustKeyInvalid(f"{project[:100]!r} is not a project name")


class SignaturePolicyService:
    def __init__(
        self,
        records: SignatureRecords,
        verdicts: SignatureVerdicts,
        gate: SignatureGate,
        queue_recompute: QueueRecompute,
    ) -> None:
        self.records = records
        self.verdicts = verdicts
        self.gate = gate
        self.queue_recompute = queue_recompute

    def keys(self, project: str) -> list[TrustedKeyRow]:
        check_project(project)
        return self.records.keys(project)

    def enforcement(self, project: str) -> Enforcement:
        check_project(project)
        return self.records.enforcement(project)

    def add_key(self, project: str, pem: str, caller: Caller) -> TrustedKeyRow:
        check_project(project)
        if not pem.strip():
            raise TrustKeyInvalid("pem must be the public key (cosign.pub) as a PEM string")
        if len(pem.encode()) > MAX_PEM_BYTES:
            raise TrustKeyInvalid(f"pem is longer than {MAX_PEM_BYTES} bytes")
        try:
            key = load_public_key(pem.encode())
        except KeyFileError as exc:
            raise TrustKeyInvalid(str(exc)) from None
        row = TrustedKeyRow(
            project,
            key_id(key),
            describe_key(key),
            public_key_pem(key).decode(),
            time.time(),
            caller.actor,
        )
        if not self.records.add_key(row, caller.as_actor()):
            raise TrustKeyExists(f"project {project} trusts key {row.fingerprint} already")
        self.changed(project, caller)
        return row

    def remove_key(self, project: str, fingerprint: str, caller: Caller) -> TrustedKeyRow:
        check_project(project)
        removed = self.records.remove_key(project, fingerprint, caller.as_actor())
        if removed is None:
            raise TrustKeyUnknown(f"project {project} trusts no key {fingerprint[:100]!r}")
        self.changed(project, caller)
        return removed

    def set_enforcement(self, project: str, enforce: bool, caller: Caller) -> Enforcement:
        check_project(project)
        result = self.records.set_enforcement(project, enforce, caller.as_actor())
        if enforce:
            self.changed(project, caller)
        else:
            self.gate.invalidate()
        return result

    def changed(self, project: str, caller: Caller) -> None:
        """Recompute the project's verdicts when it enforces (they were dropped with the
        change, so a pull meanwhile computes its own; a project that does not enforce keeps
        none: nothing reads them), then refresh the gate."""
        try:
            if not self.verdicts.enforces(project):
                return
            if self.verdicts.project_size(project) <= RECOMPUTE_INLINE:
                self.verdicts.recompute_project(project)
            else:
                self.queue_recompute(project, caller)
        finally:
            self.gate.invalidate()
