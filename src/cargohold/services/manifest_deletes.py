"""Deleting a manifest through the registry API: by digest the manifest, its tags, its
accessories (`.sig`-style tags) and its referrers (meta/referrer_cascade.py); by tag only the
tag. Access, holds and tag rules are checked first, with reads only; the delete itself is one
transaction in the metadata store. Both the delete and a refusal are audited."""

from __future__ import annotations

from cargohold.errors import Denied, check_push
from cargohold.meta.store import MetadataStore
from cargohold.oci.accessories import accessory_tags
from cargohold.oci.digests import looks_like_digest
from cargohold.oci.names import check_name
from cargohold.policy.access import AccessPolicy
from cargohold.policy.immutability import check_tags_delete
from cargohold.services.audit import AuditTrail
from cargohold.services.caller import Caller
from cargohold.services.holds import HoldService
from cargohold.services.manifest_references import (
    Reference,
    images_named_by,
    manifest_unknown,
)
from cargohold.services.tag_rules import TagRuleService


class ManifestDeletes:
    def __init__(
        self,
        meta: MetadataStore,
        access: AccessPolicy,
        tag_rules: TagRuleService,
        holds: HoldService,
        trail: AuditTrail,
    ) -> None:
        self.meta = meta
        self.access = access
        self.tag_rules = tag_rules
        self.holds = holds
        self.trail = trail

    def delete_manifest(self, repository: str, reference: str, caller: Caller) -> None:
        """By digest: the manifest, its tags, its accessories (`.sig`-style tags) and its
        referrers (meta/referrer_cascade.py). By tag: only the tag. Both are audited, and so
        is a refusal."""
        try:
            self.check_manifest_delete(repository, reference)
        except Denied as denied:
            action = "manifest.delete" if looks_like_digest(reference) else "tag.delete"
            self.trail.denied(
                caller, action, denied.message, repository=repository, reference=reference[:255]
            )
            raise
        self.remove_manifest(repository, reference, caller)

    def check_manifest_delete(self, repository: str, reference: str) -> None:
        """Access, holds and tag rules; reads only, run before the delete's transaction."""
        check_name(repository)
        check_push(self.access.push_denied(repository), repository)
        ref = Reference.parse_existing(reference)
        if ref is None:
            raise manifest_unknown(self.meta, repository, reference)
        digest = ref.value if ref.is_digest else self.meta.tags.digest(repository, ref.value)
        tags = self.meta.tags.of_manifest(repository, ref.value) if ref.is_digest else [ref.value]
        here = images_named_by(self.meta, repository, tags)
        what = f"{repository}:{reference}"
        if digest is not None:
            self.holds.refuse_delete(repository, digest, what)
            # A hold on an image covers its accessories, and the other way round.
            for subject in sorted(here):
                self.holds.refuse_delete(repository, subject, what)
            if ref.is_digest:
                cascade = self.meta.referrer_cascade
                # A hold on an image covers its referrers, theirs in turn, and the other way
                # round: what the delete takes along (meta/referrer_cascade.py).
                for subject in cascade.subjects_above(repository, digest):
                    self.holds.refuse_delete(repository, subject, what)
                accessories = self._accessories(repository, digest)
                going = list(accessories)
                for referrer in cascade.going_with(repository, digest, accessories):
                    going += [referrer, *self._accessories(repository, referrer)]
                for accessory in going:
                    self.holds.refuse_delete(repository, accessory, what)
        rules = self.tag_rules.rules_for(repository)
        if rules:
            denial = check_tags_delete(rules, repository, tags, here)
            if denial:
                raise Denied(denial, detail={"reference": reference})

    def _accessories(self, repository: str, digest: str) -> list[str]:
        """The digests of the manifests under the image's accessory tags."""
        return sorted(
            {
                found
                for tag in accessory_tags(digest)
                if (found := self.meta.tags.digest(repository, tag)) is not None
            }
        )

    def remove_manifest(self, repository: str, reference: str, caller: Caller) -> None:
        """Delete what check_manifest_delete allowed."""
        ref = Reference.parse(reference)
        if ref.is_digest:
            # Its accessories (`.sig`, `.att`, `.sbom`, the referrers tag schema's index) and
            # its referrers (by `subject`) go with it.
            deleted = self.meta.manifests.delete(
                repository, ref.value, caller.as_actor(), accessory_tags(ref.value)
            )
        else:
            deleted = self.meta.tags.delete(repository, ref.value, caller.as_actor())
        if not deleted:
            raise manifest_unknown(self.meta, repository, reference)
