"""Build the one SQLAlchemy :class:`~sqlalchemy.engine.Engine` a state database uses.

Everything backend-specific about connections lives here:

- URLs: ``postgresql://`` / ``postgres://`` select the psycopg 3 driver
  (``postgresql+psycopg``); ``sqlite:///:memory:`` (or ``sqlite://``) is the
  in-memory twin.
- SQLite pragmas on *every* new connection: WAL, ``synchronous=NORMAL``,
  ``busy_timeout``, ``foreign_keys=ON``. Under WAL, ``synchronous=NORMAL`` makes
  a committed transaction durable across a crash or kill of the application (what
  resuming a run relies on: every attempt's start and end is committed before the
  runner goes on); only a power loss or OS crash can roll back the last commits
  (never corrupt the file), which saves an fsync per commit.
- SQLite transactions: the pysqlite driver's own implicit ``BEGIN`` handling is
  switched off and SQLAlchemy's ``begin`` event emits ``BEGIN`` itself, so a
  write transaction can say ``BEGIN IMMEDIATE`` (take the write lock up front,
  waiting under ``busy_timeout``) instead of upgrading a read lock later, which
  SQLite refuses at once with "database is locked" when another writer committed
  in between.
- In-memory SQLite: one connection shared by every thread (``StaticPool``), so
  every user sees the same database; a lock held from pool checkout to checkin
  keeps two threads from interleaving transactions on it.
"""

from __future__ import annotations

import json
import math
import os
import threading
from datetime import date, datetime
from enum import Enum
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.engine.url import URL
from sqlalchemy.pool import StaticPool

__all__ = [
    "BEGIN_MODE_OPTION",
    "SQLITE_BUSY_TIMEOUT_MS",
    "create_state_engine",
    "is_memory_sqlite",
    "json_dumps",
    "json_safe",
    "normalize_url",
]

#: Default wait for another SQLite writer's lock before failing. Writers hold the
#: lock for well under a millisecond (short transactions), so this only matters
#: under pathological contention (e.g. a slow network file system).
SQLITE_BUSY_TIMEOUT_MS = 30_000

#: Connection execution option read by the SQLite ``begin`` hook: ``"IMMEDIATE"``
#: makes the next transaction take the write lock when it starts.
BEGIN_MODE_OPTION = "contimg_sqlite_begin"


def normalize_url(url: str | URL) -> URL:
    """Return the SQLAlchemy URL with the driver this package uses.

    Parameters
    ----------
    url : str or sqlalchemy.engine.URL
        ``sqlite:///path``, ``sqlite:///:memory:``, ``postgresql://...``
        (or an explicit ``postgresql+psycopg://...``).

    Returns
    -------
    sqlalchemy.engine.URL
        ``postgresql`` URLs without a driver get ``+psycopg`` (psycopg 3).

    Raises
    ------
    ValueError
        For a backend other than SQLite or PostgreSQL.
    """
    parsed = (
        make_url(str(url).replace("postgres://", "postgresql://", 1))
        if isinstance(url, str)
        else url
    )
    backend = parsed.get_backend_name()
    if backend == "postgresql":
        if parsed.get_driver_name() != "psycopg":
            parsed = parsed.set(drivername="postgresql+psycopg")
    elif backend != "sqlite":
        raise ValueError(
            f"database.url {parsed.render_as_string(hide_password=True)!r}: "
            "only sqlite:/// and postgresql:// URLs are supported"
        )
    return parsed


def is_memory_sqlite(url: URL) -> bool:
    """Whether ``url`` names an in-memory SQLite database."""
    return url.get_backend_name() == "sqlite" and url.database in (None, "", ":memory:")


def _json_default(value: Any) -> Any:
    # Paths are the most common non-JSON value a stage returns; store them as
    # strings (they come back as ``str``). Anything else is the caller's bug.
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, set | frozenset):
        return sorted(value)
    if type(value).__module__ == "numpy" and hasattr(value, "tolist"):
        # numpy scalars and arrays (science results) become Python numbers/lists;
        # checked by module name so this layer never imports numpy.
        return value.tolist()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable: {value!r}")


