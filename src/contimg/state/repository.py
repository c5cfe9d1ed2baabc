"""The narrow interface every state backend implements.

The engine, the service and the API talk to the state store only through
:class:`StateRepository`. One SQL implementation serves SQLite (file or
``:memory:``) and PostgreSQL; the contract tests run against all of them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

from contimg.state.records import (
    LogRecord,
    RunRecord,
    RunStatus,
    StageAttemptRecord,
    StageStatus,
)

__all__ = ["StateRepository"]


@runtime_checkable
class StateRepository(Protocol):
    """Runs, stage attempts and log records (products are added by later sections)."""

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
        ...

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
        """Change a run's status (and, when given, outputs, error and times)."""
        ...

    def get_run(self, run_id: int) -> RunRecord | None:
        """One run, or ``None`` when the id is unknown."""
        ...

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
        """List runs, newest first."""
        ...

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
        ...

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
        """Record how an attempt ended."""
        ...

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

        A stage skipped because a cached attempt matched passes that attempt's
        ``run_key`` and ``outputs``; the row has ``attempt = 0``.
        """
        ...

    def list_attempts(self, run_id: int) -> list[StageAttemptRecord]:
        """All attempts of a run, in the order they started."""
        ...

    def find_completed_attempt(self, run_key: str) -> StageAttemptRecord | None:
        """Return the newest completed attempt with this run key, for resume and caching."""
        ...

    # -- logs -------------------------------------------------------------
    def append_logs(self, records: Sequence[LogRecord]) -> None:
        """Insert a batch of log records in one transaction."""
        ...

    def list_logs(
        self,
        run_id: int,
        *,
        level: str | None = None,
        stage: str | None = None,
        limit: int = 1000,
        offset: int = 0,
    ) -> list[LogRecord]:
        """List a run's log records, oldest first."""
        ...

    # -- lifecycle --------------------------------------------------------
    def close(self) -> None:
        """Release connections; the repository is unusable afterwards."""
        ...
