"""The signatures extension: signature enforcement on pull. Its pull gate is the "signature
gate" (services/signature_gate.py), its on-push hook recomputes the verdict of an image whose
signature arrives (and of a manifest pushed again), its job recomputes a large project's
verdicts; its admin routes are api/trust.py, which the HTTP layer adds when the extension is
enabled.

Imported only when `signatures = true`; signatures_disabled.py is its twin.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cargohold.config import Settings
from cargohold.extensions.base import CoreServices, Extension
from cargohold.meta.manifests import StoredManifest
from cargohold.meta.signatures import SignatureRecords
from cargohold.oci.manifests import Manifest
from cargohold.services.caller import Caller
from cargohold.services.extension_points import ImageChecks
from cargohold.services.jobs import JobArg, JobKind
from cargohold.services.signature_gate import SignatureGate
from cargohold.services.signature_policy import (
    RECOMPUTE_JOB,
    SignaturePolicyService,
    check_project,
)
from cargohold.services.signature_verdicts import SignatureVerdicts

NAME = "signatures"


@dataclass(frozen=True)
class SignaturesExtension(Extension):
    """The extension, with the service its admin routes use."""

    policy: SignaturePolicyService


def _project_arg(value: str) -> str | None:
    try:
        check_project(value)
    except Exception as exc:  # the error's message, as a job argument's problem
        return str(exc)
    return None


def enable(settings: Settings, core: CoreServices) -> SignaturesExtension:
    records = SignatureRecords(core.meta.db)
    verdicts = SignatureVerdicts(core.meta, core.blobs, records)
    gate = SignatureGate(records, verdicts)

    def queue_recompute(project: str, caller: Caller) -> None:
        core.jobs.submit(RECOMPUTE_JOB, {"project": project}, "api", caller)

    policy = SignaturePolicyService(records, verdicts, gate, queue_recompute)

    def recompute(caller: Caller, project: str) -> dict[str, Any]:
        stored = verdicts.recompute_project(project)
        gate.invalidate()
        return {"project": project, "verdicts": stored}

    def signed(repository: str, stored: StoredManifest) -> None:
        refused = gate.refusal_of(repository, stored.digest)
        if refused is not None:
            raise refused

    def pushed(repository: str, digest: str, manifest: Manifest, tag: str | None) -> None:
        verdicts.pushed(repository, digest, tag, manifest)

    return SignaturesExtension(
        name=NAME,
        enabled=True,
        on_push=(pushed,),
        pull_gates=(gate.pull_gate(),),
        image_checks=ImageChecks(signature=signed),
        job_kinds=(
            JobKind(
                RECOMPUTE_JOB,
                recompute,
                {"project": JobArg(str, required=True, check=_project_arg)},
            ),
        ),
        policy=policy,
    )
