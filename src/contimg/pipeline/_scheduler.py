"""The state machine of one run (private to the runner).

One lock guards the run's state and every repository write. Attempts run on a
small thread pool; the thread that finishes an attempt records it under the
lock, works out what became ready, submits all but one of the newly startable
attempts and runs that one itself. A chain of stages therefore runs in one
thread with no hand-off at all, and a fan keeps ``max_parallel`` threads busy
without a round trip through a coordinating thread: on a loaded two-core machine
each such round trip costs about 0.4 ms, more than everything else a stage
attempt costs together. The caller's thread only waits: for the end, for retry
timers, or for an error to re-raise.
"""

from __future__ import annotations

import collections
import contextvars
import heapq
import random
import threading
import time
import traceback
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import structlog
from pydantic import BaseModel

from contimg.observability import metrics
from contimg.pipeline import _values
from contimg.pipeline.errors import StageCrashed, StageError, StageTimeout
from contimg.pipeline.executors import AttemptCall, AttemptOutcome, Executor
from contimg.pipeline.stage import Stage
from contimg.pipeline.workflow import Workflow
from contimg.state.records import StageAttemptRecord, StageStatus
from contimg.state.repository import StateRepository

__all__ = ["FAILED_STATES", "Scheduler"]

_log = structlog.get_logger("contimg.runner")

#: Terminal states of a stage that did not complete.
FAILED_STATES = (StageStatus.FAILED, StageStatus.TIMED_OUT, StageStatus.CRASHED)


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass
class _Attempt:
    """An attempt about to run or in flight."""

    stage: Stage
    number: int
    record_id: int
    executor: Executor
    call: AttemptCall
    cpus: int
    t0: float
    input_bytes: int


