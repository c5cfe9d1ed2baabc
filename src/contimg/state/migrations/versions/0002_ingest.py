"""ingest: files, groups, ms_index

Revision ID: 0002_ingest
Revises: 0001_core
Create Date: 2026-11-28

Indexed UVH5 subband files, the groups they form (and their conversion state), and the
Measurement Sets made from them. Types are spelled out here so this revision keeps meaning
what it meant when it was written.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002_ingest"
down_revision = "0001_core"
branch_labels = ("ingest",)
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TS = sa.DateTime(timezone=True)
PATH = sa.String(1024)
GROUP_ID = sa.String(64)


def upgrade() -> None:
    op.create_table(
        "files",
        sa.Column("id", ID, primary_key=True),
        sa.Column("path", PATH, nullable=False),
        sa.Column("subband", sa.Integer(), nullable=False),
        sa.Column("timestamp", TS, nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("dec_deg", sa.Float()),
        sa.Column("group_id", GROUP_ID, nullable=False),
        sa.Column("indexed_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_files"),
        sa.UniqueConstraint("path", name="uq_files_path"),
    )
    op.create_index("ix_files_group_id_subband", "files", ["group_id", "subband"])
    op.create_index("ix_files_timestamp", "files", ["timestamp"])

    op.create_table(
        "groups",
        sa.Column("id", ID, primary_key=True),
        sa.Column("group_id", GROUP_ID, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("n_subbands", sa.Integer(), nullable=False),
        sa.Column("n_expected", sa.Integer(), nullable=False),
        sa.Column("has_sb00", sa.Boolean(), nullable=False),
        sa.Column("first_timestamp", TS, nullable=False),
        sa.Column("last_timestamp", TS, nullable=False),
        sa.Column("dec_deg", sa.Float()),
        sa.Column("error", sa.Text()),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_groups"),
        sa.UniqueConstraint("group_id", name="uq_groups_group_id"),
    )
    op.create_index("ix_groups_state_first_timestamp", "groups", ["state", "first_timestamp"])
    op.create_index("ix_groups_first_timestamp", "groups", ["first_timestamp"])

    op.create_table(
        "ms_index",
        sa.Column("id", ID, primary_key=True),
        sa.Column("path", PATH, nullable=False),
        sa.Column("group_id", GROUP_ID, nullable=False),
        sa.Column("start_mjd", sa.Float(), nullable=False),
        sa.Column("mid_mjd", sa.Float(), nullable=False),
        sa.Column("end_mjd", sa.Float(), nullable=False),
        sa.Column("dec_deg", sa.Float(), nullable=False),
        sa.Column("n_fields", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("meta", sa.JSON(), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_ms_index"),
        sa.UniqueConstraint("path", name="uq_ms_index_path"),
    )
    op.create_index("ix_ms_index_group_id", "ms_index", ["group_id"])
    op.create_index("ix_ms_index_mid_mjd", "ms_index", ["mid_mjd"])


def downgrade() -> None:
    op.drop_table("ms_index")
    op.drop_table("groups")
    op.drop_table("files")