def json_safe(value: Any) -> Any:
    """Return ``value`` with anything strict JSON refuses replaced by a string.

    For log fields, where losing a line to a NaN is worse than storing
    ``"nan"``: non-finite floats become ``"nan"``/``"inf"``/``"-inf"`` and
    unknown objects their ``repr``.
    """
    if isinstance(value, float) and not math.isfinite(value):
        return repr(value)
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    if value is None or isinstance(value, str | int | float):
        return value
    try:
        return json_safe(_json_default(value))
    except TypeError:
        return repr(value)


def json_dumps(value: Any) -> str:
    """Serialise a JSON column value; NaN and infinities are rejected.

    Strict JSON (``allow_nan=False``) because PostgreSQL refuses ``NaN`` and the
    backends must agree: store ``None`` for a missing number.
    """
    return json.dumps(value, allow_nan=False, default=_json_default, separators=(",", ":"))


def create_state_engine(
    url: str | URL, *, busy_timeout_ms: int = SQLITE_BUSY_TIMEOUT_MS, echo: bool = False
) -> Engine:
    """Create the long-lived Engine for a state database.

    Parameters
    ----------
    url : str or sqlalchemy.engine.URL
        See :func:`normalize_url`. The parent directory of a SQLite file is
        created when missing.
    busy_timeout_ms : int, optional
        SQLite only: how long a connection waits for another writer's lock
        (``database.busy_timeout_ms`` in the settings).
    echo : bool, optional
        Log every statement (debugging only).

    Returns
    -------
    sqlalchemy.engine.Engine
        Dispose of it with ``engine.dispose()`` when done.
    """
    sa_url = normalize_url(url)
    common: dict[str, Any] = {"echo": echo, "json_serializer": json_dumps}
    if sa_url.get_backend_name() == "postgresql":
        # pool_pre_ping: a long-lived service survives a database restart.
        return sa.create_engine(sa_url, pool_pre_ping=True, **common)

    if is_memory_sqlite(sa_url):
        engine = sa.create_engine(
            "sqlite://",
            poolclass=_SerialStaticPool,
            connect_args={"check_same_thread": False},
            **common,
        )
        engine.pool._contimg_wait_s = busy_timeout_ms / 1000  # type: ignore[attr-defined]
    else:
        assert sa_url.database is not None
        Path(sa_url.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(
            sa_url,
            connect_args={"timeout": busy_timeout_ms / 1000, "check_same_thread": False},
            **common,
        )
    _install_sqlite_hooks(engine, busy_timeout_ms)
    return engine


def _install_sqlite_hooks(engine: Engine, busy_timeout_ms: int) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Driver-level autocommit: SQLAlchemy's "begin" hook below issues BEGIN.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            # busy_timeout first so the WAL switch on a fresh file waits too.
            cursor.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
            cursor.execute("PRAGMA journal_mode = WAL")
            cursor.execute("PRAGMA synchronous = NORMAL")
            cursor.execute("PRAGMA foreign_keys = ON")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        mode = conn.get_execution_options().get(BEGIN_MODE_OPTION, "DEFERRED")
        # Straight to the driver: BEGIN runs on every state change, and the
        # full statement machinery of exec_driver_sql costs ~20% of a write.
        conn.connection.driver_connection.execute(f"BEGIN {mode}")  # type: ignore[union-attr]


class _SerialStaticPool(StaticPool):
    """The one shared in-memory connection, lent to one user at a time.

    ``StaticPool`` hands the same connection to every caller at once; two
    threads would then interleave transactions on it (and confuse the pool's
    own bookkeeping). Holding a lock from checkout to checkin makes each
    ``with engine.connect()`` block exclusive, like SQLite's own write lock on a
    file. A plain (non re-entrant) lock, acquired with a timeout, turns a nested
    checkout in one thread into a clear error instead of a silent deadlock.
    """

    _contimg_wait_s: float = SQLITE_BUSY_TIMEOUT_MS / 1000

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._lent = threading.Lock()

    def _do_get(self) -> Any:
        if not self._lent.acquire(timeout=self._contimg_wait_s):
            raise TimeoutError(
                "in-memory state database busy: its only connection is in use "
                "(a connection opened inside another in the same thread?)"
            )
        try:
            return super()._do_get()
        except BaseException:
            self._lent.release()
            raise

    def _do_return_conn(self, record: Any) -> None:
        try:
            super()._do_return_conn(record)
        finally:
            self._lent.release()

    def recreate(self) -> _SerialStaticPool:
        pool = super().recreate()
        pool._contimg_wait_s = self._contimg_wait_s
        return pool  # type: ignore[return-value]
