"""The pull gate: "prevent vulnerable images from being pulled", as a pure decision.

A manifest GET of an image whose scan has findings at or above the project's threshold
(CVE allowlist entries excepted), or that was not scanned yet when the policy says so, is
refused. An index is judged by its worst child. The message names the worst findings.

A scan that failed (a layer that is not a readable tar stream, a blob missing from the store)
fails closed: the image is refused under `unscanned` and under any severity threshold, since
nothing about it was checked, and the message says the scan failed, why, and how to rescan.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

SEVERITIES = ("CRITICAL", "HIGH", "MEDIUM", "LOW", "UNKNOWN")
NAMED_IN_MESSAGE = 3


@dataclass(frozen=True)
class GatePolicy:
    threshold: str | None  # the lowest severity that blocks (CRITICAL..LOW); None: no gate
    unscanned: bool  # refuse images that have no scan report yet

    @property
    def threshold_rank(self) -> int:
        return SEVERITIES.index(self.threshold) if self.threshold else -1

    @property
    def active(self) -> bool:
        return self.threshold is not None or self.unscanned


@dataclass(frozen=True)
class ImageScan:
    """What the gate knows of one image manifest (an index's child, or the image itself)."""

    digest: str
    scanned: bool
    failed: bool = False
    blocking_problem: str | None = None
    error: str | None = None  # why the scan failed (one line), when it did


@dataclass(frozen=True)
class Refusal:
    """Why a pull is refused: the message, and what kind of refusal it is (`scanStatus`):
    `pending` (no scan yet), `failed` (the scan failed), `vulnerable` (findings at or above
    the threshold) or `incomplete` (packages that could not be inventoried)."""

    message: str
    scan_status: str
    digest: str | None = None
    reason: str | None = None

    def detail(self) -> dict[str, str]:
        detail = {"scanStatus": self.scan_status}
        if self.digest:
            detail["scannedDigest"] = self.digest
        if self.reason:
            detail["reason"] = self.reason
        return detail


RESCAN_HINT = (
    "rescan it once the cause is fixed (`cargohold scan --rescan HOST/REPOSITORY@DIGEST`, "
    "or POST /api/v1/repositories/REPOSITORY/manifests/DIGEST/scan?rescan=true)"
)


@dataclass(frozen=True)
class BlockingFinding:
    vuln_id: str
    ids: tuple[str, ...]
    severity: str
    package: str


def decide(
    policy: GatePolicy,
    images: list[ImageScan],
    findings: Iterable[BlockingFinding],
    allowed: set[str],
) -> Refusal | None:
    """None to allow the pull, or why it is refused."""
    if not policy.active:
        return None
    failed = [image for image in images if image.scanned and image.failed]
    if failed:
        # Fail closed: under any active policy, an image whose scan failed was never checked.
        image = failed[0]
        reason = image.error or "unknown error"
        return Refusal(
            f"the vulnerability scan of image {image.digest} failed ({reason}) and the "
            f"project's policy refuses images that could not be scanned; {RESCAN_HINT}",
            "failed",
            image.digest,
            reason,
        )
    unscanned = [image.digest for image in images if not image.scanned]
    if policy.unscanned and unscanned:
        return Refusal(
            f"image {unscanned[0]} has not been scanned for vulnerabilities yet and the project's "
            "policy refuses unscanned images; retry once the scan is done",
            "pending",
            unscanned[0],
        )
    if policy.threshold is None:
        return None
    problems = [image for image in images if image.blocking_problem]
    if problems:
        return Refusal(
            f"image {problems[0].digest} could not be fully scanned "
            f"({problems[0].blocking_problem}); the project's policy refuses it",
            "incomplete",
            problems[0].digest,
            problems[0].blocking_problem,
        )
    blocking = [f for f in findings if not (allowed & {f.vuln_id, *f.ids})]
    if not blocking:
        return None
    seen: dict[str, BlockingFinding] = {}
    for finding in sorted(blocking, key=lambda f: (SEVERITIES.index(f.severity), f.vuln_id)):
        seen.setdefault(finding.vuln_id, finding)
    worst = list(seen.values())
    named = ", ".join(f"{f.vuln_id} ({f.severity}, {f.package})" for f in worst[:NAMED_IN_MESSAGE])
    more = f" and {len(worst) - NAMED_IN_MESSAGE} more" if len(worst) > NAMED_IN_MESSAGE else ""
    return Refusal(
        f"image has {len(worst)} vulnerabilit{'y' if len(worst) == 1 else 'ies'} at or above "
        f"{policy.threshold}, which the project's policy refuses to serve: {named}{more}",
        "vulnerable",
    )
