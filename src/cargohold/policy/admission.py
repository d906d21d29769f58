"""The Kubernetes admission webhook's decisions, as pure functions: reading an AdmissionReview
(admission.k8s.io/v1) request, finding every container of the workload it is about, judging
each image from the facts the service gathered, and writing the AdmissionReview response (a
verdict with its reasons and warnings, or a JSONPatch that pins tags to digests).

The field names are those of the Kubernetes API reference (AdmissionReview,
AdmissionRequest, AdmissionResponse, metav1.Status).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

API_VERSION = "admission.k8s.io/v1"
KIND = "AdmissionReview"
OPERATIONS = frozenset({"CREATE", "UPDATE", "DELETE", "CONNECT"})
# Where each kind keeps its pod spec (a JSON pointer's segments). Any other kind runs no
# container: it is admitted without a look.
POD_SPEC_PATHS: Mapping[str, tuple[str, ...]] = {
    "Pod": ("spec",),
    "Deployment": ("spec", "template", "spec"),
    "StatefulSet": ("spec", "template", "spec"),
    "DaemonSet": ("spec", "template", "spec"),
    "ReplicaSet": ("spec", "template", "spec"),
    "ReplicationController": ("spec", "template", "spec"),
    "Job": ("spec", "template", "spec"),
    "CronJob": ("spec", "jobTemplate", "spec", "template", "spec"),
}
CONTAINER_SECTIONS = ("initContainers", "containers", "ephemeralContainers")
# How the foreign-image setting reads (config.FOREIGN_IMAGE_CHOICES).
ALLOW, WARN, DENY = "allow", "warn", "deny"


class ReviewInvalid(ValueError):
    """The body is not an AdmissionReview v1 request; the message says what is wrong."""


@dataclass(frozen=True)
class ReviewRequest:
    uid: str
    kind: str  # the object's kind, as request.kind.kind names it
    namespace: str
    name: str  # the object's name (or, for a Pod made by a controller, its generateName)
    operation: str
    dry_run: bool
    object: Mapping[str, Any] | None
    # On an UPDATE, the object as it was: only the images an update changes are judged.
    old_object: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class ContainerImage:
    section: str  # containers, initContainers or ephemeralContainers
    index: int
    name: str
    image: str
    pointer: str  # the JSON pointer of its `image` field in the object

    @property
    def where(self) -> str:
        return f'container "{self.name}" ({self.section}[{self.index}])'


@dataclass(frozen=True)
class ImageOutcome:
    """What the service found for one container's image."""

    container: ContainerImage
    # The repository and digest in this registry it resolved to (None: another registry's,
    # or not found).
    repository: str | None = None
    digest: str | None = None
    # Why it may not run (None: it may).
    refusal: str | None = None
    # Said to whoever applies the workload, without refusing it.
    warning: str | None = None
    # The reference with the verified digest, for the mutating webhook (None: nothing to pin).
    pinned: str | None = None


@dataclass
class ReviewVerdict:
    allowed: bool
    denials: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    patch: list[dict[str, Any]] = field(default_factory=list)


