"""variability: mosaics, mosaic_inputs, sources, photometry

Revision ID: 0004_variability
Revises: 0001_core
Create Date: 2026-11-28

Mosaics with their input images, monitored sources with their running light-curve
state and metrics, and forced photometry per (source, image). Types are spelled out
here so this revision keeps meaning what it meant when it was written.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004_variability"
down_revision = "0001_core"
branch_labels = ("variability",)
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TS = sa.DateTime(timezone=True)
PATH = sa.String(1024)


def upgrade() -> None:
    op.create_table(
        "mosaics",
        sa.Column("id", ID, primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("path", PATH, nullable=False),
        sa.Column("weight_path", PATH, nullable=False),
        sa.Column("noise_path", PATH, nullable=False),
        sa.Column("png_path", PATH),
        sa.Column("start_time", TS),
        sa.Column("end_time", TS),
        sa.Column("ra_deg", sa.Float()),
        sa.Column("dec_deg", sa.Float()),
        sa.Column("n_inputs", sa.Integer(), nullable=False),
        sa.Column("qa_passed", sa.Boolean(), nullable=False),
        sa.Column("qa", sa.JSON(), nullable=False),
        sa.Column("run_id", ID),
        sa.Column("created_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_mosaics"),
        sa.UniqueConstraint("name", name="uq_mosaics_name"),
        sa.ForeignKeyConstraint(
            ["run_id"], ["runs.id"], name="fk_mosaics_run_id_runs", ondelete="SET NULL"
        ),
    )
    op.create_index("ix_mosaics_start_time", "mosaics", ["start_time"])

    op.create_table(
        "mosaic_inputs",
        sa.Column("id", ID, primary_key=True),
        sa.Column("mosaic_id", ID, nullable=False),
        sa.Column("image_path", PATH, nullable=False),
        sa.Column("pb_path", PATH, nullable=False),
        sa.Column("rms_jy", sa.Float(), nullable=False),
        sa.Column("image_id", ID),
        sa.PrimaryKeyConstraint("id", name="pk_mosaic_inputs"),
        sa.UniqueConstraint(
            "mosaic_id", "image_path", name="uq_mosaic_inputs_mosaic_id_image_path"
        ),
        sa.ForeignKeyConstraint(
            ["mosaic_id"],
            ["mosaics.id"],
            name="fk_mosaic_inputs_mosaic_id_mosaics",
            ondelete="CASCADE",
        ),
    )

    op.create_table(
        "sources",
        sa.Column("id", ID, primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("ra_deg", sa.Float(), nullable=False),
        sa.Column("dec_deg", sa.Float(), nullable=False),
        sa.Column("origin", sa.String(32), nullable=False),
        sa.Column("catalog_flux_jy", sa.Float()),
        sa.Column("n_meas", sa.Integer(), nullable=False),
        sa.Column("n_upper_limits", sa.Integer(), nullable=False),
        sa.Column("sum_w", sa.Float(), nullable=False),
        sa.Column("wmean", sa.Float(), nullable=False),
        sa.Column("wm2", sa.Float(), nullable=False),
        sa.Column("mean", sa.Float(), nullable=False),
        sa.Column("m2", sa.Float(), nullable=False),
        sa.Column("eta", sa.Float(), nullable=False),
        sa.Column("v", sa.Float()),
        sa.Column("candidate", sa.Boolean(), nullable=False),
        sa.Column("last_time", TS),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_sources"),
        sa.UniqueConstraint("name", name="uq_sources_name"),
    )
    op.create_index("ix_sources_candidate_eta", "sources", ["candidate", "eta"])

    op.create_table(
        "photometry",
        sa.Column("id", ID, primary_key=True),
        sa.Column("source_id", ID, nullable=False),
        sa.Column("image_path", PATH, nullable=False),
        sa.Column("image_id", ID),
        sa.Column("time", TS),
        sa.Column("flux_jy", sa.Float(), nullable=False),
        sa.Column("flux_err_jy", sa.Float(), nullable=False),
        sa.Column("local_rms_jy", sa.Float(), nullable=False),
        sa.Column("snr", sa.Float(), nullable=False),
        sa.Column("upper_limit", sa.Boolean(), nullable=False),
        sa.Column("limit_jy", sa.Float(), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_photometry"),
        sa.UniqueConstraint("source_id", "image_path", name="uq_photometry_source_id_image_path"),
        sa.ForeignKeyConstraint(
            ["source_id"],
            ["sources.id"],
            name="fk_photometry_source_id_sources",
            ondelete="CASCADE",
        ),
    )
    op.create_index("ix_photometry_source_id_time", "photometry", ["source_id", "time"])


def downgrade() -> None:
    op.drop_table("photometry")
    op.drop_table("sources")
    op.drop_table("mosaic_inputs")
    op.drop_table("mosaics")
