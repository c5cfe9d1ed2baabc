"""core: runs, stage_executions, log_records

Revision ID: 0001_core
Revises:
Create Date: 2026-11-28

The root of every branch: each area adds its own revision with
``down_revision = "0001_core"`` and ``branch_labels = ("<area>",)``.
Types are spelled out here (not imported from ``contimg.state``) so this
revision keeps meaning what it meant when it was written.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001_core"
down_revision = None
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "runs",
        sa.Column("id", ID, primary_key=True),
        sa.Column("workflow", sa.String(200), nullable=False),
        sa.Column("trigger", sa.String(200), nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("inputs", sa.JSON(), nullable=False),
        sa.Column("outputs", sa.JSON(), nullable=False),
        sa.Column("error", sa.Text()),
        sa.Column("config_hash", sa.String(128)),
        sa.Column("resumed_from", ID),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("started_at", TS),
        sa.Column("ended_at", TS),
        sa.PrimaryKeyConstraint("id", name="pk_runs"),
        sa.ForeignKeyConstraint(
            ["resumed_from"], ["runs.id"], name="fk_runs_resumed_from_runs", ondelete="SET NULL"
        ),
    )
    op.create_index("ix_runs_status_created_at", "runs", ["status", "created_at"])
    op.create_index("ix_runs_workflow_created_at", "runs", ["workflow", "created_at"])
    op.create_index("ix_runs_created_at", "runs", ["created_at"])

    op.create_table(
        "stage_executions",
        sa.Column("id", ID, primary_key=True),
        sa.Column("run_id", ID, nullable=False),
        sa.Column("stage", sa.String(200), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("run_key", sa.String(256)),
        sa.Column("executor", sa.String(64)),
        sa.Column("started_at", TS),
        sa.Column("ended_at", TS),
        sa.Column("duration_s", sa.Float()),
        sa.Column("cpu_s", sa.Float()),
        sa.Column("peak_rss_bytes", sa.BigInteger()),
        sa.Column("input_bytes", sa.BigInteger()),
        sa.Column("output_bytes", sa.BigInteger()),
        sa.Column("outputs", sa.JSON(), nullable=False),
        sa.Column("skip_reason", sa.Text()),
        sa.Column("error_type", sa.String(300)),
        sa.Column("error_message", sa.Text()),
        sa.Column("traceback", sa.Text()),
        sa.PrimaryKeyConstraint("id", name="pk_stage_executions"),
        sa.ForeignKeyConstraint(
            ["run_id"], ["runs.id"], name="fk_stage_executions_run_id_runs", ondelete="CASCADE"
        ),
    )
    op.create_index("ix_stage_executions_run_id_id", "stage_executions", ["run_id", "id"])
    op.create_index("ix_stage_executions_run_key_status", "stage_executions", ["run_key", "status"])

    op.create_table(
        "log_records",
        sa.Column("id", ID, primary_key=True),
        sa.Column("run_id", ID),
        sa.Column("stage", sa.String(200)),
        sa.Column("time", TS, nullable=False),
        sa.Column("level", sa.String(16), nullable=False),
        sa.Column("event", sa.Text(), nullable=False),
        sa.Column("fields", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_log_records"),
        sa.ForeignKeyConstraint(
            ["run_id"], ["runs.id"], name="fk_log_records_run_id_runs", ondelete="CASCADE"
        ),
    )
    op.create_index("ix_log_records_run_id_time", "log_records", ["run_id", "time"])


def downgrade() -> None:
    op.drop_table("log_records")
    op.drop_table("stage_executions")
    op.drop_table("runs")
