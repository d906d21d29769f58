"""Scanning: the vulnerability database, stored scan reports and findings, scan policies.

The `vuln_*` tables mirror meta/vulndb.py (the same store serves `cargohold vulndb` on a local
file and the registry here).

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"


def upgrade() -> None:
    op.create_table(
        "vuln_records",
        sa.Column("id", sa.Text, primary_key=True),
        sa.Column("modified", sa.Float, nullable=False),
        sa.Column("withdrawn", sa.Float, nullable=True),
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("data", sa.Text, nullable=False),
    )
    op.create_index("ix_vuln_records_source", "vuln_records", ["source"])
    op.create_table(
        "vuln_affected",
        sa.Column("record_id", sa.Text, primary_key=True),
        sa.Column("ecosystem", sa.Text, primary_key=True),
        sa.Column("name", sa.Text, primary_key=True),
    )
    op.create_index("ix_vuln_affected_package", "vuln_affected", ["ecosystem", "name"])
    op.create_table(
        "vuln_ids",
        sa.Column("record_id", sa.Text, primary_key=True),
        sa.Column("alias", sa.Text, primary_key=True),
    )
    op.create_index("ix_vuln_ids_alias", "vuln_ids", ["alias"])
    op.create_table(
        "vuln_sources",
        sa.Column("name", sa.Text, primary_key=True),
        sa.Column("location", sa.Text, nullable=False),
        sa.Column("records", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("last_import_at", sa.Float, nullable=True),
        sa.Column("last_modified", sa.Float, nullable=True),
    )
    op.create_table(
        "vuln_state",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("serial", sa.BigInteger, nullable=False),
        sa.Column("instance", sa.String(32), nullable=False),
        sa.Column("updated_at", sa.Float, nullable=True),
    )
    op.create_table(
        "vuln_changes",
        sa.Column("serial", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("ecosystem", sa.Text, primary_key=True),
        sa.Column("name", sa.Text, primary_key=True),
    )

    # One report per scanned image manifest (by digest: the same image in two repositories
    # is scanned once). The inventory is kept so a new database re-evaluates it.
    op.create_table(
        "scan_reports",
        sa.Column("digest", sa.String(150), primary_key=True),
        sa.Column("status", sa.String(16), nullable=False),  # ok | error
        sa.Column("error", sa.Text),
        sa.Column("scanned_at", sa.Float, nullable=False),
        sa.Column("evaluated_at", sa.Float, nullable=False),
        sa.Column("db_version", sa.Text),
        sa.Column("inventory", sa.Text),
        # 0..4 (CRITICAL..UNKNOWN) of the worst finding; 5 when there is none.
        sa.Column("worst_rank", sa.Integer, nullable=False),
        sa.Column("blocking_problem", sa.Text),
    )
    op.create_table(
        "scan_findings",
        sa.Column("digest", sa.String(150), primary_key=True),
        sa.Column("vuln_id", sa.String(255), primary_key=True),
        sa.Column("package_key", sa.String(1024), primary_key=True),
        sa.Column("severity_rank", sa.Integer, nullable=False),
        sa.Column("ids", sa.Text, nullable=False),  # every id, space-separated
        sa.Column("fixed", sa.Boolean, nullable=False),
        sa.Column("first_seen", sa.Float, nullable=False),
        sa.Column("data", sa.Text, nullable=False),
    )
    op.create_index("ix_scan_findings_rank", "scan_findings", ["digest", "severity_rank"])
    op.create_table(
        "scan_policies",
        sa.Column("project", sa.String(255), primary_key=True),
        sa.Column("scan_on_push", sa.Boolean, nullable=True),
        # The lowest severity that blocks a pull (CRITICAL..LOW); NULL: pulls are not gated.
        sa.Column("prevent_severity", sa.String(16), nullable=True),
        sa.Column("prevent_unscanned", sa.Boolean, nullable=False),
        sa.Column("updated_at", sa.Float, nullable=False),
        sa.Column("updated_by", sa.String(255), nullable=False),
    )
    op.create_table(
        "cve_allowlist",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("project", sa.String(255), nullable=False),  # "" for system-wide
        sa.Column("vuln_id", sa.String(255), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("expires_at", sa.Float, nullable=True),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("created_by", sa.String(255), nullable=False),
    )
    op.create_index("ix_cve_allowlist_project", "cve_allowlist", ["project"])


def downgrade() -> None:
    for table in (
        "cve_allowlist",
        "scan_policies",
        "scan_findings",
        "scan_reports",
        "vuln_changes",
        "vuln_state",
        "vuln_sources",
        "vuln_ids",
        "vuln_affected",
        "vuln_records",
    ):
        op.drop_table(table)
