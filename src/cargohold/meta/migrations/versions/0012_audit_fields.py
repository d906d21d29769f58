"""The audit log's own fields: how the actor authenticated, from where and with what client,
the project, repository, reference and digest an entry is about, and its result.

Entries written before this revision keep their target and detail; their new fields are
empty, except where the target names them in a known shape (registry deletes
`repository@digest` and `repository:tag`, a repository's lifecycle policy, a project's
quota, scan policy, settings and members), which are filled in so the filters find them.
Indexes: one per filter with the id, so a filtered page newest first is an index range,
and the time index the retention purge uses stays.

Revision ID: 0012
Revises: 0011
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"

_NEW_COLUMNS = (
    # How the actor authenticated (anonymous, password, robot, token, bearer, job, system).
    ("method", 32, ""),
    ("address", 64, ""),
    ("user_agent", 256, ""),
    ("project", 255, ""),
    ("repository", 255, ""),
    # A tag or a digest, as the client named it.
    ("reference", 255, ""),
    ("digest", 150, ""),
    # ok, denied or failed.
    ("result", 16, "ok"),
)
_FILTERS = ("actor", "action", "project", "repository")

# Actions of older entries whose target names a repository (with a reference) or a project.
_BY_REPOSITORY_AT_DIGEST = ("manifest.delete", "blob.delete")
_BY_REPOSITORY_TAG = ("tag.delete",)
_BY_REPOSITORY = ("lifecycle.set", "lifecycle.remove")
_BY_PROJECT = (
    "quota.set",
    "quota.remove",
    "scan-policy.set",
    "scan-policy.remove",
    "project.create",
    "project.update",
    "project.delete",
    "member.set",
    "member.remove",
)


def _fields_of(action: str, target: str) -> dict[str, str] | None:
    if action in _BY_REPOSITORY_AT_DIGEST and "@" in target:
        repository, digest = target.split("@", 1)
        return {"repository": repository, "digest": digest}
    if action in _BY_REPOSITORY_TAG and ":" in target:
        repository, tag = target.rsplit(":", 1)
        return {"repository": repository, "reference": tag}
    if action in _BY_REPOSITORY:
        return {"repository": target}
    if action in _BY_PROJECT:
        return {"project": target}
    return None


def _backfill(connection: sa.Connection) -> None:
    events = sa.table(
        "audit_events",
        sa.column("id", sa.Integer),
        sa.column("action", sa.String),
        sa.column("target", sa.String),
        sa.column("project", sa.String),
        sa.column("repository", sa.String),
        sa.column("reference", sa.String),
        sa.column("digest", sa.String),
    )
    actions = (*_BY_REPOSITORY_AT_DIGEST, *_BY_REPOSITORY_TAG, *_BY_REPOSITORY, *_BY_PROJECT)
    rows = connection.execute(
        sa.select(events.c.id, events.c.action, events.c.target).where(events.c.action.in_(actions))
    ).all()
    updates = []
    for event_id, action, target in rows:
        fields = _fields_of(action, target)
        if fields is None:
            continue
        if "repository" in fields:
            fields["project"] = fields["repository"].split("/", 1)[0]
        updates.append(
            {
                "event_id": event_id,
                "project": fields.get("project", ""),
                "repository": fields.get("repository", ""),
                "reference": fields.get("reference", ""),
                "digest": fields.get("digest", ""),
            }
        )
    if updates:
        connection.execute(
            events.update()
            .where(events.c.id == sa.bindparam("event_id"))
            .values(
                project=sa.bindparam("project"),
                repository=sa.bindparam("repository"),
                reference=sa.bindparam("reference"),
                digest=sa.bindparam("digest"),
            ),
            updates,
        )


def upgrade() -> None:
    with op.batch_alter_table("audit_events") as batch:
        for name, length, default in _NEW_COLUMNS:
            batch.add_column(
                sa.Column(name, sa.String(length), nullable=False, server_default=default)
            )
    _backfill(op.get_bind())
    for name in _FILTERS:
        op.create_index(f"ix_audit_events_{name}_id", "audit_events", [name, "id"])


def downgrade() -> None:
    for name in _FILTERS:
        op.drop_index(f"ix_audit_events_{name}_id", "audit_events")
    with op.batch_alter_table("audit_events") as batch:
        for name, _, _ in reversed(_NEW_COLUMNS):
            batch.drop_column(name)
