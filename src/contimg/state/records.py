"""Typed records exchanged with the state store.

Every row the repository hands out is one of these frozen dataclasses; JSON
columns come back as plain ``dict``/``list`` values.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

__all__ = [
    "LogRecord",
    "RunRecord",
    "RunStatus",
    "StageAttemptRecord",
    "StageStatus",
    "stage_summaries",
]


class RunStatus(StrEnum):
    """Life cycle of one workflow run."""

    PENDING = "pending"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CRASHED = "crashed"
    CANCELLED = "cancelled"

    @property
    def finished(self) -> bool:
        """Whether no further state change is expected."""
        return self not in (RunStatus.PENDING, RunStatus.RUNNING)


class StageStatus(StrEnum):
    """Life cycle of one stage attempt (and of a stage within a run)."""

    PENDING = "pending"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    SKIPPED = "skipped"
    TIMED_OUT = "timed_out"
    CRASHED = "crashed"


@dataclass(frozen=True)
class RunRecord:
    """One execution of a workflow on one set of inputs."""

    id: int
    workflow: str
    trigger: str
    status: RunStatus
    inputs: Mapping[str, Any] = field(default_factory=dict)
    outputs: Mapping[str, Any] = field(default_factory=dict)
    error: str | None = None
    config_hash: str | None = None
    resumed_from: int | None = None
    created_at: datetime | None = None
    started_at: datetime | None = None
    ended_at: datetime | None = None


@dataclass(frozen=True)
class StageAttemptRecord:
    """One attempt of one stage inside a run (a retry is a new attempt)."""

    id: int
    run_id: int
    stage: str
    attempt: int
    status: StageStatus
    run_key: str | None = None
    executor: str | None = None
    started_at: datetime | None = None
    ended_at: datetime | None = None
    duration_s: float | None = None
    cpu_s: float | None = None
    peak_rss_bytes: int | None = None
    input_bytes: int | None = None
    output_bytes: int | None = None
    outputs: Mapping[str, Any] = field(default_factory=dict)
    skip_reason: str | None = None
    error_type: str | None = None
    error_message: str | None = None
    traceback: str | None = None


@dataclass(frozen=True)
class LogRecord:
    """One structured log event, as stored in ``log_records``."""

    time: datetime
    level: str
    event: str
    run_id: int | None = None
    stage: str | None = None
    fields: Mapping[str, Any] = field(default_factory=dict)
    id: int | None = None


def stage_summaries(attempts: Sequence[StageAttemptRecord]) -> list[dict[str, Any]]:
    """One summary per stage, in the order stages first appeared.

    Parameters
    ----------
    attempts : sequence of StageAttemptRecord
        A run's attempts, in start order.

    Returns
    -------
    list of dict
        ``stage``, ``status`` (of the last attempt), ``attempts`` (real
        attempts, skips excluded), ``duration_s`` (summed), ``error`` and
        ``skip_reason``.
    """
    rows: dict[str, dict[str, Any]] = {}
    for a in attempts:
        row = rows.setdefault(
            a.stage,
            {
                "stage": a.stage,
                "attempts": 0,
                "duration_s": 0.0,
                "error": None,
                "skip_reason": None,
            },
        )
        row["status"] = a.status.value
        row["executor"] = a.executor
        if a.attempt > 0:
            row["attempts"] += 1
        row["duration_s"] += a.duration_s or 0.0
        if a.error_type:
            row["error"] = f"{a.error_type}: {a.error_message}"
        elif a.status is StageStatus.COMPLETED:
            row["error"] = None
        row["skip_reason"] = a.skip_reason
    return list(rows.values())
