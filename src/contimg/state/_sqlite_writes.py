"""The hot writes of the state repository on SQLite, straight to the DBAPI connection.

Every stage attempt writes twice (start, finish) and every log line once (in
batches). Through SQLAlchemy Core a one-statement transaction costs ~0.15 ms on
the two-core benchmark machine, of which SQLite's own ``BEGIN IMMEDIATE`` +
statement + ``COMMIT`` is ~0.03 ms: the rest is the execution context, events
and per-row type processing. Here the SQL text is built once from the table
definitions, values are converted exactly as the column types would convert
them (:func:`sqlite_time` for ``UTCDateTime``, :func:`json_dumps` for
``JSONValue``; ``tests/state/test_sqlite.py`` compares the stored text with what
the Core path writes), and every call is still one transaction on the pool's
connection (for ``:memory:``, the only one), committed before it returns. A
driver error comes back as SQLAlchemy's wrapper (``sa.exc.IntegrityError`` ...),
as from the Core path. PostgreSQL keeps the Core statements in ``sql.py``.
"""

from __future__ import annotations

import functools
import sqlite3
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from contimg.state._base import as_utc
from contimg.state._engine import json_dumps, json_safe
from contimg.state.records import LogRecord, StageStatus
from contimg.state.schema import log_records, stage_executions

__all__ = ["SqliteHotWrites", "sqlite_time"]


def sqlite_time(value: datetime) -> str:
    """``value`` as ``UTCDateTime`` stores it on SQLite: naive UTC text, to the microsecond.

    SQLAlchemy's SQLite ``DATETIME`` format (``2026-01-02 03:04:05.000000``):
    fixed width, so text order is time order. A naive ``value`` raises ``ValueError``.
    """
    return as_utc(value).replace(tzinfo=None).isoformat(" ", "microseconds")


def _insert(table: sa.Table, columns: Sequence[str]) -> str:
    for name in columns:  # a typo here would otherwise surface as an SQL error later
        assert name in table.c, name
    marks = ", ".join("?" * len(columns))
    return f"INSERT INTO {table.name} ({', '.join(columns)}) VALUES ({marks})"


_START = _insert(
    stage_executions,
    ("run_id", "stage", "attempt", "status", "run_key", "executor", "started_at", "outputs"),
)
_LOG = _insert(log_records, ("run_id", "stage", "time", "level", "event", "fields"))


@functools.cache
def _finish(columns: tuple[str, ...]) -> str:
    # one text per set of columns given (a handful: completed, failed, crashed ...)
    for name in columns:
        assert name in stage_executions.c, name
    assignments = ", ".join(f"{c} = ?" for c in columns)
    return f"UPDATE {stage_executions.name} SET {assignments} WHERE id = ?"


def _log_fields(fields: Any) -> str:
    try:
        return json_dumps(dict(fields))
    except (TypeError, ValueError):  # a log line is never refused for its fields
        return json_dumps(json_safe(dict(fields)))


class SqliteHotWrites:
    """Attempt starts and finishes and log batches on one SQLite engine.

    Parameters
    ----------
    engine : sqlalchemy.engine.Engine
        The repository's SQLite engine (its pool, pragmas and busy timeout are used).
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def _execute(self, sql: str, params: Any, *, many: bool = False) -> sqlite3.Cursor:
        """Run one statement in its own ``BEGIN IMMEDIATE`` transaction and commit it."""
        fairy = self.engine.raw_connection()
        try:
            dbapi: sqlite3.Connection = fairy.driver_connection  # type: ignore[assignment]
            # driver autocommit mode (see _engine.py): the transaction is ours to open and
            # close; IMMEDIATE takes the write lock up front, as SqlStore.write does
            dbapi.execute("BEGIN IMMEDIATE")
            try:
                cursor = dbapi.executemany(sql, params) if many else dbapi.execute(sql, params)
                dbapi.execute("COMMIT")
            except BaseException:
                if dbapi.in_transaction:
                    dbapi.execute("ROLLBACK")
                raise
            return cursor
        except sqlite3.Error as exc:
            raise sa.exc.DBAPIError.instance(sql, params, exc, sqlite3.Error) from exc
        finally:
            fairy.close()

    def start_attempt(
        self,
        run_id: int,
        stage: str,
        attempt: int,
        run_key: str | None,
        executor: str | None,
        started_at: datetime,
    ) -> int:
        """Insert a ``running`` attempt (no outputs yet); return its id."""
        params = (
            run_id,
            stage,
            attempt,
            StageStatus.RUNNING.value,
            run_key,
            executor,
            sqlite_time(started_at),
            "{}",
        )
        attempt_id = self._execute(_START, params).lastrowid
        assert attempt_id is not None
        return attempt_id

    def finish_attempt(self, attempt_id: int, values: dict[str, Any]) -> int:
        """Set the given columns of an attempt; return how many rows changed (0 or 1).

        ``values`` as the Core statement takes them: ``ended_at`` a datetime,
        ``outputs`` (if given) a mapping; the others plain numbers and strings.
        """
        values["ended_at"] = sqlite_time(values["ended_at"])
        if "outputs" in values:
            values["outputs"] = json_dumps(dict(values["outputs"]))
        return self._execute(_finish(tuple(values)), (*values.values(), attempt_id)).rowcount

    def append_logs(self, records: Sequence[LogRecord]) -> None:
        """Insert log records in one transaction (``fields`` JSON cannot hold become strings)."""
        rows = [
            (r.run_id, r.stage, sqlite_time(r.time), r.level, r.event, _log_fields(r.fields))
            for r in records
        ]
        self._execute(_LOG, rows, many=True)
