"""The SQL implementation of :class:`~contimg.state.repository.StateRepository`.

One class for SQLite (file or ``:memory:``) and PostgreSQL. The write path is
what the runner calls on every state change, so statements are built once at
import time (SQLAlchemy then reuses their compiled form), records are built
from the values just written rather than read back, and every call is one
short transaction. On SQLite the writes made for every stage attempt (its start
and finish, and the batches of log records) skip SQLAlchemy's statement
machinery altogether (:mod:`contimg.state._sqlite_writes`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine, RowMapping

from contimg.state._base import SqlStore, as_utc, utcnow
from contimg.state._calibration import CalibrationStore, SqlCalibrationStore
from contimg.state._engine import (
    SQLITE_BUSY_TIMEOUT_MS,
    create_state_engine,
    json_dumps,
    json_safe,
)
from contimg.state._images import ImageStore, SqlImageStore
from contimg.state._ingest import GroupStore, MsStore, SqlGroupStore, SqlMsStore
from contimg.state._migrate import upgrade_engine
from contimg.state._service import ServiceStore, SqlServiceStore
from contimg.state._sqlite_writes import SqliteHotWrites
from contimg.state._variability import (
    MosaicStore,
    SourceStore,
    SqlMosaicStore,
    SqlSourceStore,
)
from contimg.state.records import (
    LogRecord,
    RunRecord,
    RunStatus,
    StageAttemptRecord,
    StageStatus,
)
from contimg.state.schema import log_records, runs, stage_executions

__all__ = ["SqlStateRepository", "open_repository", "upgrade"]


# Statements built once; values are bound at execute time. An UPDATE without
# .values() takes its SET columns from the parameter keys.
_INSERT_RUN = sa.insert(runs)
_UPDATE_RUN = sa.update(runs).where(runs.c.id == sa.bindparam("_id"))
_SELECT_RUN = sa.select(runs).where(runs.c.id == sa.bindparam("_id"))
_INSERT_ATTEMPT = sa.insert(stage_executions)
_UPDATE_ATTEMPT = sa.update(stage_executions).where(stage_executions.c.id == sa.bindparam("_id"))
_SELECT_ATTEMPTS = (
    sa.select(stage_executions)
    .where(stage_executions.c.run_id == sa.bindparam("_run_id"))
    .order_by(stage_executions.c.id)
)
_SELECT_COMPLETED = (
    sa.select(stage_executions)
    .where(
        stage_executions.c.run_key == sa.bindparam("_run_key"),
        stage_executions.c.status == StageStatus.COMPLETED.value,
    )
    .order_by(stage_executions.c.ended_at.desc(), stage_executions.c.id.desc())
    .limit(1)
)
_INSERT_LOG = sa.insert(log_records)


def _plain_json(value: Mapping[str, Any] | None) -> dict[str, Any]:
    """Return the value exactly as a JSON column will (Paths as str, ...)."""
    if not value:
        return {}
    return json.loads(json_dumps(dict(value)))


def _check_page(limit: int, offset: int) -> None:
    if limit < 0 or offset < 0:
        raise ValueError(f"limit={limit}, offset={offset}: both must be >= 0")


class SqlStateRepository(SqlStore):
    """Runs, stage attempts, log records, and the product stores, in one SQL database.

    Parameters
    ----------
    engine : sqlalchemy.engine.Engine
        From :func:`contimg.state.create_state_engine`; the repository owns it
        and disposes of it in :meth:`close`. Prefer :func:`open_repository`,
        which also applies migrations.

    Attributes
    ----------
    engine : sqlalchemy.engine.Engine
        The shared engine, for product stores and the claim helpers.
    """

    def __init__(self, engine: Engine) -> None:
        super().__init__(engine)
        self._closed = False
        self._sqlite = SqliteHotWrites(engine) if self.is_sqlite else None
        # -- product stores: one line per area, alphabetical ---------------
        # (see the contimg.state package docstring). Example:
        # self.groups: GroupStore = SqlGroupStore(engine)
        self.calibration: CalibrationStore = SqlCalibrationStore(engine)
        self.groups: GroupStore = SqlGroupStore(engine)
        self.images: ImageStore = SqlImageStore(engine)
        self.ms: MsStore = SqlMsStore(engine)
        self.mosaics: MosaicStore = SqlMosaicStore(engine)
        self.service: ServiceStore = SqlServiceStore(engine)
        self.sources: SourceStore = SqlSourceStore(engine)

    # -- lifecycle --------------------------------------------------------
    def close(self) -> None:
        """Close every connection; any later use of the repository raises."""
        if self._closed:
            return
        self._closed = True
        self.engine.dispose()

        def _refuse(*_args: Any) -> None:
            raise RuntimeError("the state repository is closed")

        # do_connect fires before a DBAPI connection is made, so refusing there
        # leaks nothing (unlike refusing a connection already opened).
        sa.event.listen(self.engine, "do_connect", _refuse)

    def __enter__(self) -> SqlStateRepository:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # -- runs -------------------------------------------------------------
    def create_run(
        self,
        workflow: str,
        *,
        trigger: str,
        inputs: Mapping[str, Any],
        config_hash: str | None = None,
        resumed_from: int | None = None,
    ) -> RunRecord:
        """Insert a run in ``pending`` state and return it."""
        values: dict[str, Any] = {
            "workflow": workflow,
            "trigger": trigger,
            "status": RunStatus.PENDING.value,
            "inputs": _plain_json(inputs),
            "outputs": {},
            "config_hash": config_hash,
            "resumed_from": resumed_from,
            "created_at": utcnow(),
        }
        with self.write() as conn:
            (run_id,) = conn.execute(_INSERT_RUN, values).inserted_primary_key
        # Built from what was written, not read back: one statement per call.
        return RunRecord(id=int(run_id), **{**values, "status": RunStatus.PENDING})

    def update_run(
        self,
        run_id: int,
        *,
        status: RunStatus,
        outputs: Mapping[str, Any] | None = None,
        error: str | None = None,
        started_at: datetime | None = None,
        ended_at: datetime | None = None,
    ) -> None:
        """Change a run's status (and, when given, outputs, error and times).

        Raises
        ------
        KeyError
            If there is no run ``run_id``.
        """
        values: dict[str, Any] = {"_id": run_id, "status": RunStatus(status).value}
        if outputs is not None:
            values["outputs"] = _plain_json(outputs)
        if error is not None:
            values["error"] = error
        if started_at is not None:
            values["started_at"] = started_at
        if ended_at is not None:
            values["ended_at"] = ended_at
        with self.write() as conn:
            if conn.execute(_UPDATE_RUN, values).rowcount == 0:
                raise KeyError(f"no run with id {run_id}")

    def get_run(self, run_id: int) -> RunRecord | None:
        """One run, or ``None`` when the id is unknown."""
        with self.read() as conn:
            row = conn.execute(_SELECT_RUN, {"_id": run_id}).mappings().first()
        return None if row is None else _run_record(row)

    def list_runs(
        self,
        *,
        status: RunStatus | None = None,
        workflow: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> list[RunRecord]:
        """List runs, newest first (by creation time, then id).

        ``since`` is inclusive and ``until`` exclusive, both on ``created_at``.
        """
        _check_page(limit, offset)
        stmt = sa.select(runs)
        if status is not None:
            stmt = stmt.where(runs.c.status == RunStatus(status).value)
        if workflow is not None:
            stmt = stmt.where(runs.c.workflow == workflow)
        if since is not None:
            stmt = stmt.where(runs.c.created_at >= as_utc(since))
        if until is not None:
            stmt = stmt.where(runs.c.created_at < as_utc(until))
        stmt = stmt.order_by(runs.c.created_at.desc(), runs.c.id.desc()).limit(limit).offset(offset)
        with self.read() as conn:
            return [_run_record(row) for row in conn.execute(stmt).mappings()]

    # -- stage attempts ---------------------------------------------------
    def start_attempt(
        self,
        run_id: int,
        stage: str,
        *,
        attempt: int,
        run_key: str | None,
        executor: str | None,
        started_at: datetime,
    ) -> StageAttemptRecord:
        """Insert an attempt in ``running`` state and return it."""
        if self._sqlite is not None:
            started_at = as_utc(started_at)
            attempt_id = self._sqlite.start_attempt(
                run_id, stage, attempt, run_key, executor, started_at
            )
            return StageAttemptRecord(
                id=attempt_id,
                run_id=run_id,
                stage=stage,
                attempt=attempt,
                status=StageStatus.RUNNING,
                run_key=run_key,
                executor=executor,
                started_at=started_at,
                ended_at=None,
                outputs={},
                skip_reason=None,
            )
        return self._insert_attempt(
            run_id=run_id,
            stage=stage,
            attempt=attempt,
            status=StageStatus.RUNNING,
            run_key=run_key,
            executor=executor,
            started_at=as_utc(started_at),
            ended_at=None,
            outputs={},
            skip_reason=None,
        )

    def finish_attempt(
        self,
        attempt_id: int,
        *,
        status: StageStatus,
        ended_at: datetime,
        duration_s: float | None = None,
        cpu_s: float | None = None,
        peak_rss_bytes: int | None = None,
        input_bytes: int | None = None,
        output_bytes: int | None = None,
        outputs: Mapping[str, Any] | None = None,
        skip_reason: str | None = None,
        error_type: str | None = None,
        error_message: str | None = None,
        traceback: str | None = None,
    ) -> None:
        """Record how an attempt ended (``None`` arguments leave a column as it was).

        Raises
        ------
        KeyError
            If there is no attempt ``attempt_id``.
        """
        # as_utc here: a naive time is a ValueError on every backend (as in start_attempt)
        values: dict[str, Any] = {"status": StageStatus(status).value, "ended_at": as_utc(ended_at)}
        optional = {
            "duration_s": duration_s,
            "cpu_s": cpu_s,
            "peak_rss_bytes": peak_rss_bytes,
            "input_bytes": input_bytes,
            "output_bytes": output_bytes,
            "skip_reason": skip_reason,
            "error_type": error_type,
            "error_message": error_message,
            "traceback": traceback,
        }
        values.update((k, v) for k, v in optional.items() if v is not None)
        if outputs is not None:
            values["outputs"] = dict(outputs)
        if self._sqlite is not None:
            updated = self._sqlite.finish_attempt(attempt_id, values)
        else:
            with self.write() as conn:
                updated = conn.execute(_UPDATE_ATTEMPT, {**values, "_id": attempt_id}).rowcount
        if updated == 0:
            raise KeyError(f"no stage attempt with id {attempt_id}")

    def record_skipped(
        self,
        run_id: int,
        stage: str,
        *,
        reason: str,
        at: datetime,
        run_key: str | None = None,
        outputs: Mapping[str, Any] | None = None,
    ) -> StageAttemptRecord:
        """Record a stage that was not attempted (dependency failed, resumed from cache, ...).

        The row has ``attempt = 0`` (nothing was attempted), status ``skipped``
        and ``started_at = ended_at = at``. A stage skipped because a cached
        attempt matched can pass that attempt's ``run_key`` and ``outputs`` so
        the run's record shows what it reused.
        """
        when = as_utc(at)
        return self._insert_attempt(
            run_id=run_id,
            stage=stage,
            attempt=0,
            status=StageStatus.SKIPPED,
            run_key=run_key,
            executor=None,
            started_at=when,
            ended_at=when,
            outputs=_plain_json(outputs),
            skip_reason=reason,
        )

    def _insert_attempt(self, *, status: StageStatus, **values: Any) -> StageAttemptRecord:
        with self.write() as conn:
            (attempt_id,) = conn.execute(
                _INSERT_ATTEMPT, {**values, "status": status.value}
            ).inserted_primary_key
        return StageAttemptRecord(id=int(attempt_id), status=status, **values)

    def list_attempts(self, run_id: int) -> list[StageAttemptRecord]:
        """All attempts of a run (skipped stages included), in the order they started."""
        with self.read() as conn:
            rows = conn.execute(_SELECT_ATTEMPTS, {"_run_id": run_id}).mappings()
            return [_attempt_record(row) for row in rows]

    def find_completed_attempt(self, run_key: str) -> StageAttemptRecord | None:
        """Return the newest (latest ``ended_at``) completed attempt with this run key."""
        with self.read() as conn:
            row = conn.execute(_SELECT_COMPLETED, {"_run_key": run_key}).mappings().first()
        return None if row is None else _attempt_record(row)

    # -- logs -------------------------------------------------------------
    def append_logs(self, records: Sequence[LogRecord]) -> None:
        """Insert a batch of log records in one transaction (their ``id`` is ignored).

        A log line is never refused for its fields: values strict JSON cannot
        hold (NaN, unknown objects) are stored as strings (see
        :func:`contimg.state._engine.json_safe`).
        """
        if not records:
            return
        if self._sqlite is not None:
            self._sqlite.append_logs(records)
            return
        rows = [
            {
                "run_id": r.run_id,
                "stage": r.stage,
                "time": r.time,
                "level": r.level,
                "event": r.event,
                "fields": dict(r.fields),
            }
            for r in records
        ]
        try:
            with self.write() as conn:
                conn.execute(_INSERT_LOG, rows)
        except (sa.exc.StatementError, TypeError, ValueError) as exc:
            # The JSON serialiser refused a value (SQLite reports it wrapped in a
            # StatementError, psycopg raw); the common case stays one fast pass.
            if not isinstance(getattr(exc, "orig", exc), TypeError | ValueError):
                raise
            for row in rows:
                row["fields"] = json_safe(row["fields"])
            with self.write() as conn:
                conn.execute(_INSERT_LOG, rows)

    def list_logs(
        self,
        run_id: int,
        *,
        level: str | None = None,
        stage: str | None = None,
        limit: int = 1000,
        offset: int = 0,
    ) -> list[LogRecord]:
        """List a run's log records, oldest first; ``level`` and ``stage`` match exactly."""
        _check_page(limit, offset)
        stmt = sa.select(log_records).where(log_records.c.run_id == run_id)
        if level is not None:
            stmt = stmt.where(log_records.c.level == level)
        if stage is not None:
            stmt = stmt.where(log_records.c.stage == stage)
        stmt = stmt.order_by(log_records.c.time, log_records.c.id).limit(limit).offset(offset)
        with self.read() as conn:
            return [
                LogRecord(
                    id=row["id"],
                    time=row["time"],
                    level=row["level"],
                    event=row["event"],
                    run_id=row["run_id"],
                    stage=row["stage"],
                    fields=row["fields"],
                )
                for row in conn.execute(stmt).mappings()
            ]


