"""Process executor: every attempt in a child process of its own.

Isolation for memory-hungry or crash-prone stages (CASA): a segfault, an OOM
kill or ``SIGKILL`` ends only the child, and the attempt is recorded
``crashed`` with the child's signal or exit code. Timeouts are enforced by
terminating the child (SIGTERM, then SIGKILL after a grace period).

Children start through a ``forkserver`` (``spawn`` where there is none): never
a plain fork of a process that runs threads and holds database connections. The
call travels pickled (cloudpickle when plain pickle refuses, e.g. a lambda); the
child gets the parent's ``sys.path`` so that callables defined in any importable
module, tests included, are found.
"""

from __future__ import annotations

import dataclasses
import multiprocessing
import os
import pickle
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from multiprocessing.connection import Connection, wait
from typing import Any

import structlog

from contimg.pipeline.executors._attempt import (
    AttemptCall,
    AttemptOutcome,
    crashed,
    execute_attempt,
    timed_out,
)
from contimg.state.records import StageStatus

__all__ = ["ProcessExecutor"]

#: Seconds a terminated child gets to exit before it is killed.
TERMINATE_GRACE_S = 5.0


def _dumps(obj: Any) -> bytes:
    try:
        return pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    except (pickle.PicklingError, AttributeError, TypeError):
        import cloudpickle

        return cloudpickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)


def _collect_all_events(events: list[Mapping[str, Any]]) -> None:
    """Route every structlog event of this (child) process into ``events``.

    The stage's own ``log`` and the module loggers of the science it calls
    (imager output, calibration decisions) all travel back with the outcome,
    in the order they happened, and the runner records them as its own.
    """

    def collect(_logger: Any, _method: str, event_dict: Any) -> Any:
        events.append(dict(event_dict))
        raise structlog.DropEvent

    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True, key="logged_at"),
            collect,
        ],
        logger_factory=structlog.ReturnLoggerFactory(),
        wrapper_class=structlog.BoundLogger,
        cache_logger_on_first_use=False,
    )


def _child_main(conn: Connection, payload: bytes, sys_path: list[str]) -> None:
    """Entry point of the child: run the attempt, send the outcome, exit."""
    sys.path[:] = sys_path
    events: list[Mapping[str, Any]] = []
    _collect_all_events(events)
    try:
        call: AttemptCall = pickle.loads(payload)
    except Exception as exc:  # the callable's module cannot be imported here
        outcome = AttemptOutcome(
            StageStatus.FAILED,
            error_type=type(exc).__name__,
            error_message=f"cannot unpickle the attempt in the child: {exc}",
        )
    else:
        if call.stage.resources.nice:
            os.nice(call.stage.resources.nice)
        outcome = execute_attempt(
            dataclasses.replace(call, capture_logs=False), cpu_clock=time.process_time
        )
    outcome = dataclasses.replace(outcome, logs=(*events, *outcome.logs))
    try:
        data = _dumps(outcome)
    except Exception as exc:
        data = _dumps(
            AttemptOutcome(
                StageStatus.FAILED,
                error_type=type(exc).__name__,
                error_message=f"stage result cannot be sent back from the child: {exc}",
                cpu_s=outcome.cpu_s,
                peak_rss_bytes=outcome.peak_rss_bytes,
                logs=outcome.logs,
            )
        )
    conn.send_bytes(data)
    conn.close()


class ProcessExecutor:
    """Run each attempt in a fresh child process.

    Parameters
    ----------
    start_method : {"forkserver", "spawn"}, optional
        Default: ``forkserver`` where available.
    preload : sequence of str
        Modules the fork server imports before it forks the first child (``executor.preload``),
        besides the engine itself; one that cannot be imported is skipped. The server is one
        per process and starts with the first child, so the first executor's list holds.
    """

    name = "process"

    def __init__(self, start_method: str | None = None, preload: Sequence[str] = ()) -> None:
        methods = multiprocessing.get_all_start_methods()
        method = start_method or ("forkserver" if "forkserver" in methods else "spawn")
        self._ctx = multiprocessing.get_context(method)
        if method == "forkserver":
            # Children fork from a server that has already imported the engine and the
            # science a stage needs: each child then skips seconds of imports.
            self._ctx.set_forkserver_preload(["contimg.pipeline.executors.process", *preload])
        self._live: set[Any] = set()
        self._lock = threading.Lock()

    def run(self, call: AttemptCall, timeout_s: float | None) -> AttemptOutcome:
        """Run one attempt in a child and return how it ended."""
        payload = _dumps(call)
        receiver, sender = self._ctx.Pipe(duplex=False)
        proc = self._ctx.Process(
            target=_child_main,
            args=(sender, payload, [p or os.getcwd() for p in sys.path]),
            name=f"contimg-{call.stage.name}-{call.attempt}",
        )
        with self._lock:
            proc.start()
            self._live.add(proc)
        sender.close()
        try:
            ready = wait([receiver, proc.sentinel], timeout=timeout_s)
            if receiver in ready or receiver.poll():
                try:
                    outcome: AttemptOutcome = pickle.loads(receiver.recv_bytes())
                except EOFError:  # the child died while sending
                    proc.join()
                    return crashed(call.stage, proc.exitcode)
                proc.join()
                return outcome
            if not ready:  # deadline passed, child still running
                self._stop(proc)
                return timed_out(call.stage, timeout_s or 0.0)
            proc.join()
            return crashed(call.stage, proc.exitcode)
        finally:
            receiver.close()
            with self._lock:
                self._live.discard(proc)
            if proc.exitcode is not None:
                proc.close()

    @staticmethod
    def _stop(proc: Any) -> None:
        proc.terminate()
        proc.join(TERMINATE_GRACE_S)
        if proc.exitcode is None:
            proc.kill()
            proc.join()

    def close(self) -> None:
        """Stop children still running (a run that ended abnormally)."""
        with self._lock:
            live = list(self._live)
        for proc in live:
            if proc.exitcode is None:
                self._stop(proc)
