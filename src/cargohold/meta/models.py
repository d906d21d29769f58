"""Tables of the metadata store. Times are UNIX seconds (float) on every backend.

Names and tags sort by bytes on both stores: SQLite's default BINARY
collation, and COLLATE "C" on PostgreSQL.
"""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()


def byte_ordered(length: int) -> sa.types.TypeEngine[str]:
    return sa.String(length).with_variant(sa.String(length, collation="C"), "postgresql")


repositories = sa.Table(
    "repositories",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("name", byte_ordered(255), nullable=False, unique=True),
    sa.Column("created_at", sa.Float, nullable=False),
    # Bumped in the same transaction as any change to the repository's tags: a process may
    # serve a cached tags list while the version it cached it under is still current.
    sa.Column("tags_version", sa.BigInteger, nullable=False, server_default="0"),
)

blobs = sa.Table(
    "blobs",
    metadata,
    sa.Column("digest", sa.String(150), primary_key=True),
    sa.Column("size", sa.BigInteger, nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
    # True only while the bytes are durable in the blob store (see BlobRecords.link).
    sa.Column("stored", sa.Boolean, nullable=False, server_default=sa.true()),
    # When a garbage collection began deleting the bytes (BlobRecords.sweep); NULL otherwise.
    sa.Column("swept_at", sa.Float, nullable=True),
)

# A repository may read a blob only through a link: knowing a digest is not enough.
repository_blobs = sa.Table(
    "repository_blobs",
    metadata,
    sa.Column(
        "repository_id",
        sa.Integer,
        sa.ForeignKey("repositories.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column("digest", sa.String(150), sa.ForeignKey("blobs.digest"), primary_key=True),
    sa.Column("linked_at", sa.Float, nullable=False),
    sa.Index("ix_repository_blobs_digest", "digest"),
)

manifests = sa.Table(
    "manifests",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column(
        "repository_id",
        sa.Integer,
        sa.ForeignKey("repositories.id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("digest", sa.String(150), nullable=False),
    sa.Column("media_type", sa.String(255), nullable=False),
    sa.Column("artifact_type", sa.String(255), nullable=True),
    sa.Column("size", sa.BigInteger, nullable=False),
    sa.Column("content", sa.LargeBinary, nullable=False),
    sa.Column("subject_digest", sa.String(150), nullable=True),
    sa.Column("annotations", sa.Text, nullable=True),
    sa.Column("pushed_at", sa.Float, nullable=False),
    sa.Column("last_pulled_at", sa.Float, nullable=True),
    sa.UniqueConstraint("repository_id", "digest", name="uq_manifests_repository_digest"),
    sa.Index("ix_manifests_subject", "repository_id", "subject_digest"),
    # Lookups by digest across repositories (scan reports, analyses; migration 0021).
    sa.Index("ix_manifests_digest", "digest"),
)

# What each manifest points at: config and layer blobs, and index children.
# Garbage collection, blob-delete checks and image sizes are queries on this.
manifest_references = sa.Table(
    "manifest_references",
    metadata,
    sa.Column(
        "manifest_id",
        sa.Integer,
        sa.ForeignKey("manifests.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column("position", sa.Integer, primary_key=True),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("digest", sa.String(150), nullable=False),
    sa.Column("size", sa.BigInteger, nullable=False),
    sa.Index("ix_manifest_references_digest", "digest"),
)

tags = sa.Table(
    "tags",
    metadata,
    sa.Column(
        "repository_id",
        sa.Integer,
        sa.ForeignKey("repositories.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column("name", byte_ordered(128), primary_key=True),
    sa.Column(
        "manifest_id",
        sa.Integer,
        sa.ForeignKey("manifests.id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("updated_at", sa.Float, nullable=False),
    sa.Index("ix_tags_manifest", "manifest_id"),
)

uploads = sa.Table(
    "uploads",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("repository", sa.String(255), nullable=False),
    sa.Column("offset", sa.BigInteger, nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("updated_at", sa.Float, nullable=False),
    # The session's bytes while they are few enough to live here (services/inline_staging.py);
    # NULL: staged in the blob store.
    sa.Column("staged", sa.LargeBinary, nullable=True),
    # Until when a request appending to such a session holds it (NULL: nobody).
    sa.Column("held_until", sa.Float, nullable=True),
    sa.Index("ix_uploads_updated_at", "updated_at"),
)

# Tag rules: "immutable" (pattern, pattern_kind glob|regex, excludes as a JSON list) and
# "deny-latest", each on a project or one repository.
tag_rules = sa.Table(
    "tag_rules",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("scope", sa.String(16), nullable=False),
    sa.Column("target", sa.String(255), nullable=False),
    sa.Column("pattern", sa.String(255), nullable=False),
    sa.Column("pattern_kind", sa.String(8), nullable=False),
    sa.Column("excludes", sa.Text, nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("created_by", sa.String(255), nullable=False),
    sa.Index("ix_tag_rules_target", "scope", "target"),
)

# The audit log (meta/audit.py): who did what, when, from where, to what, and how it went;
# detail is JSON. Empty strings where a field does not apply (or an older entry lacks it).
audit_events = sa.Table(
    "audit_events",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("at", sa.Float, nullable=False),
    sa.Column("actor", sa.String(255), nullable=False),
    sa.Column("method", sa.String(32), nullable=False, server_default=""),
    sa.Column("address", sa.String(64), nullable=False, server_default=""),
    sa.Column("user_agent", sa.String(256), nullable=False, server_default=""),
    sa.Column("action", sa.String(64), nullable=False),
    sa.Column("project", sa.String(255), nullable=False, server_default=""),
    sa.Column("repository", sa.String(255), nullable=False, server_default=""),
    sa.Column("reference", sa.String(255), nullable=False, server_default=""),
    sa.Column("digest", sa.String(150), nullable=False, server_default=""),
    sa.Column("result", sa.String(16), nullable=False, server_default="ok"),
    sa.Column("target", sa.String(512), nullable=False),
    sa.Column("detail", sa.Text, nullable=False),
    sa.Index("ix_audit_events_at", "at"),
    sa.Index("ix_audit_events_actor_id", "actor", "id"),
    sa.Index("ix_audit_events_action_id", "action", "id"),
    sa.Index("ix_audit_events_project_id", "project", "id"),
    sa.Index("ix_audit_events_repository_id", "repository", "id"),
)

# Retention holds: scope project|repository|image; digest only for image holds.
holds = sa.Table(
    "holds",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("scope", sa.String(16), nullable=False),
    sa.Column("target", sa.String(255), nullable=False),
    sa.Column("digest", sa.String(150), nullable=True),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("ends_at", sa.Float, nullable=True),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("created_by", sa.String(255), nullable=False),
    sa.Index("ix_holds_target", "target"),
)

# The lifecycle policy of a repository, as the ECR JSON document it was given.
lifecycle_policies = sa.Table(
    "lifecycle_policies",
    metadata,
    sa.Column(
        "repository_id",
        sa.Integer,
        sa.ForeignKey("repositories.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column("policy", sa.Text, nullable=False),
    sa.Column("updated_at", sa.Float, nullable=False),
    sa.Column("updated_by", sa.String(255), nullable=False),
)

# Storage quota of a project: the bytes of the distinct blobs its manifests reference, plus
# those of pushes in flight (see meta/quotas.py).
project_quotas = sa.Table(
    "project_quotas",
    metadata,
    sa.Column("project", sa.String(255), primary_key=True),
    sa.Column("limit_bytes", sa.BigInteger, nullable=False),
    sa.Column("updated_at", sa.Float, nullable=False),
    sa.Column("updated_by", sa.String(255), nullable=False),
)

# A job the queue was asked to run (gc, lifecycle, scan), and what came of it.
job_runs = sa.Table(
    "job_runs",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("kind", sa.String(64), nullable=False),
    sa.Column("args", sa.Text, nullable=False),
    # queued -> running -> succeeded | failed
    sa.Column("state", sa.String(16), nullable=False),
    # api, schedule, push
    sa.Column("trigger", sa.String(32), nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("created_by", sa.String(255), nullable=False),
    sa.Column("started_at", sa.Float),
    sa.Column("finished_at", sa.Float),
    sa.Column("result", sa.Text),
    sa.Column("error", sa.Text),
    sa.Index("ix_job_runs_created_at", "created_at"),
)

# Jobs that ended, by kind and result (succeeded, failed), tracked or not: what /metrics shows
# as `cargohold_job_runs_total`, whichever process or machine ran them.
job_run_counts = sa.Table(
    "job_run_counts",
    metadata,
    sa.Column("kind", sa.String(64), primary_key=True),
    sa.Column("result", sa.String(16), primary_key=True),
    sa.Column("runs", sa.BigInteger, nullable=False),
)

# Signature enforcement (meta/signatures.py): the public keys a project trusts, whether it
# refuses pulls of images none of them signed, and each image's stored verdict.
trusted_keys = sa.Table(
    "trusted_keys",
    metadata,
    sa.Column("project", sa.String(255), primary_key=True),
    sa.Column("fingerprint", sa.String(80), primary_key=True),
    sa.Column("algorithm", sa.String(64), nullable=False),
    sa.Column("pem", sa.Text, nullable=False),
    sa.Column("added_at", sa.Float, nullable=False),
    sa.Column("added_by", sa.String(255), nullable=False),
)

signature_enforcement = sa.Table(
    "signature_enforcement",
    metadata,
    sa.Column("project", sa.String(255), primary_key=True),
    sa.Column("enforce", sa.Boolean, nullable=False),
    sa.Column("updated_at", sa.Float, nullable=False),
    sa.Column("updated_by", sa.String(255), nullable=False),
)

# signed | index-signed | accessory | unsigned | untrusted (policy/signature_gate.py).
signature_verdicts = sa.Table(
    "signature_verdicts",
    metadata,
    sa.Column("repository", sa.String(255), primary_key=True),
    sa.Column("digest", sa.String(150), primary_key=True),
    sa.Column("project", sa.String(255), nullable=False),
    sa.Column("verdict", sa.String(16), nullable=False),
    sa.Column("key_fingerprint", sa.String(80), nullable=True),
    sa.Column("computed_at", sa.Float, nullable=False),
    sa.Index("ix_signature_verdicts_project", "project"),
)

# One row: bumped by every change of the three tables above, so a server process reloads its
# in-memory view of them (the signature gate's) only when something changed.
signature_generation = sa.Table(
    "signature_generation",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("generation", sa.BigInteger, nullable=False),
)

# Image analyses (meta/analyses.py): the analyzer's document (analysis/model.py) per
# image manifest, in the analyzer's format version; an older version is computed again.
image_analyses = sa.Table(
    "image_analyses",
    metadata,
    sa.Column("digest", sa.String(150), primary_key=True),
    sa.Column("format_version", sa.Integer, nullable=False),
    sa.Column("analyzed_at", sa.Float, nullable=False),
    sa.Column("document", sa.Text, nullable=False),
)

# What the Kubernetes admission webhook admitted (meta/admissions.py): one row per cluster,
# namespace, workload, repository and digest; lifecycle and GC keep an image admitted within
# the admission_keep_days window.
admissions = sa.Table(
    "admissions",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("cluster", sa.String(63), nullable=False),
    sa.Column("namespace", sa.String(253), nullable=False),
    sa.Column("kind", sa.String(63), nullable=False),
    sa.Column("name", sa.String(253), nullable=False),
    sa.Column("repository", sa.String(255), nullable=False),
    sa.Column("digest", sa.String(150), nullable=False),
    sa.Column("image", sa.String(1024), nullable=False),
    sa.Column("first_admitted_at", sa.Float, nullable=False),
    sa.Column("last_admitted_at", sa.Float, nullable=False),
    sa.UniqueConstraint(
        "cluster", "namespace", "kind", "name", "repository", "digest", name="uq_admissions"
    ),
    sa.Index("ix_admissions_repository_digest", "repository", "digest", "last_admitted_at"),
    sa.Index("ix_admissions_last", "last_admitted_at"),
)
