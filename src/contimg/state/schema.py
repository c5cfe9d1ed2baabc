"""The state database schema: one shared MetaData and the core tables.

``runs``, ``stage_executions`` (one row per stage attempt) and ``log_records``
live here. Product tables live in their area's store module
(``contimg/state/_<area>.py``) but are declared on the same :data:`metadata`,
so that one object describes the whole database and can be compared with what
the migrations build (``tests/state/test_migrations.py`` does).

Changing a table means changing it here *and* adding an Alembic revision; the
database is only ever altered by migrations.
"""

from __future__ import annotations

import sqlalchemy as sa

from contimg.state._base import JSONValue, UTCDateTime, id_column, ref_column

__all__ = ["NAMING_CONVENTION", "log_records", "metadata", "runs", "stage_executions"]

#: Deterministic constraint names, so migrations can refer to them on every backend.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)

runs = sa.Table(
    "runs",
    metadata,
    id_column(),
    sa.Column("workflow", sa.String(200), nullable=False),
    sa.Column("trigger", sa.String(200), nullable=False),
    sa.Column("status", sa.String(32), nullable=False),
    sa.Column("inputs", JSONValue, nullable=False),
    sa.Column("outputs", JSONValue, nullable=False),
    sa.Column("error", sa.Text),
    sa.Column("config_hash", sa.String(128)),
    ref_column("resumed_from", "runs.id", ondelete="SET NULL"),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("started_at", UTCDateTime),
    sa.Column("ended_at", UTCDateTime),
    sa.Index(None, "status", "created_at"),
    sa.Index(None, "workflow", "created_at"),
    sa.Index(None, "created_at"),
)

stage_executions = sa.Table(
    "stage_executions",
    metadata,
    id_column(),
    ref_column("run_id", "runs.id", ondelete="CASCADE", nullable=False),
    sa.Column("stage", sa.String(200), nullable=False),
    sa.Column("attempt", sa.Integer, nullable=False),
    sa.Column("status", sa.String(32), nullable=False),
    sa.Column("run_key", sa.String(256)),
    sa.Column("executor", sa.String(64)),
    sa.Column("started_at", UTCDateTime),
    sa.Column("ended_at", UTCDateTime),
    sa.Column("duration_s", sa.Float),
    sa.Column("cpu_s", sa.Float),
    sa.Column("peak_rss_bytes", sa.BigInteger),
    sa.Column("input_bytes", sa.BigInteger),
    sa.Column("output_bytes", sa.BigInteger),
    sa.Column("outputs", JSONValue, nullable=False),
    sa.Column("skip_reason", sa.Text),
    sa.Column("error_type", sa.String(300)),
    sa.Column("error_message", sa.Text),
    sa.Column("traceback", sa.Text),
    sa.Index(None, "run_id", "id"),
    sa.Index(None, "run_key", "status"),
)

log_records = sa.Table(
    "log_records",
    metadata,
    id_column(),
    ref_column("run_id", "runs.id", ondelete="CASCADE"),
    sa.Column("stage", sa.String(200)),
    sa.Column("time", UTCDateTime, nullable=False),
    sa.Column("level", sa.String(16), nullable=False),
    sa.Column("event", sa.Text, nullable=False),
    sa.Column("fields", JSONValue, nullable=False),
    sa.Index(None, "run_id", "time"),
)
