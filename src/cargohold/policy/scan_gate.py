"""The pull gate: "prevent vulnerable images from being pulled", as a pure decision.

A manifest GET of an image whose scan has findings at or above the project's threshold
(CVE allowlist entries excepted), or that was not scanned yet when the policy says so, is
refused. An index is judged by its worst child. The message names the worst findings.
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
) -> str | None:
    """None to allow the pull, or the refusal's message."""
    if not policy.active:
        return None
    unscanned = [image.digest for image in images if not image.scanned or image.failed]
    if policy.unscanned and unscanned:
        return (
            f"image {unscanned[0]} has not been scanned for vulnerabilities yet and the project's "
            "policy refuses unscanned images; retry once the scan is done"
        )
    if policy.threshold is None:
        return None
    problems = [image for image in images if image.blocking_problem]
    if problems:
        return (
            f"image {problems[0].digest} could not be fully scanned "
            f"({problems[0].blocking_problem}); the project's policy refuses it"
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
    return (
        f"image has {len(worst)} vulnerabilit{'y' if len(worst) == 1 else 'ies'} at or above "
        f"{policy.threshold}, which the project's policy refuses to serve: {named}{more}"
    )