def _object(value: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(value, dict):
        raise ReviewInvalid(f"{where} must be a JSON object")
    return value


def _string(value: Any, where: str, required: bool = False) -> str:
    if value is None and not required:
        return ""
    if not isinstance(value, str) or (required and not value):
        raise ReviewInvalid(f"{where} must be a{' non-empty' if required else ''} string")
    return value


def parse_review(document: Any) -> ReviewRequest:
    """The request of an AdmissionReview v1 document; ReviewInvalid names what is wrong."""
    review = _object(document, "the body")
    if review.get("apiVersion") != API_VERSION or review.get("kind") != KIND:
        raise ReviewInvalid(
            f"the body must be an AdmissionReview with apiVersion {API_VERSION} (the webhook's "
            "admissionReviewVersions must include v1)"
        )
    request = _object(review.get("request"), "request")
    uid = _string(request.get("uid"), "request.uid", required=True)
    kind = _object(request.get("kind"), "request.kind")
    operation = _string(request.get("operation"), "request.operation", required=True)
    if operation not in OPERATIONS:
        raise ReviewInvalid(f"request.operation must be one of {', '.join(sorted(OPERATIONS))}")
    dry_run = request.get("dryRun", False)
    if dry_run is None:
        dry_run = False
    if not isinstance(dry_run, bool):
        raise ReviewInvalid("request.dryRun must be true or false")
    obj = request.get("object")
    if operation in ("CREATE", "UPDATE"):
        obj = _object(obj, "request.object")
    elif obj is not None and not isinstance(obj, dict):
        raise ReviewInvalid("request.object must be a JSON object or null")
    old = request.get("oldObject")
    if old is not None and not isinstance(old, dict):
        raise ReviewInvalid("request.oldObject must be a JSON object or null")
    metadata = obj.get("metadata") if obj is not None else None
    metadata = metadata if isinstance(metadata, dict) else {}
    name = (
        _string(request.get("name"), "request.name")
        or _string(metadata.get("name"), "request.object.metadata.name")
        or _string(metadata.get("generateName"), "request.object.metadata.generateName")
    )
    namespace = _string(request.get("namespace"), "request.namespace") or _string(
        metadata.get("namespace"), "request.object.metadata.namespace"
    )
    return ReviewRequest(
        uid=uid,
        kind=_string(kind.get("kind"), "request.kind.kind", required=True),
        namespace=namespace,
        name=name,
        operation=operation,
        dry_run=dry_run,
        object=obj,
        old_object=old if operation == "UPDATE" else None,
    )


def containers_of(request: ReviewRequest) -> list[ContainerImage]:
    """Every container, init container and ephemeral container the object would run (none
    for a kind that runs no pod, or a DELETE or CONNECT). On an UPDATE, only those whose
    image the update sets or changes: scaling a Deployment, or relabelling a Pod, runs
    nothing new and is not judged again."""
    if request.operation not in ("CREATE", "UPDATE") or request.object is None:
        return []
    found = _containers(request.kind, request.object)
    if request.old_object is None:
        return found
    try:
        before = {
            (c.section, c.index, c.image) for c in _containers(request.kind, request.old_object)
        }
    except ReviewInvalid:
        before = set()
    return [c for c in found if (c.section, c.index, c.image) not in before]


def _containers(kind: str, obj: Mapping[str, Any]) -> list[ContainerImage]:
    path = POD_SPEC_PATHS.get(kind)
    if path is None:
        return []
    spec: Any = obj
    for i, segment in enumerate(path):
        spec = spec.get(segment) if isinstance(spec, dict) else None
        if spec is None:
            return []
        if not isinstance(spec, dict):
            where = "request.object." + ".".join(path[: i + 1])
            raise ReviewInvalid(f"{where} must be a JSON object")
    found: list[ContainerImage] = []
    base = "/" + "/".join(path)
    for section in CONTAINER_SECTIONS:
        listed = spec.get(section)
        if listed is None:
            continue
        if not isinstance(listed, list):
            raise ReviewInvalid(f"the pod spec's {section} must be a list")
        for index, container in enumerate(listed):
            where = f"{section}[{index}]"
            entry = _object(container, f"the pod spec's {where}")
            found.append(
                ContainerImage(
                    section=section,
                    index=index,
                    name=_string(entry.get("name"), f"{where}.name"),
                    image=_string(entry.get("image"), f"{where}.image", required=True),
                    pointer=f"{base}/{section}/{index}/image",
                )
            )
    return found


def foreign_outcome(container: ContainerImage, host: str, policy: str) -> ImageOutcome:
    """An image of another registry, as `admission_foreign_images` says."""
    words = f"{container.where}: image {container.image} is from {host}, not this registry"
    if policy == ALLOW:
        return ImageOutcome(container)
    if policy == WARN:
        return ImageOutcome(container, warning=f"{words}; it was not checked")
    return ImageOutcome(container, refusal=f"{words}, and images of other registries are refused")


def judge(outcomes: Sequence[ImageOutcome]) -> ReviewVerdict:
    """The workload may run when none of its images is refused; every refusal is named."""
    denials = [o.refusal for o in outcomes if o.refusal]
    warnings = [o.warning for o in outcomes if o.warning]
    return ReviewVerdict(allowed=not denials, denials=denials, warnings=warnings)


def pin(outcomes: Sequence[ImageOutcome]) -> list[dict[str, Any]]:
    """The JSONPatch that replaces each verified tag reference by its digest."""
    return [
        {"op": "replace", "path": o.container.pointer, "value": o.pinned}
        for o in outcomes
        if o.pinned is not None and o.pinned != o.container.image
    ]


def response(uid: str, verdict: ReviewVerdict) -> dict[str, Any]:
    """The AdmissionReview v1 document answering request `uid`."""
    answer: dict[str, Any] = {"uid": uid, "allowed": verdict.allowed}
    if not verdict.allowed:
        answer["status"] = {
            "code": 403,
            "reason": "Forbidden",
            "message": "; ".join(verdict.denials),
        }
    if verdict.warnings:
        answer["warnings"] = list(verdict.warnings)
    if verdict.patch:
        answer["patchType"] = "JSONPatch"
        answer["patch"] = base64.b64encode(
            json.dumps(verdict.patch, separators=(",", ":")).encode()
        ).decode()
    return {"apiVersion": API_VERSION, "kind": KIND, "response": answer}
