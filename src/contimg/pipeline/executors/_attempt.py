"""One stage attempt, as every executor runs it: the call, the outcome, the wrapper.

:func:`execute_attempt` runs wherever the attempt runs (a runner thread, a child
process, a Dask worker). It injects ``scratch`` and ``log``, checks the
precondition, calls the stage, splits its result into products and measures
CPU time and peak memory. It never raises for a stage's own error: it turns the
error into an :class:`AttemptOutcome` carrying plain strings (type, message,
traceback) and whether the stage's retry policy calls it transient — decided
here, where the exception object still exists, because it may not survive the
trip back from a child process.
"""

from __future__ import annotations

import resource
import shutil
import sys
import time
import traceback
from collections.abc import Callable, Mapping
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import structlog

from contimg.pipeline.errors import PreconditionFailed, qualified_name
from contimg.pipeline.stage import Stage
from contimg.state.records import StageStatus

__all__ = ["AttemptCall", "AttemptOutcome", "crashed", "execute_attempt", "timed_out"]


@dataclass(frozen=True)
class AttemptCall:
    """Everything one attempt needs, in a form that pickles.

    Parameters
    ----------
    stage : Stage
        The stage (its callable must be importable for the process executor).
    inputs : mapping
        The values named by the stage's needs.
    config : object, optional
        The settings section the stage asked for.
    run_id, attempt : int
        For the logger's bound context.
    scratch : Path, optional
        Directory to create for the ``scratch`` resource (removed afterwards).
    capture_logs : bool
        Collect ``log`` events into the outcome instead of emitting them (used
        where the runner's logging configuration is not in effect).
    repository : StateRepository, optional
        The runner's repository, for stages that ask for it (inline only).
    """

    stage: Stage
    inputs: Mapping[str, Any]
    config: Any = None
    run_id: int = 0
    attempt: int = 1
    scratch: Path | None = None
    capture_logs: bool = False
    repository: Any = None


@dataclass(frozen=True)
class AttemptOutcome:
    """How an attempt ended, measured where it ran.

    ``cpu_s`` is the attempt's own CPU time (its thread's, or its child
    process's). ``peak_rss_bytes`` is the high-water mark of the process that
    ran it: exact for the process executor, the whole process's so far for
    inline and in-process Dask attempts.
    """

    status: StageStatus
    products: Mapping[str, Any] = field(default_factory=dict)
    error_type: str | None = None
    error_message: str | None = None
    traceback: str | None = None
    transient: bool = False
    cpu_s: float | None = None
    peak_rss_bytes: int | None = None
    exitcode: int | None = None
    logs: tuple[Mapping[str, Any], ...] = ()


def timed_out(stage: Stage, timeout_s: float) -> AttemptOutcome:
    """Describe an attempt that ran past its timeout."""
    from contimg.pipeline.errors import StageTimeout

    error = StageTimeout(stage.name, timeout_s)
    return AttemptOutcome(
        StageStatus.TIMED_OUT,
        error_type="StageTimeout",
        error_message=error.message,
        transient=stage.retry.is_transient(error),
    )


def crashed(stage: Stage, exitcode: int | None, detail: str = "") -> AttemptOutcome:
    """Describe an attempt whose process or worker died."""
    from contimg.pipeline.errors import StageCrashed

    error = StageCrashed(stage.name, exitcode, detail)
    return AttemptOutcome(
        StageStatus.CRASHED,
        error_type="StageCrashed",
        error_message=error.message,
        exitcode=exitcode,
        transient=stage.retry.is_transient(error),
    )


def _peak_rss_bytes() -> int:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024  # Linux reports KiB


def _capturing_logger(events: list[Mapping[str, Any]], **context: Any) -> Any:
    def collect(_logger: Any, _method: str, event_dict: Any) -> Any:
        events.append(dict(event_dict))
        raise structlog.DropEvent

    return structlog.wrap_logger(
        structlog.ReturnLogger(),
        processors=[
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True, key="logged_at"),
            collect,
        ],
        wrapper_class=structlog.BoundLogger,
        **context,
    )


def execute_attempt(
    call: AttemptCall, cpu_clock: Callable[[], float] = time.thread_time
) -> AttemptOutcome:
    """Run one attempt of ``call.stage`` and describe how it ended (never raises for its errors).

    Parameters
    ----------
    call : AttemptCall
        What to run.
    cpu_clock : callable
        CPU clock of the attempt: :func:`time.thread_time` in a thread,
        :func:`time.process_time` in a child process of its own.

    Returns
    -------
    AttemptOutcome
        ``completed`` with the products, or ``failed`` with the error.
    """
    stage = call.stage
    cpu0 = cpu_clock()
    events: list[Mapping[str, Any]] = []
    kwargs: dict[str, Any] = dict(call.inputs)
    try:
        with ExitStack() as stack:
            context = {"run_id": call.run_id, "stage": stage.name, "attempt": call.attempt}
            if call.capture_logs:
                logger = _capturing_logger(events, **context)
            else:
                stack.enter_context(structlog.contextvars.bound_contextvars(**context))
                logger = structlog.get_logger("contimg.stage")
            if "log" in stage.injected:
                kwargs["log"] = logger
            if "config" in stage.injected:
                kwargs["config"] = call.config
            if "run_id" in stage.injected:
                kwargs["run_id"] = call.run_id
            if "repository" in stage.injected:
                if call.repository is None:
                    raise RuntimeError("the runner gave no repository")
                kwargs["repository"] = call.repository
            message = stage.call_precondition(call.inputs, call.config)
            if message is None and stage.resources.scratch_mb and call.scratch is not None:
                message = _check_scratch_space(call.scratch, stage.resources.scratch_mb)
            if message is not None:
                error = PreconditionFailed(stage.name, str(message))
                return AttemptOutcome(
                    StageStatus.FAILED,
                    error_type="PreconditionFailed",
                    error_message=error.message,
                    logs=tuple(events),
                )
            if "scratch" in stage.injected:
                if call.scratch is None:
                    raise RuntimeError("the runner gave no scratch directory")
                call.scratch.mkdir(parents=True, exist_ok=False)
                stack.callback(shutil.rmtree, call.scratch, ignore_errors=True)
                kwargs["scratch"] = call.scratch
            products = stage.split(stage.fn(**kwargs))
    except Exception as exc:
        return AttemptOutcome(
            StageStatus.FAILED,
            error_type=qualified_name(type(exc)),
            error_message=str(exc),
            traceback="".join(traceback.format_exception(exc)),
            transient=stage.retry.is_transient(exc),
            cpu_s=cpu_clock() - cpu0,
            peak_rss_bytes=_peak_rss_bytes(),
            logs=tuple(events),
        )
    return AttemptOutcome(
        StageStatus.COMPLETED,
        products=products,
        cpu_s=cpu_clock() - cpu0,
        peak_rss_bytes=_peak_rss_bytes(),
        logs=tuple(events),
    )


def _check_scratch_space(scratch: Path, need_mb: int) -> str | None:
    probe = scratch
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    free_mb = shutil.disk_usage(probe).free / 2**20
    if free_mb < need_mb:
        return f"needs {need_mb} MiB of scratch space, {free_mb:.0f} MiB free under {probe}"
    return None
