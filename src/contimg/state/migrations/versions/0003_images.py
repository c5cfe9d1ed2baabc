"""images: images, image_sources

Revision ID: 0003_images
Revises: 0001_core
Create Date: 2026-11-28

Image products with their QA figures and verdict, and the per-image source catalogue.
Types are spelled out here so this revision keeps meaning what it meant when it was written.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003_images"
down_revision = "0001_core"
branch_labels = ("images",)
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TS = sa.DateTime(timezone=True)
PATH = sa.String(1024)


def upgrade() -> None:
    op.create_table(
        "images",
        sa.Column("id", ID, primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("group_id", sa.String(64)),
        sa.Column("ms_path", PATH, nullable=False),
        sa.Column("image_path", PATH, nullable=False),
        sa.Column("pbcor_path", PATH, nullable=False),
        sa.Column("pb_path", PATH, nullable=False),
        sa.Column("psf_path", PATH),
        sa.Column("residual_path", PATH),
        sa.Column("model_path", PATH),
        sa.Column("png_path", PATH),
        sa.Column("catalogue_path", PATH),
        sa.Column("backend", sa.String(32), nullable=False),
        sa.Column("frequency_hz", sa.Float(), nullable=False),
        sa.Column("bmaj_arcsec", sa.Float(), nullable=False),
        sa.Column("bmin_arcsec", sa.Float(), nullable=False),
        sa.Column("bpa_deg", sa.Float(), nullable=False),
        sa.Column("cell_arcsec", sa.Float(), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("ra_deg", sa.Float(), nullable=False),
        sa.Column("dec_deg", sa.Float(), nullable=False),
        sa.Column("obs_time", TS),
        sa.Column("calibration_set", sa.String(200)),
        sa.Column("rms_jy", sa.Float()),
        sa.Column("peak_jy", sa.Float()),
        sa.Column("dynamic_range", sa.Float()),
        sa.Column("n_sources", sa.Integer()),
        sa.Column("n_matched", sa.Integer()),
        sa.Column("flux_ratio", sa.Float()),
        sa.Column("ra_offset_arcsec", sa.Float()),
        sa.Column("dec_offset_arcsec", sa.Float()),
        sa.Column("verdict", sa.String(16), nullable=False),
        sa.Column("qa", sa.JSON(), nullable=False),
        sa.Column("run_id", ID),
        sa.Column("created_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_images"),
        sa.UniqueConstraint("name", name="uq_images_name"),
        sa.ForeignKeyConstraint(
            ["run_id"], ["runs.id"], name="fk_images_run_id_runs", ondelete="SET NULL"
        ),
    )
    op.create_index("ix_images_group_id", "images", ["group_id"])
    op.create_index("ix_images_created_at", "images", ["created_at"])

    op.create_table(
        "image_sources",
        sa.Column("id", ID, primary_key=True),
        sa.Column("image_id", ID, nullable=False),
        sa.Column("ra_deg", sa.Float(), nullable=False),
        sa.Column("dec_deg", sa.Float(), nullable=False),
        sa.Column("ra_err_arcsec", sa.Float(), nullable=False),
        sa.Column("dec_err_arcsec", sa.Float(), nullable=False),
        sa.Column("peak_jy", sa.Float(), nullable=False),
        sa.Column("peak_err_jy", sa.Float(), nullable=False),
        sa.Column("flux_jy", sa.Float(), nullable=False),
        sa.Column("flux_err_jy", sa.Float(), nullable=False),
        sa.Column("maj_arcsec", sa.Float(), nullable=False),
        sa.Column("min_arcsec", sa.Float(), nullable=False),
        sa.Column("pa_deg", sa.Float(), nullable=False),
        sa.Column("rms_jy", sa.Float(), nullable=False),
        sa.Column("pb", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_image_sources"),
        sa.ForeignKeyConstraint(
            ["image_id"],
            ["images.id"],
            name="fk_image_sources_image_id_images",
            ondelete="CASCADE",
        ),
    )
    op.create_index("ix_image_sources_image_id", "image_sources", ["image_id"])


def downgrade() -> None:
    op.drop_index("ix_image_sources_image_id", table_name="image_sources")
    op.drop_table("image_sources")
    op.drop_index("ix_images_created_at", table_name="images")
    op.drop_index("ix_images_group_id", table_name="images")
    op.drop_table("images")