def _run_record(row: RowMapping) -> RunRecord:
    return RunRecord(
        id=row["id"],
        workflow=row["workflow"],
        trigger=row["trigger"],
        status=RunStatus(row["status"]),
        inputs=row["inputs"],
        outputs=row["outputs"],
        error=row["error"],
        config_hash=row["config_hash"],
        resumed_from=row["resumed_from"],
        created_at=row["created_at"],
        started_at=row["started_at"],
        ended_at=row["ended_at"],
    )


def _attempt_record(row: RowMapping) -> StageAttemptRecord:
    return StageAttemptRecord(
        id=row["id"],
        run_id=row["run_id"],
        stage=row["stage"],
        attempt=row["attempt"],
        status=StageStatus(row["status"]),
        run_key=row["run_key"],
        executor=row["executor"],
        started_at=row["started_at"],
        ended_at=row["ended_at"],
        duration_s=row["duration_s"],
        cpu_s=row["cpu_s"],
        peak_rss_bytes=row["peak_rss_bytes"],
        input_bytes=row["input_bytes"],
        output_bytes=row["output_bytes"],
        outputs=row["outputs"],
        skip_reason=row["skip_reason"],
        error_type=row["error_type"],
        error_message=row["error_message"],
        traceback=row["traceback"],
    )


