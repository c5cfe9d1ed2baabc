"""Building blocks shared by every SQL store: column types, transactions, claims.

A product store (``_groups.py``, ``_images.py``, ...) subclasses
:class:`SqlStore`, declares its tables on :data:`contimg.state.schema.metadata`
with :func:`id_column`, :class:`UTCDateTime` and :class:`JSONValue`, and
touches the database only through :meth:`SqlStore.write` and
:meth:`SqlStore.read`. See the ``contimg.state`` package docstring for the
whole recipe.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine, RowMapping
from sqlalchemy.types import TypeDecorator

from contimg.state._engine import BEGIN_MODE_OPTION

__all__ = [
    "JSONValue",
    "SqlStore",
    "UTCDateTime",
    "as_utc",
    "id_column",
    "ref_column",
    "utcnow",
]


def utcnow() -> datetime:
    """Return the current time, timezone-aware UTC."""
    return datetime.now(UTC)


def as_utc(value: datetime) -> datetime:
    """Convert an aware datetime to UTC; a naive one is refused.

    Raises
    ------
    ValueError
        If ``value`` has no timezone: its meaning would depend on the machine.
    """
    if value.tzinfo is None or value.tzinfo.utcoffset(value) is None:
        raise ValueError(f"naive datetime {value.isoformat()}: pass a timezone-aware datetime")
    return value.astimezone(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Timestamp stored as UTC and always returned timezone-aware (UTC).

    PostgreSQL: ``timestamp with time zone``. SQLite has no such type, so the
    value is stored as naive UTC text (fixed width, hence sortable) and the
    timezone is re-attached on the way out. Naive input raises ``ValueError``.
    """

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        """Convert to UTC (naive on SQLite)."""
        if value is None:
            return None
        utc = as_utc(value)
        return utc.replace(tzinfo=None) if dialect.name == "sqlite" else utc

    def process_result_value(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        """Return an aware UTC datetime."""
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class JSONValue(TypeDecorator[Any]):
    """A JSON document (dict, list, str, number, bool or None).

    Stored as ``json`` on PostgreSQL rather than ``jsonb``: ``json`` keeps the
    text exactly as written, so floats such as ``1e20`` come back as floats on
    every backend (``jsonb`` would print them as integers). ``os.PathLike``,
    datetimes and enums are stored as strings; NaN/infinity are refused.
    """

    impl = sa.JSON(none_as_null=True)
    cache_ok = True


def id_column(name: str = "id") -> sa.Column[int]:
    """Make an auto-increment integer primary key (``INTEGER PRIMARY KEY`` on SQLite).

    BIGINT on PostgreSQL; on SQLite it must be spelled ``INTEGER`` to alias the
    rowid, which is what makes it auto-increment there.
    """
    return sa.Column(name, sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True)


def ref_column(name: str, target: str, *, ondelete: str, nullable: bool = True) -> sa.Column[int]:
    """Make a foreign key column matching :func:`id_column` (``target``: ``"runs.id"``)."""
    return sa.Column(
        name,
        sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
        sa.ForeignKey(target, ondelete=ondelete),
        nullable=nullable,
    )


class SqlStore:
    """Base class of every SQL store: the shared Engine and transaction helpers.

    Parameters
    ----------
    engine : sqlalchemy.engine.Engine
        The state database's one engine (from
        :func:`contimg.state.create_state_engine`); stores never create their own.

    Notes
    -----
    Keep transactions short: no file I/O, no science, no sleeping inside
    ``write()``. On SQLite a write transaction holds the single database write
    lock for its whole duration.
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.is_sqlite = engine.dialect.name == "sqlite"

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """Open a read-write transaction, committed on success, rolled back on error.

        On SQLite it starts with ``BEGIN IMMEDIATE``: the write lock is taken
        (waiting up to the busy timeout) before anything is read, so a
        read-then-write sequence inside it is atomic across processes and never
        fails with "database is locked" on lock upgrade. On PostgreSQL it is an
        ordinary ``READ COMMITTED`` transaction; use :meth:`lock_rows` to lock
        what you read.
        """
        with self.engine.connect() as conn:
            if self.is_sqlite:
                conn.execution_options(**{BEGIN_MODE_OPTION: "IMMEDIATE"})
            with conn.begin():
                yield conn

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """Open a read-only transaction (one consistent snapshot on SQLite WAL)."""
        with self.engine.connect() as conn, conn.begin():
            yield conn
            # Nothing to commit; the rollback on exit is free.

    def lock_rows(self, stmt: sa.Select[Any], *, skip_locked: bool = True) -> sa.Select[Any]:
        """Add ``FOR UPDATE [SKIP LOCKED]`` on PostgreSQL; unchanged on SQLite.

        Use inside :meth:`write`. On SQLite the ``BEGIN IMMEDIATE`` of
        :meth:`write` already serialises writers, so the plain select is safe.
        """
        if self.is_sqlite:
            return stmt
        return stmt.with_for_update(skip_locked=skip_locked)

    def claim_one(
        self,
        table: sa.Table,
        *,
        where: sa.ColumnElement[bool],
        values: Mapping[str, Any],
        order_by: tuple[sa.ColumnElement[Any], ...] = (),
    ) -> RowMapping | None:
        """Atomically pick one row matching ``where`` and update it with ``values``.

        The exactly-once work primitive: any number of threads or processes
        (or machines, on PostgreSQL) may call it concurrently with the same
        ``where``; each matching row is handed to exactly one caller, provided
        ``values`` makes the row stop matching ``where`` (e.g. ``where=state ==
        'ready'``, ``values={'state': 'claimed', 'owner': me}``).

        Parameters
        ----------
        table : sqlalchemy.Table
            Table with a single-column primary key.
        where : sqlalchemy.ColumnElement
            Which rows are claimable.
        values : Mapping
            Column values written to the claimed row.
        order_by : tuple of sqlalchemy.ColumnElement, optional
            Which claimable row to take first (default: any).

        Returns
        -------
        sqlalchemy.engine.RowMapping or None
            The claimed row *after* the update, or ``None`` when nothing matched.
        """
        (pk,) = table.primary_key.columns
        pick = self.lock_rows(sa.select(pk).where(where).order_by(*order_by).limit(1))
        with self.write() as conn:
            key = conn.execute(pick).scalar_one_or_none()
            if key is None:
                return None
            conn.execute(sa.update(table).where(pk == key).values(**values))
            return conn.execute(sa.select(table).where(pk == key)).mappings().one()