class Scheduler:
    """Run the stages of one run to the end.

    Parameters
    ----------
    repository : StateRepository
        Where attempts and skips are recorded.
    workflow : Workflow
        The graph.
    run_id : int
        The run being executed.
    values : dict
        The workflow inputs; products are added as stages complete.
    executor_for : callable
        Stage -> the executor its attempts use.
    section_for : callable
        Stage -> (settings section or ``None``, its hash or ``None``).
    max_parallel : int
        Parallel slots (a stage takes ``resources.cpus`` of them).
    memory_budget_mb : float
        Memory that running attempts may declare together (``resources.memory_mb``).
    scratch : Path
        This run's scratch directory.
    reuse_from : mapping
        Stage -> a completed attempt of the run being resumed.
    use_cache : bool
        Whether completed attempts of other runs may be reused.
    flush : callable
        Called after every attempt (the log sink's flush).
    """

    def __init__(
        self,
        repository: StateRepository,
        workflow: Workflow,
        run_id: int,
        values: dict[str, Any],
        *,
        executor_for: Callable[[Stage], Executor],
        section_for: Callable[[Stage], tuple[BaseModel | None, str | None]],
        max_parallel: int,
        memory_budget_mb: float,
        scratch: Path,
        reuse_from: Mapping[str, StageAttemptRecord],
        use_cache: bool,
        flush: Callable[[], None],
    ) -> None:
        self.repository = repository
        self.workflow = workflow
        self.run_id = run_id
        self.values = values
        self._executor_for = executor_for
        self._section_for = section_for
        self.max_parallel = max_parallel
        self.memory_budget_mb = memory_budget_mb
        self.scratch = scratch
        self.reuse_from = reuse_from
        self.use_cache = use_cache
        self._flush = flush
        self.status = dict.fromkeys(workflow.order, StageStatus.PENDING)
        self.attempts = dict.fromkeys(workflow.order, 0)
        self.errors: dict[str, StageError] = {}
        self.reasons: dict[str, str] = {}
        self.keys: dict[str, str] = {}
        #: Stages whose run key is known to have no completed attempt anywhere.
        self._fresh: set[str] = set()
        self.satisfied: set[str] = set()
        self.running: dict[int, _Attempt] = {}  # attempt record id -> attempt
        self.stopped_by: str | None = None
        self._waiting = {n: len(workflow.dependencies[n]) for n in workflow.order}
        self._ready = collections.deque(n for n in workflow.order if not self._waiting[n])
        self._retry_at: list[tuple[float, str, int]] = []  # heap of (due, stage, attempt)
        self._next_attempt: dict[str, int] = {}  # stage -> number of its due retry
        self._slots = 0
        self._memory_mb = 0.0
        self._lock = threading.RLock()
        self._changed = threading.Event()
        self._fatal: BaseException | None = None
        self._pool: ThreadPoolExecutor | None = None

    # -- driving ----------------------------------------------------------
    def run(self, pool: ThreadPoolExecutor) -> None:
        """Run until every stage has ended; re-raise a bookkeeping error from any thread."""
        self._pool = pool
        while True:
            with self._lock:
                self._changed.clear()
                if self._fatal is not None:
                    raise self._fatal
                for attempt in self._start_ready():
                    self._submit(attempt)
                if not self.running and not self._retry_at:
                    break
                timeout = (
                    max(0.0, self._retry_at[0][0] - time.monotonic()) if self._retry_at else None
                )
            self._changed.wait(timeout)
        for name in self.workflow.order:  # unreachable unless the graph logic is wrong
            if self.status[name] is StageStatus.PENDING:
                self._skip(name, "not runnable")

    def _submit(self, attempt: _Attempt) -> None:
        assert self._pool is not None
        # each task runs in a copy of the submitting context: run_id etc. stay bound
        self._pool.submit(contextvars.copy_context().run, self._work, attempt)

    def _work(self, attempt: _Attempt | None) -> None:
        """Run attempts in this thread: the given one, then one that it made ready, ..."""
        while attempt is not None:
            try:
                outcome = attempt.executor.run(attempt.call, attempt.stage.timeout_s)
            except Exception as exc:  # an executor bug: the attempt failed, the run goes on
                outcome = AttemptOutcome(
                    StageStatus.FAILED,
                    error_type=type(exc).__name__,
                    error_message=str(exc),
                    traceback="".join(traceback.format_exception(exc)),
                )
            with self._lock:
                if self._fatal is not None:  # the run was aborted: record nothing more
                    return
                try:
                    self._handle(attempt, outcome)
                    startable = self._start_ready()
                except BaseException as exc:
                    self._fatal, startable = exc, []
                attempt = startable.pop(0) if startable else None
                for other in startable:
                    self._submit(other)
                # wake the waiting thread only when it may have something to do
                if attempt is None or self._retry_at or self._fatal is not None:
                    self._changed.set()

    # -- starting ---------------------------------------------------------
    def _start_ready(self) -> list[_Attempt]:
        """Record the start of every attempt that may start now; return them (lock held)."""
        started: list[_Attempt] = []
        now = time.monotonic()
        while self._retry_at and (self._retry_at[0][0] <= now or self.stopped_by):
            _, name, number = heapq.heappop(self._retry_at)
            if self.stopped_by is not None:
                self._end_skipped(
                    name, f"run stopped: stage {self.stopped_by!r} {self.status[self.stopped_by]}"
                )
            else:
                self._ready.appendleft(name)  # a retry goes first
                self._next_attempt[name] = number
        while self._ready:
            name = self._ready[0]
            deps = self.workflow.dependencies[name]
            blocked = [d for d in deps if d not in self.satisfied]
            if blocked:
                self._ready.popleft()
                self._end_skipped(name, f"upstream stage {blocked[0]!r} {self.status[blocked[0]]}")
                continue
            if self.stopped_by is not None:
                self._ready.popleft()
                self._end_skipped(
                    name, f"run stopped: stage {self.stopped_by!r} {self.status[self.stopped_by]}"
                )
                continue
            stage = self.workflow.stage(name)
            cpus = min(stage.resources.cpus, self.max_parallel)
            memory = stage.resources.memory_mb or 0
            if self._slots and (
                self._slots + cpus > self.max_parallel
                or self._memory_mb + memory > self.memory_budget_mb
            ):
                break  # wait for slots or memory; order is kept
            self._ready.popleft()
            number = self._next_attempt.pop(name, 1)
            attempt = self._start_attempt(stage, number, cpus)
            if attempt is not None:
                started.append(attempt)
        return started

    def _start_attempt(self, stage: Stage, number: int, cpus: int) -> _Attempt | None:
        name = stage.name
        inputs = {n: self.values[n] for n in stage.inputs}
        section, config_hash = self._section_for(stage)
        if number == 1:
            producers = self.workflow.producers
            versions = {
                n: ["from", self.keys[producers[n]]] if n in producers else _values.fingerprint(v)
                for n, v in inputs.items()
            }
            self.keys[name] = stage.run_key(versions, config_hash)
            if self._reuse(stage, self.keys[name]):
                return None
        executor = self._executor_for(stage)
        record = self.repository.start_attempt(
            self.run_id,
            name,
            attempt=number,
            run_key=self.keys[name],
            executor=executor.name,
            started_at=_now(),
        )
        self.attempts[name] = number
        self.status[name] = StageStatus.RUNNING
        self._slots += cpus
        self._memory_mb += stage.resources.memory_mb or 0
        with structlog.contextvars.bound_contextvars(stage=name):
            _log.info("stage.started", attempt=number, executor=executor.name)
        call = AttemptCall(
            stage,
            inputs,
            section,
            self.run_id,
            number,
            scratch=self.scratch / f"{name}-{number}" if "scratch" in stage.injected else None,
            capture_logs=executor.name != "inline",
            repository=self.repository if "repository" in stage.injected else None,
        )
        attempt = _Attempt(
            stage,
            number,
            record.id,
            executor,
            call,
            cpus,
            time.monotonic(),
            _values.total_bytes(inputs),
        )
        self.running[record.id] = attempt
        return attempt

    def _reuse(self, stage: Stage, key: str) -> bool:
        """Skip ``stage`` if a completed attempt with this key left outputs that still exist.

        A key is made from the keys of the stage's producers, and a stage only
        ever completes after its producers completed or were reused under the
        same keys. So when a producer's key had no completed attempt at all
        (it is *fresh*), no key built on it can have one either: the lookup is
        skipped (a query saved per stage of new work) and the stage is fresh too.
        """
        previous = self.reuse_from.get(stage.name)
        producers = self.workflow.producers
        if previous is not None and previous.run_key == key:
            reason = f"resumed: run {previous.run_id}"
        elif not (self.use_cache and stage.cache):
            previous = None
        elif any(producers[n] in self._fresh for n in stage.inputs if n in producers):
            previous = None
            self._fresh.add(stage.name)
        else:
            previous = self.repository.find_completed_attempt(key)
            reason = "" if previous is None else f"cached: run {previous.run_id}"
            if previous is None:
                self._fresh.add(stage.name)
        if previous is None or previous.run_id == self.run_id:
            return False
        if any(p not in previous.outputs for p in stage.products):
            return False
        try:
            products = {
                p: _values.decode(previous.outputs[p], stage.product_types[p])
                for p in stage.products
            }
        except Exception:  # recorded under an older type: not reusable, run it
            return False
        if not all(p.exists() for v in products.values() for p in _values.iter_paths(v)):
            return False
        self.repository.record_skipped(
            self.run_id,
            stage.name,
            reason=reason,
            at=_now(),
            run_key=key,
            outputs={p: previous.outputs[p] for p in stage.products},
        )
        self.values.update(products)
        self.satisfied.add(stage.name)
        self._end(stage.name, StageStatus.SKIPPED)
        self.reasons[stage.name] = reason
        metrics.STAGE_ATTEMPTS_TOTAL.labels(self.workflow.name, "skipped").inc()
        with structlog.contextvars.bound_contextvars(stage=stage.name):
            _log.info("stage.skipped", reason=reason)
        return True

    # -- ending -----------------------------------------------------------
    def _end(self, name: str, status: StageStatus) -> None:
        """Set a terminal status and release the stages that waited for this one."""
        self.status[name] = status
        for child in self.workflow.children[name]:
            self._waiting[child] -= 1
            if not self._waiting[child]:
                self._ready.append(child)

    def _end_skipped(self, name: str, reason: str) -> None:
        self.repository.record_skipped(self.run_id, name, reason=reason, at=_now())
        self.reasons[name] = reason
        self._end(name, StageStatus.SKIPPED)
        metrics.STAGE_ATTEMPTS_TOTAL.labels(self.workflow.name, "skipped").inc()
        with structlog.contextvars.bound_contextvars(stage=name):
            _log.info("stage.skipped", reason=reason)

    def _skip(self, name: str, reason: str) -> None:
        with self._lock:
            self._end_skipped(name, reason)

    def _handle(self, att: _Attempt, outcome: AttemptOutcome) -> None:
        """Record how an attempt ended and decide: completed, retry, or failed (lock held)."""
        stage, name = att.stage, att.stage.name
        del self.running[att.record_id]
        self._slots -= att.cpus
        self._memory_mb -= stage.resources.memory_mb or 0
        with structlog.contextvars.bound_contextvars(stage=name, attempt=att.number):
            for event in outcome.logs:  # events a child process or Dask worker collected
                fields = dict(event)
                level = str(fields.pop("level", "info"))
                getattr(_log, level if level in ("debug", "warning", "error") else "info")(
                    fields.pop("event", ""), **fields
                )
            encoded: dict[str, Any] = {}
            if outcome.status is StageStatus.COMPLETED:
                try:
                    encoded = {
                        p: _values.encode(v, stage.product_types[p])
                        for p, v in outcome.products.items()
                    }
                except Exception as exc:
                    outcome = AttemptOutcome(
                        StageStatus.FAILED,
                        error_type=type(exc).__name__,
                        error_message=f"product cannot be recorded as JSON: {exc}",
                        traceback="".join(traceback.format_exception(exc)),
                        cpu_s=outcome.cpu_s,
                        peak_rss_bytes=outcome.peak_rss_bytes,
                    )
            duration = time.monotonic() - att.t0
            ok = outcome.status is StageStatus.COMPLETED
            self.repository.finish_attempt(
                att.record_id,
                status=outcome.status,
                ended_at=_now(),
                duration_s=duration,
                cpu_s=outcome.cpu_s,
                peak_rss_bytes=outcome.peak_rss_bytes,
                input_bytes=att.input_bytes,
                output_bytes=_values.total_bytes(outcome.products) if ok else None,
                outputs=encoded if ok else None,
                error_type=outcome.error_type,
                error_message=outcome.error_message,
                traceback=outcome.traceback,
            )
            metrics.STAGE_DURATION_SECONDS.labels(
                self.workflow.name, name, outcome.status.value
            ).observe(duration)
            metrics.STAGE_ATTEMPTS_TOTAL.labels(self.workflow.name, outcome.status.value).inc()
            if ok:
                self.values.update(outcome.products)
                self.satisfied.add(name)
                _log.info("stage.completed", duration_s=round(duration, 6))
                self._end(name, StageStatus.COMPLETED)
            elif self._retry(att, outcome):
                pass
            else:
                self.errors[name] = _stage_error(name, outcome, stage.timeout_s)
                _log.error(
                    "stage.failed",
                    status=outcome.status.value,
                    attempts=att.number,
                    error_type=outcome.error_type,
                    error=outcome.error_message,
                    critical=stage.critical,
                )
                if stage.critical and self.stopped_by is None:
                    self.stopped_by = name
                self._end(name, outcome.status)
        self._flush()

    def _retry(self, att: _Attempt, outcome: AttemptOutcome) -> bool:
        policy = att.stage.retry
        if not (
            outcome.transient
            and policy.strategy != "none"
            and att.number < policy.attempts
            and self.stopped_by is None
        ):
            return False
        delay = policy.delay(att.number, random.random())
        heapq.heappush(self._retry_at, (time.monotonic() + delay, att.stage.name, att.number + 1))
        self.status[att.stage.name] = StageStatus.PENDING
        _log.warning(
            "stage.retry_scheduled",
            delay_s=round(delay, 3),
            next_attempt=att.number + 1,
            error_type=outcome.error_type,
            error=outcome.error_message,
        )
        return True

    def abort(self, exc: BaseException) -> None:
        """Record the attempts in flight as crashed (the runner itself stopped)."""
        with self._lock:
            self._fatal = self._fatal or exc
            for att in list(self.running.values()):
                self.repository.finish_attempt(
                    att.record_id,
                    status=StageStatus.CRASHED,
                    ended_at=_now(),
                    duration_s=time.monotonic() - att.t0,
                    error_type=type(exc).__name__,
                    error_message=f"runner stopped: {exc!r}",
                )
            self.running.clear()


def _stage_error(stage: str, outcome: AttemptOutcome, timeout_s: float | None) -> StageError:
    if outcome.status is StageStatus.TIMED_OUT:
        return StageTimeout(stage, timeout_s or 0.0)
    if outcome.status is StageStatus.CRASHED:
        error: StageError = StageCrashed(stage, outcome.exitcode)
        error.message = outcome.error_message or error.message
        return error
    return StageError(
        stage, outcome.error_type or "Error", outcome.error_message or "", outcome.traceback
    )
