"""calibration: calibrators, caltable_sets, caltables, caltable_applications

Revision ID: 0005_calibration
Revises: 0001_core
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005_calibration"
down_revision = "0001_core"
branch_labels = ("calibration",)
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "calibrators",
        sa.Column("id", ID, primary_key=True),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("j2000_name", sa.String(64), nullable=False),
        sa.Column("aliases", sa.JSON(), nullable=False),
        sa.Column("ra_deg", sa.Float(), nullable=False),
        sa.Column("dec_deg", sa.Float(), nullable=False),
        sa.Column("flux_jy", sa.Float(), nullable=False),
        sa.Column("spectral_index", sa.Float(), nullable=False),
        sa.Column("reference", sa.Text(), nullable=False),
        sa.Column("origin", sa.String(300), nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_calibrators"),
        sa.UniqueConstraint("name", name="uq_calibrators_name"),
    )
    op.create_index("ix_calibrators_dec_deg", "calibrators", ["dec_deg"])

    op.create_table(
        "caltable_sets",
        sa.Column("id", ID, primary_key=True),
        sa.Column("set_id", sa.String(200), nullable=False),
        sa.Column("calibrator", sa.String(200), nullable=False),
        sa.Column("refant", sa.String(64), nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("reasons", sa.JSON(), nullable=False),
        sa.Column("transit_time", TS, nullable=False),
        sa.Column("valid_from", TS, nullable=False),
        sa.Column("valid_to", TS, nullable=False),
        sa.Column("source_ms", sa.Text()),
        sa.Column("group_id", sa.String(64)),
        sa.Column("run_id", ID),
        sa.Column("provenance", sa.JSON(), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_caltable_sets"),
        sa.UniqueConstraint("set_id", name="uq_caltable_sets_set_id"),
        sa.ForeignKeyConstraint(
            ["run_id"], ["runs.id"], name="fk_caltable_sets_run_id_runs", ondelete="SET NULL"
        ),
    )
    op.create_index(
        "ix_caltable_sets_status_transit_time", "caltable_sets", ["status", "transit_time"]
    )

    op.create_table(
        "caltables",
        sa.Column("id", ID, primary_key=True),
        sa.Column("set_pk", ID, nullable=False),
        sa.Column("apply_order", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("interp", sa.String(32), nullable=False),
        sa.Column("qa", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_caltables"),
        sa.ForeignKeyConstraint(
            ["set_pk"],
            ["caltable_sets.id"],
            name="fk_caltables_set_pk_caltable_sets",
            ondelete="CASCADE",
        ),
    )
    op.create_index("ix_caltables_set_pk_apply_order", "caltables", ["set_pk", "apply_order"])

    op.create_table(
        "caltable_applications",
        sa.Column("id", ID, primary_key=True),
        sa.Column("set_pk", ID, nullable=False),
        sa.Column("ms_path", sa.Text(), nullable=False),
        sa.Column("run_id", ID),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.Column("applied_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_caltable_applications"),
        sa.ForeignKeyConstraint(
            ["set_pk"],
            ["caltable_sets.id"],
            name="fk_caltable_applications_set_pk_caltable_sets",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["runs.id"],
            name="fk_caltable_applications_run_id_runs",
            ondelete="SET NULL",
        ),
    )
    op.create_index("ix_caltable_applications_ms_path", "caltable_applications", ["ms_path"])


def downgrade() -> None:
    op.drop_table("caltable_applications")
    op.drop_table("caltables")
    op.drop_table("caltable_sets")
    op.drop_table("calibrators")