def upgrade(url: str, *, busy_timeout_ms: int = SQLITE_BUSY_TIMEOUT_MS) -> tuple[str, ...]:
    """Apply every pending migration to the database at ``url``.

    Parameters
    ----------
    url : str
        As for :func:`open_repository`.
    busy_timeout_ms : int, optional
        SQLite lock wait (``database.busy_timeout_ms``).

    Returns
    -------
    tuple of str
        The revisions (one per branch head) the database is at afterwards.
    """
    engine = create_state_engine(url, busy_timeout_ms=busy_timeout_ms)
    try:
        return upgrade_engine(engine)
    finally:
        engine.dispose()


def open_repository(
    url: str, *, busy_timeout_ms: int = SQLITE_BUSY_TIMEOUT_MS
) -> SqlStateRepository:
    """Open the state database at ``url``, migrating it to the current schema first.

    Parameters
    ----------
    url : str
        ``sqlite:///path/to/contimg.sqlite3``, ``sqlite:///:memory:`` or
        ``postgresql://user@host/db``.
    busy_timeout_ms : int, optional
        SQLite lock wait (``database.busy_timeout_ms``).

    Returns
    -------
    SqlStateRepository
        Close it (or use it as a context manager) when done.
    """
    engine = create_state_engine(url, busy_timeout_ms=busy_timeout_ms)
    try:
        upgrade_engine(engine)
    except BaseException:
        engine.dispose()
        raise
    return SqlStateRepository(engine)
