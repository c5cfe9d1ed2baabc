"""The state store: runs, stage attempts, logs and pipeline products in one database.

Opening a database
------------------
>>> from contimg.state import open_repository
>>> with open_repository("sqlite:///:memory:") as repo:
...     run = repo.create_run("standard", trigger="cli", inputs={"group": "g1"})
...     repo.get_run(run.id).status.value
'pending'

``open_repository(url)`` accepts ``sqlite:///path/contimg.sqlite3``,
``sqlite:///:memory:`` (a private database per repository, shared by every
thread using that repository; gone when it is closed) and
``postgresql://user@host/db`` (psycopg 3). It applies any pending migration
first; that costs one small query when the database is already current, and two
processes opening one fresh SQLite file at once are safe. ``upgrade(url)`` does
only the migration (``contimg db upgrade``). Engine code should depend on the
:class:`StateRepository` protocol; :class:`SqlStateRepository` is its only
implementation. Datetimes go in timezone-aware (naive ones are refused) and come
out aware UTC; JSON columns take JSON-compatible values (``Path`` -> ``str``;
NaN refused) and come back as plain ``dict``/``list``.

Adding a product store (files, groups, images, ...)
---------------------------------------------------
Each area owns three small pieces and one line in ``sql.py``:

1. ``src/contimg/state/_<area>.py``: the tables, declared on the shared
   :data:`contimg.state.schema.metadata` with the shared column helpers, a
   ``Protocol`` for what the rest of the code may ask, and an SQL class::

       import sqlalchemy as sa
       from typing import Protocol
       from contimg.state._base import (
           JSONValue, SqlStore, UTCDateTime, id_column, ref_column, utcnow,
       )
       from contimg.state.schema import metadata

       groups = sa.Table(
           "groups", metadata,
           id_column(),
           sa.Column("group_id", sa.String(64), nullable=False, unique=True),
           sa.Column("state", sa.String(32), nullable=False),
           ref_column("run_id", "runs.id", ondelete="SET NULL"),
           sa.Column("meta", JSONValue, nullable=False),
           sa.Column("updated_at", UTCDateTime, nullable=False),
           sa.Index(None, "state", "updated_at"),
       )

       class GroupStore(Protocol):
           def claim_next(self, owner: str) -> GroupRecord | None: ...

       class SqlGroupStore(SqlStore):           # __init__(engine) is inherited
           _INSERT = sa.insert(groups)          # build statements once
           def add(self, ...):
               with self.write() as conn:       # short transaction
                   conn.execute(self._INSERT, {...})
           def claim_next(self, owner):
               row = self.claim_one(groups, where=groups.c.state == "complete",
                                    values={"state": "claimed", "owner": owner,
                                            "updated_at": utcnow()},
                                    order_by=(groups.c.updated_at,))
               return None if row is None else GroupRecord(**row)

   Constraint and index names come from the MetaData naming convention
   (``ix_<table>_<cols>``, ``uq_<table>_<cols>``, ``fk_<table>_<col>_<ref>``,
   ``pk_<table>``); use ``sa.Index(None, ...)`` and spell the same names in the
   migration.
2. ``src/contimg/state/migrations/versions/000N_<area>.py``: one Alembic revision
   with ``revision = "000N_<area>"``, ``down_revision = "0001_core"``,
   ``branch_labels = ("<area>",)``, creating exactly those tables with plain
   ``sa`` types (``sa.BigInteger().with_variant(sa.Integer(), "sqlite")`` for
   ids, ``sa.DateTime(timezone=True)``, ``sa.JSON()``); copy
   ``versions/0001_core.py``. Later changes: a new revision whose
   ``down_revision`` is your previous one. ``upgrade`` goes to ``heads``, so
   branches never depend on each other's order.
   ``tests/state/test_migrations.py`` checks that the migrated database matches
   the MetaData, yours included.
3. One line in ``SqlStateRepository.__init__`` (``sql.py``), plus its import::

       self.groups: GroupStore = SqlGroupStore(engine)

Transactions and exactly-once claims
------------------------------------
:class:`SqlStore` (the base of every store and of the repository) offers
``write()`` (a transaction; on SQLite ``BEGIN IMMEDIATE``, so read-then-write is
atomic across processes and never fails on lock upgrade), ``read()``,
``lock_rows(select)`` (adds ``FOR UPDATE SKIP LOCKED`` on PostgreSQL, no-op on
SQLite where ``write()`` already serialises writers) and
``claim_one(table, where=, values=, order_by=)``, which hands each matching row to
exactly one caller among any number of threads, processes or machines.
"""

from contimg.state._base import SqlStore
from contimg.state._engine import create_state_engine
from contimg.state._migrate import SchemaVersionError, head_revisions
from contimg.state.records import (
    LogRecord,
    RunRecord,
    RunStatus,
    StageAttemptRecord,
    StageStatus,
)
from contimg.state.repository import StateRepository
from contimg.state.sql import SqlStateRepository, open_repository, upgrade

__all__ = [
    "LogRecord",
    "RunRecord",
    "RunStatus",
    "SchemaVersionError",
    "SqlStateRepository",
    "SqlStore",
    "StageAttemptRecord",
    "StageStatus",
    "StateRepository",
    "create_state_engine",
    "head_revisions",
    "open_repository",
    "upgrade",
]
