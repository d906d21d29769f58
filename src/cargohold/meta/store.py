"""The metadata store: the way in to every metadata module.

`MetadataStore` builds one `Database` (database.py) and one module per concern over it, and
exposes them as attributes: `meta.repositories`, `meta.manifests`, `meta.tags`, `meta.blobs`,
`meta.uploads`, `meta.tag_rules`, `meta.holds`, `meta.quotas`, `meta.lifecycle_policies`,
`meta.audit_log`, `meta.listings`, `meta.accounting`, `meta.deletions`, `meta.analyses`,
`meta.admissions`, `meta.unstored_images`, `meta.referrer_cascade`. It keeps no methods of its
own: callers write `meta.manifests.put(...)`, and the composition root (wiring.py) hands a
service the modules it uses rather than the whole store where that is clearer
(docs/decisions/016-metadata-modules.md).
"""

from __future__ import annotations

from sqlalchemy.engine import Engine

from cargohold.meta.accounting import StorageAccounting
from cargohold.meta.admissions import AdmissionRecords
from cargohold.meta.analyses import AnalysisRecords
from cargohold.meta.audit import AuditLog
from cargohold.meta.blob_locations import BlobLocationRecords
from cargohold.meta.blobs import BlobRecords
from cargohold.meta.database import Database
from cargohold.meta.deletions import ManifestDeletions
from cargohold.meta.holds import HoldRecords
from cargohold.meta.lifecycle_policies import LifecyclePolicyRecords
from cargohold.meta.listings import Listings
from cargohold.meta.manifests import ManifestRecords
from cargohold.meta.quotas import QuotaRecords
from cargohold.meta.referrer_cascade import ReferrerCascade
from cargohold.meta.repositories import RepositoryRecords
from cargohold.meta.tag_rules import TagRuleRecords
from cargohold.meta.tags import TagRecords
from cargohold.meta.unstored_images import UnstoredImageRecords
from cargohold.meta.uploads import UploadRecords


class MetadataStore:
    def __init__(self, database: Database | Engine, link_grace_seconds: float = 3600.0) -> None:
        self.db = database if isinstance(database, Database) else Database(database)
        # A link to a blob that no manifest of the repository references counts (for quotas,
        # listings and sizes) only this long after it was made: the blob of a push whose
        # manifest has not arrived yet. The garbage collector's grace period, so what usage
        # counts is exactly what garbage collection must keep.
        self.link_grace_seconds = link_grace_seconds
        self.dialect = self.db.dialect
        self.repositories = RepositoryRecords(self.db, link_grace_seconds)
        self.manifests = ManifestRecords(self.db)
        self.tags = TagRecords(self.db)
        self.uploads = UploadRecords(self.db)
        self.tag_rules = TagRuleRecords(self.db)
        self.holds = HoldRecords(self.db)
        self.quotas = QuotaRecords(self.db, link_grace_seconds)
        self.lifecycle_policies = LifecyclePolicyRecords(self.db)
        self.audit_log = AuditLog(self.db)
        self.blobs = BlobRecords(self.db, self.quotas)
        self.listings = Listings(self.db, link_grace_seconds)
        self.accounting = StorageAccounting(self.db, link_grace_seconds)
        self.admissions = AdmissionRecords(self.db)
        self.deletions = ManifestDeletions(self.db, self.holds)
        self.analyses = AnalysisRecords(self.db)
        self.unstored_images = UnstoredImageRecords(self.db)
        # Where the S3 driver's located uploads put a blob (storage/s3/located.py).
        self.blob_locations = BlobLocationRecords(self.db)
        self.referrer_cascade = ReferrerCascade(self.db)
