"""service: service_workers, service_leases, service_groups

Revision ID: 0006_service
Revises: 0001_core
Create Date: 2026-11-28

The streaming service's bookkeeping: one row per ``contimg watch`` process (heartbeat),
named singleton leases (the incoming-directory watcher), and one row per planned subband
group with its workflow plan and its claim (owner, lease expiry). Types are spelled out
here so this revision keeps meaning what it meant when it was written.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006_service"
down_revision = "0001_core"
branch_labels = ("service",)
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TS = sa.DateTime(timezone=True)
OWNER = sa.String(200)


def upgrade() -> None:
    op.create_table(
        "service_workers",
        sa.Column("id", ID, primary_key=True),
        sa.Column("owner", OWNER, nullable=False),
        sa.Column("host", sa.String(255), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("process_started_at", TS),
        sa.Column("slots", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("info", sa.JSON(), nullable=False),
        sa.Column("started_at", TS, nullable=False),
        sa.Column("heartbeat_at", TS, nullable=False),
        sa.Column("stopped_at", TS),
        sa.PrimaryKeyConstraint("id", name="pk_service_workers"),
        sa.UniqueConstraint("owner", name="uq_service_workers_owner"),
    )
    op.create_table(
        "service_leases",
        sa.Column("id", ID, primary_key=True),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("owner", OWNER, nullable=False),
        sa.Column("acquired_at", TS, nullable=False),
        sa.Column("expires_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_service_leases"),
        sa.UniqueConstraint("name", name="uq_service_leases_name"),
    )
    op.create_table(
        "service_groups",
        sa.Column("id", ID, primary_key=True),
        sa.Column("group_pk", ID, nullable=False),
        sa.Column("group_id", sa.String(64), nullable=False),
        sa.Column("plan", sa.JSON(), nullable=False),
        sa.Column("calibrator", sa.String(64)),
        sa.Column("transit_at", TS),
        sa.Column("obs_start", TS, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("step", sa.Integer(), nullable=False),
        sa.Column("run_id", ID),
        sa.Column("run_ids", sa.JSON(), nullable=False),
        sa.Column("owner", OWNER),
        sa.Column("claimed_at", TS),
        sa.Column("expires_at", TS),
        sa.Column("takeovers", sa.Integer(), nullable=False),
        sa.Column("ready_at", TS),
        sa.Column("wait_reason", sa.Text()),
        sa.Column("error", sa.Text()),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_service_groups"),
        sa.UniqueConstraint("group_pk", name="uq_service_groups_group_pk"),
        sa.ForeignKeyConstraint(
            ["run_id"], ["runs.id"], name="fk_service_groups_run_id_runs", ondelete="SET NULL"
        ),
    )
    op.create_index("ix_service_groups_state_expires_at", "service_groups", ["state", "expires_at"])
    op.create_index("ix_service_groups_owner", "service_groups", ["owner"])


def downgrade() -> None:
    op.drop_table("service_groups")
    op.drop_table("service_leases")
    op.drop_table("service_workers")
