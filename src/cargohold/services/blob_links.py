"""Blobs as repositories see them: a blob belongs to a repository through a link (its size
read on the event loop for HEAD and GET, decision 017), is mounted from another repository
the caller may pull, and is unlinked by a delete (the bytes stay for garbage collection)."""

from __future__ import annotations

from collections.abc import Callable

from cargohold.errors import (
    BlobUnknown,
    Denied,
    NameUnknown,
    Unsupported,
    check_push,
    quota_denied,
)
from cargohold.meta.quotas import QuotaExceeded
from cargohold.meta.store import MetadataStore
from cargohold.oci.digests import check_digest
from cargohold.oci.names import check_name, is_valid_name
from cargohold.policy.access import AccessPolicy
from cargohold.services.audit import AuditTrail
from cargohold.services.caller import Caller
from cargohold.services.holds import HoldService


class BlobLinkService:
    def __init__(
        self, meta: MetadataStore, access: AccessPolicy, holds: HoldService, trail: AuditTrail
    ) -> None:
        self.meta = meta
        self.access = access
        self.holds = holds
        # Unlinks audit themselves in their transactions; refusals are noted here.
        self.trail = trail

    def blob_size(self, repository: str, digest: str) -> int:
        """Size of a blob `repository` links; BLOB_UNKNOWN otherwise, whatever the store holds."""
        check_name(repository)
        check_digest(digest)
        size = self.meta.blobs.linked_size(repository, digest)
        if size is None:
            raise BlobUnknown(detail={"digest": digest})
        return size

    def delete_blob(self, repository: str, digest: str, caller: Caller) -> None:
        """Unlink a blob from one repository (audited, and so is a refusal); the bytes stay
        for garbage collection."""
        check_name(repository)
        check_digest(digest)
        try:
            check_push(self.access.push_denied(repository), repository)
            self.holds.refuse_delete(repository, None, f"blob {digest} from {repository}")
        except Denied as denied:
            self.trail.denied(
                caller, "blob.delete", denied.message, repository=repository, digest=digest
            )
            raise
        if self.meta.blobs.linked_size(repository, digest) is None:
            if not self.meta.repositories.exists(repository):
                raise NameUnknown(detail={"name": repository})
            raise BlobUnknown(detail={"digest": digest})
        if self.meta.blobs.referenced_in(repository, digest):
            raise Unsupported(
                f"blob {digest} is referenced by a manifest in {repository}: delete the manifest "
                "first",
                detail={"digest": digest},
            )
        self.meta.blobs.unlink(repository, digest, caller.as_actor())

    def mount(
        self,
        repository: str,
        digest: str,
        source: str | None,
        caller_may_pull: Callable[[str], bool],
    ) -> int | None:
        """Link `digest` into `repository` from a repository the caller may pull (`source`, or
        without one any repository linking it).

        Returns the size when mounted, None when the caller must upload instead.
        """
        check_push(self.access.push_denied(repository), repository)
        if source is not None:
            candidates = [source] if self._can_read(source, caller_may_pull) else []
        else:
            candidates = [
                r
                for r in self.meta.blobs.repositories_linking(digest)
                if self._can_read(r, caller_may_pull)
            ]
        for candidate in candidates:
            try:
                size = self.meta.blobs.mount(candidate, repository, digest)
            except QuotaExceeded as over:
                raise quota_denied(over.project, over.usage, over.adding, over.limit) from None
            if size is not None:
                return size
        return None

    def _can_read(self, repository: str, caller_may_pull: Callable[[str], bool]) -> bool:
        return (
            is_valid_name(repository)
            and self.access.can_pull(repository)
            and caller_may_pull(repository)
        )
