"""The runner: the only caller of stages, and the keeper of every run's state.

For each run the runner walks the workflow graph, starting every stage whose
inputs are ready (up to ``executor.max_parallel`` slots at once), hands each
attempt to an executor, and records everything in the state store. One thread
(the caller's) owns the state machine and all repository writes; attempts run
on a small thread pool, which for the process and Dask executors only waits.

Stage states: ``pending`` -> ``running`` -> ``completed`` | ``failed`` |
``timed_out`` | ``crashed``, or ``skipped`` with a reason (an upstream stage did
not complete, the run was stopped by a critical failure, or the result was
reused). A failed attempt whose error the stage's :class:`RetryPolicy` calls
transient is retried after the policy's delay, as a new attempt.

Reuse. Every attempt has a run key (stage name, version and code, its settings
section, and the versions of its inputs: for a workflow input its value, with
paths as path + size + mtime; for another stage's product the producing
attempt's run key, so that a stage that updates a Measurement Set in place does
not invalidate its own result). A stage is not run again, and is recorded
``skipped`` with reason ``cached: run N`` (or ``resumed: run N``), when a
completed attempt with the same key exists and every path in its recorded
outputs still exists: :meth:`Runner.resume` prefers the resumed run's own
attempts; any new run consults the whole store. (A product changed outside the
pipeline is therefore not noticed: delete it, or use :meth:`Runner.retry`.)
"""

from __future__ import annotations

import contextlib
import heapq
import random
import shutil
import time
import traceback
from collections.abc import Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import structlog
from pydantic import BaseModel

from contimg.config.settings import Settings, section_hash
from contimg.observability import metrics
from contimg.observability.logging import attached_sink
from contimg.observability.sink import BatchedLogSink
from contimg.pipeline import _values
from contimg.pipeline.errors import (
    ConfigurationError,
    DefinitionError,
    StageCrashed,
    StageError,
    StageTimeout,
)
from contimg.pipeline.executors import AttemptCall, AttemptOutcome, Executor, make_executor
from contimg.pipeline.stage import Stage
from contimg.pipeline.workflow import Workflow
from contimg.state.records import RunStatus, StageAttemptRecord, StageStatus
from contimg.state.repository import StateRepository

__all__ = ["RunResult", "Runner", "StageSummary"]

_log = structlog.get_logger("contimg.runner")
_FAILED = (StageStatus.FAILED, StageStatus.TIMED_OUT, StageStatus.CRASHED)


@dataclass(frozen=True)
class StageSummary:
    """How one stage ended within a run."""

    status: StageStatus
    attempts: int = 0
    error: StageError | None = None
    skip_reason: str | None = None


@dataclass(frozen=True)
class RunResult:
    """What a run produced and how each stage ended."""

    run_id: int
    workflow: str
    status: RunStatus
    outputs: Mapping[str, Any]
    stages: Mapping[str, StageSummary]

    @property
    def ok(self) -> bool:
        """Whether the run completed."""
        return self.status is RunStatus.COMPLETED

    def raise_for_status(self) -> None:
        """Raise the first critical stage error if the run did not complete."""
        if not self.ok:
            for summary in self.stages.values():
                if summary.error is not None and summary.status in _FAILED:
                    raise summary.error
            raise StageError("<run>", "RunFailed", f"run {self.run_id} ended {self.status}")


@dataclass
class _Attempt:
    """An attempt in flight."""

    stage: Stage
    number: int
    record_id: int
    run_key: str
    t0: float
    input_bytes: int


@dataclass
class _RunState:
    """Mutable bookkeeping of one run (owned by the runner's thread)."""

    workflow: Workflow
    run_id: int
    values: dict[str, Any]
    scratch: Path
    reuse_from: Mapping[str, StageAttemptRecord]
    use_cache: bool
    status: dict[str, StageStatus] = field(default_factory=dict)
    attempts: dict[str, int] = field(default_factory=dict)
    errors: dict[str, StageError] = field(default_factory=dict)
    reasons: dict[str, str] = field(default_factory=dict)
    keys: dict[str, str] = field(default_factory=dict)
    satisfied: set[str] = field(default_factory=set)
    running: dict[Future[AttemptOutcome], _Attempt] = field(default_factory=dict)
    retry_at: list[tuple[float, str, int]] = field(default_factory=list)  # heap
    slots: int = 0
    stopped_by: str | None = None


def _now() -> datetime:
    return datetime.now(UTC)


class Runner:
    """Run workflows, record every state change, retry, resume.

    Parameters
    ----------
    repository : StateRepository
        Where runs, attempts and logs are recorded.
    settings : Settings, optional
        Sections given to stages, the ``executor`` and ``logging`` sections,
        and ``paths.scratch_dir``. Default: defaults.
    executor : {"inline", "process", "dask"}, optional
        Default executor (overrides ``executor.kind``).
    max_parallel : int, optional
        Parallel slots per run (overrides ``executor.max_parallel``).
    scratch_dir : Path, optional
        Parent of per-run scratch directories (default ``paths.scratch_dir``).
    log_to_db : bool
        Stream the run's log events into the store (needs
        :func:`contimg.observability.configure_logging`, as the CLI does).

    Notes
    -----
    Use as a context manager (or call :meth:`close`): executors (a Dask
    client, process-executor children) are created on first use and released
    on close. Everything acquired for one run (thread pool, log sink, scratch
    directory) is released on that run's own exit stack, also on error.
    """

    def __init__(
        self,
        repository: StateRepository,
        settings: Settings | None = None,
        *,
        executor: str | None = None,
        max_parallel: int | None = None,
        scratch_dir: Path | None = None,
        log_to_db: bool = True,
    ) -> None:
        self.repository = repository
        self.settings = settings or Settings()
        self.default_executor = executor or self.settings.executor.kind
        self.max_parallel = max_parallel or self.settings.executor.max_parallel
        self.scratch_dir = Path(scratch_dir or self.settings.paths.scratch_dir)
        self.log_to_db = log_to_db
        self._executors: dict[str, Executor] = {}
        self._config_hashes: dict[str, str] = {}

    def __enter__(self) -> Runner:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Release the executors (Dask client, child processes)."""
        executors, self._executors = self._executors, {}
        for executor in executors.values():
            executor.close()

    # -- public entry points ---------------------------------------------
    def run(
        self,
        workflow: Workflow,
        inputs: Mapping[str, Any] | None = None,
        *,
        trigger: str = "manual",
        use_cache: bool = True,
    ) -> RunResult:
        """Run ``workflow`` once on ``inputs`` and return how it ended.

        Raises
        ------
        DefinitionError
            Inputs missing or unknown.
        ConfigurationError
            A stage names a settings section or executor that does not exist.
        """
        return self._start(workflow, inputs or {}, trigger=trigger, use_cache=use_cache)

    def resume(self, run_id: int, workflow: Workflow, *, force: bool = False) -> RunResult:
        """Run again what did not complete in run ``run_id``, reusing what did.

        A new run (``resumed_from = run_id``) on the same inputs: a stage whose
        completed attempt in the old run has the same run key and whose output
        paths still exist is skipped (``resumed: run N``); the rest runs.
        ``force`` allows resuming a run still recorded as pending/running (its
        runner died without saying so).
        """
        old, inputs = self._previous(run_id, workflow, force=force)
        reuse: dict[str, StageAttemptRecord] = {}
        for rec in self.repository.list_attempts(old.id):
            if rec.status is StageStatus.COMPLETED or (
                    rec.status is StageStatus.SKIPPED and rec.run_key and rec.outputs):
                reuse[rec.stage] = rec
        return self._start(workflow, inputs, trigger="resume", resumed_from=old.id,
                           reuse_from=reuse)

    def retry(self, run_id: int, workflow: Workflow, *, force: bool = False) -> RunResult:
        """Run ``workflow`` again from scratch on run ``run_id``'s inputs (no reuse)."""
        old, inputs = self._previous(run_id, workflow, force=force)
        return self._start(workflow, inputs, trigger="retry", resumed_from=old.id,
                           use_cache=False)

    # -- set-up -----------------------------------------------------------
    def _previous(self, run_id: int, workflow: Workflow, *, force: bool) -> tuple[Any, dict]:
        old = self.repository.get_run(run_id)
        if old is None:
            raise ConfigurationError(f"run {run_id} does not exist")
        if old.workflow != workflow.name:
            raise ConfigurationError(f"run {run_id} is a {old.workflow!r} run, not "
                                     f"{workflow.name!r}")
        if not old.status.finished and not force:
            raise ConfigurationError(f"run {run_id} is still {old.status}; if its process "
                                     "died, pass force to take it over")
        inputs = {k: _values.decode(v, workflow.inputs.get(k, Any))
                  for k, v in old.inputs.items()}
        return old, inputs

    def _executor(self, kind: str) -> Executor:
        if kind not in self._executors:
            self._executors[kind] = make_executor(kind, self.settings.executor)
        return self._executors[kind]

    def _section(self, stage: Stage) -> tuple[BaseModel | None, str | None]:
        if stage.config is None:
            return None, None
        section = getattr(self.settings, stage.config, None)
        if not isinstance(section, BaseModel):
            raise ConfigurationError(f"stage {stage.name!r} asks for settings section "
                                     f"{stage.config!r}, which does not exist")
        if stage.config not in self._config_hashes:
            self._config_hashes[stage.config] = section_hash(section)
        return section, self._config_hashes[stage.config]

    def _start(
        self,
        workflow: Workflow,
        inputs: Mapping[str, Any],
        *,
        trigger: str,
        use_cache: bool = True,
        resumed_from: int | None = None,
        reuse_from: Mapping[str, StageAttemptRecord] | None = None,
    ) -> RunResult:
        missing = sorted(set(workflow.inputs) - set(inputs))
        extra = sorted(set(inputs) - set(workflow.inputs))
        if missing or extra:
            raise DefinitionError(f"workflow {workflow.name!r} takes inputs "
                                  f"{sorted(workflow.inputs)}; missing {missing}, unknown {extra}")
        for stage in workflow.stages:
            self._section(stage)
            if (stage.executor or self.default_executor) not in ("inline", "process", "dask"):
                raise ConfigurationError(f"executor.kind = {self.default_executor!r}: not one "
                                         "of inline, process, dask")
        encoded = {k: _values.encode(v, workflow.inputs[k]) for k, v in inputs.items()}
        run = self.repository.create_run(
            workflow.name, trigger=trigger, inputs=encoded,
            config_hash=section_hash(self.settings), resumed_from=resumed_from)
        state = _RunState(workflow, run.id, dict(inputs), self.scratch_dir / f"run-{run.id}",
                          reuse_from or {}, use_cache)
        return self._execute(state)

    # -- the state machine -------------------------------------------------
    def _execute(self, st: _RunState) -> RunResult:
        wf = st.workflow
        for name in wf.order:
            st.status[name] = StageStatus.PENDING
            st.attempts[name] = 0
        with ExitStack() as stack:
            stack.enter_context(structlog.contextvars.bound_contextvars(
                run_id=st.run_id, workflow=wf.name))
            sink = None
            if self.log_to_db:
                logging = self.settings.logging
                sink = BatchedLogSink(self.repository, batch_size=logging.db_batch_size,
                                      flush_interval_s=logging.db_flush_interval_s,
                                      run_id=st.run_id)
                stack.callback(sink.close)
                stack.enter_context(attached_sink(sink))
            pool = ThreadPoolExecutor(self.max_parallel, thread_name_prefix=f"run{st.run_id}")
            stack.callback(pool.shutdown, wait=False, cancel_futures=True)
            stack.callback(shutil.rmtree, st.scratch, ignore_errors=True)
            metrics.RUNS_ACTIVE.labels(wf.name).inc()
            stack.callback(metrics.RUNS_ACTIVE.labels(wf.name).dec)
            self.repository.update_run(st.run_id, status=RunStatus.RUNNING, started_at=_now())
            _log.info("run.started", stages=len(wf.stages), max_parallel=self.max_parallel)
            try:
                self._loop(st, pool, sink)
            except BaseException as exc:
                self._abort(st, exc)
                raise
            return self._finish(st)

    def _loop(self, st: _RunState, pool: ThreadPoolExecutor, sink: BatchedLogSink | None) -> None:
        wf = st.workflow
        while True:
            self._start_ready(st, pool)
            if not st.running and not st.retry_at:
                break
            timeout = max(0.0, st.retry_at[0][0] - time.monotonic()) if st.retry_at else None
            done, _ = wait(st.running, timeout=timeout, return_when=FIRST_COMPLETED)
            for future in done:
                self._handle(st, st.running.pop(future), future)
                if sink is not None:
                    sink.flush()
        leftover = [n for n in wf.order if st.status[n] is StageStatus.PENDING]
        for name in leftover:  # unreachable unless the graph logic is wrong; never hang
            self._skip(st, name, "not runnable")

    def _start_ready(self, st: _RunState, pool: ThreadPoolExecutor) -> None:
        wf = st.workflow
        now = time.monotonic()
        due: dict[str, int] = {}
        while st.retry_at and (st.retry_at[0][0] <= now or st.stopped_by):
            _, name, number = heapq.heappop(st.retry_at)
            due[name] = number
        waiting = {name for _, name, _ in st.retry_at}
        for name in wf.order:
            if st.status[name] is not StageStatus.PENDING or name in waiting:
                continue
            deps = wf.dependencies[name]
            blocked = [d for d in deps if st.status[d] in (*_FAILED, StageStatus.SKIPPED)
                       and d not in st.satisfied]
            if blocked:
                self._skip(st, name, f"upstream stage {blocked[0]!r} "
                                     f"{st.status[blocked[0]]}")
                continue
            if st.stopped_by is not None:
                self._skip(st, name, f"run stopped: stage {st.stopped_by!r} "
                                     f"{st.status[st.stopped_by]}")
                continue
            if not deps <= st.satisfied:
                continue
            stage = wf.stage(name)
            cpus = min(stage.resources.cpus, self.max_parallel)
            if st.slots and st.slots + cpus > self.max_parallel:
                continue
            self._start_attempt(st, pool, stage, due.get(name, 1), cpus)

    def _start_attempt(self, st: _RunState, pool: ThreadPoolExecutor, stage: Stage,
                       number: int, cpus: int) -> None:
        name = stage.name
        inputs = {n: st.values[n] for n in stage.inputs}
        section, config_hash = self._section(stage)
        if number == 1:
            producers = st.workflow.producers
            versions = {n: ["from", st.keys[producers[n]]] if n in producers
                        else _values.fingerprint(v) for n, v in inputs.items()}
            st.keys[name] = stage.run_key(versions, config_hash)
            if self._reuse(st, stage, st.keys[name]):
                return
        kind = stage.executor or self.default_executor
        record = self.repository.start_attempt(
            st.run_id, name, attempt=number, run_key=st.keys[name], executor=kind,
            started_at=_now())
        st.attempts[name] = number
        st.status[name] = StageStatus.RUNNING
        st.slots += cpus
        with structlog.contextvars.bound_contextvars(stage=name):
            _log.info("stage.started", attempt=number, executor=kind)
        call = AttemptCall(
            stage, inputs, section, st.run_id, number,
            scratch=st.scratch / f"{name}-{number}" if "scratch" in stage.injected else None,
            capture_logs=kind != "inline")
        attempt = _Attempt(stage, number, record.id, st.keys[name], time.monotonic(),
                           _values.total_bytes(inputs))
        st.running[pool.submit(self._executor(kind).run, call, stage.timeout_s)] = attempt

    def _reuse(self, st: _RunState, stage: Stage, key: str) -> bool:
        previous = st.reuse_from.get(stage.name)
        if previous is not None and previous.run_key == key:
            reason = f"resumed: run {previous.run_id}"
        elif st.use_cache and stage.cache:
            previous = self.repository.find_completed_attempt(key)
            reason = f"cached: run {previous.run_id}" if previous is not None else ""
        else:
            previous = None
        if previous is None or previous.run_id == st.run_id:
            return False
        if any(p not in previous.outputs for p in stage.products):
            return False
        try:
            products = {p: _values.decode(previous.outputs[p], stage.product_types[p])
                        for p in stage.products}
        except Exception:  # recorded with an older type: not reusable, run it
            return False
        if not all(p.exists() for v in products.values() for p in _values.iter_paths(v)):
            return False
        self.repository.record_skipped(
            st.run_id, stage.name, reason=reason, at=_now(), run_key=key,
            outputs={p: previous.outputs[p] for p in stage.products})
        st.values.update(products)
        st.satisfied.add(stage.name)
        st.status[stage.name] = StageStatus.SKIPPED
        st.reasons[stage.name] = reason
        metrics.STAGE_ATTEMPTS_TOTAL.labels(st.workflow.name, "skipped").inc()
        with structlog.contextvars.bound_contextvars(stage=stage.name):
            _log.info("stage.skipped", reason=reason)
        return True

    def _skip(self, st: _RunState, name: str, reason: str) -> None:
        self.repository.record_skipped(st.run_id, name, reason=reason, at=_now())
        st.status[name] = StageStatus.SKIPPED
        st.reasons[name] = reason
        metrics.STAGE_ATTEMPTS_TOTAL.labels(st.workflow.name, "skipped").inc()
        with structlog.contextvars.bound_contextvars(stage=name):
            _log.info("stage.skipped", reason=reason)

    def _handle(self, st: _RunState, att: _Attempt, future: Future[AttemptOutcome]) -> None:
        stage, name = att.stage, att.stage.name
        st.slots -= min(stage.resources.cpus, self.max_parallel)
        try:
            outcome = future.result()
        except Exception as exc:  # an executor bug: record it as the attempt's failure
            outcome = AttemptOutcome(StageStatus.FAILED, error_type=type(exc).__name__,
                                     error_message=str(exc),
                                     traceback="".join(traceback.format_exception(exc)))
        with structlog.contextvars.bound_contextvars(stage=name, attempt=att.number):
            for event in outcome.logs:  # events a child process or Dask worker collected
                fields = dict(event)
                level = str(fields.pop("level", "info"))
                getattr(_log, level if level in ("debug", "warning", "error") else "info")(
                    fields.pop("event", ""), **fields)
            encoded: dict[str, Any] = {}
            if outcome.status is StageStatus.COMPLETED:
                try:
                    encoded = {p: _values.encode(v, stage.product_types[p])
                               for p, v in outcome.products.items()}
                except Exception as exc:
                    outcome = AttemptOutcome(
                        StageStatus.FAILED, error_type=type(exc).__name__,
                        error_message=f"product cannot be recorded as JSON: {exc}",
                        traceback="".join(traceback.format_exception(exc)),
                        cpu_s=outcome.cpu_s, peak_rss_bytes=outcome.peak_rss_bytes)
            duration = time.monotonic() - att.t0
            ok = outcome.status is StageStatus.COMPLETED
            self.repository.finish_attempt(
                att.record_id, status=outcome.status, ended_at=_now(), duration_s=duration,
                cpu_s=outcome.cpu_s, peak_rss_bytes=outcome.peak_rss_bytes,
                input_bytes=att.input_bytes,
                output_bytes=_values.total_bytes(outcome.products) if ok else None,
                outputs=encoded if ok else None, error_type=outcome.error_type,
                error_message=outcome.error_message, traceback=outcome.traceback)
            metrics.STAGE_DURATION_SECONDS.labels(st.workflow.name, name,
                                                  outcome.status.value).observe(duration)
            metrics.STAGE_ATTEMPTS_TOTAL.labels(st.workflow.name, outcome.status.value).inc()
            if ok:
                st.values.update(outcome.products)
                st.satisfied.add(name)
                st.status[name] = StageStatus.COMPLETED
                _log.info("stage.completed", duration_s=round(duration, 6))
                return
            policy = stage.retry
            if (outcome.transient and policy.strategy != "none" and att.number < policy.attempts
                    and st.stopped_by is None):
                delay = policy.delay(att.number, random.random())
                heapq.heappush(st.retry_at, (time.monotonic() + delay, name, att.number + 1))
                st.status[name] = StageStatus.PENDING
                _log.warning("stage.retry_scheduled", delay_s=round(delay, 3),
                             next_attempt=att.number + 1, error_type=outcome.error_type,
                             error=outcome.error_message)
                return
            st.status[name] = outcome.status
            st.errors[name] = _stage_error(name, outcome, stage.timeout_s)
            _log.error("stage.failed", status=outcome.status.value, attempts=att.number,
                       error_type=outcome.error_type, error=outcome.error_message,
                       critical=stage.critical)
            if stage.critical and st.stopped_by is None:
                st.stopped_by = name

    # -- the end ------------------------------------------------------------
    def _finish(self, st: _RunState) -> RunResult:
        wf = st.workflow
        critical = [n for n in wf.order
                    if st.status[n] in _FAILED and wf.stage(n).critical]
        status = RunStatus.FAILED if critical else RunStatus.COMPLETED
        error = str(st.errors[critical[0]]) if critical else None
        produced = {p: v for p, v in st.values.items() if p in wf.producers}
        types = wf.value_types()
        self.repository.update_run(
            st.run_id, status=status, ended_at=_now(), error=error,
            outputs={p: _values.encode(v, types[p]) for p, v in produced.items()})
        metrics.RUNS_TOTAL.labels(wf.name, status.value).inc()
        if status is RunStatus.COMPLETED:
            _log.info("run.completed", stages=_counts(st.status))
        else:
            _log.error("run.failed", stages=_counts(st.status), error=error)
        return RunResult(
            st.run_id, wf.name, status, produced,
            {n: StageSummary(st.status[n], st.attempts[n], st.errors.get(n), st.reasons.get(n))
             for n in wf.order})

    def _abort(self, st: _RunState, exc: BaseException) -> None:
        """Record that the runner itself was interrupted or broke, as far as possible."""
        status = RunStatus.CANCELLED if isinstance(exc, KeyboardInterrupt) else RunStatus.CRASHED
        with contextlib.suppress(Exception):
            for att in st.running.values():
                self.repository.finish_attempt(
                    att.record_id, status=StageStatus.CRASHED, ended_at=_now(),
                    duration_s=time.monotonic() - att.t0, error_type=type(exc).__name__,
                    error_message=f"runner stopped: {exc!r}")
            self.repository.update_run(st.run_id, status=status, ended_at=_now(),
                                       error=f"{type(exc).__name__}: {exc}")
            metrics.RUNS_TOTAL.labels(st.workflow.name, status.value).inc()
            _log.error("run.failed", status=status.value, error=repr(exc))


def _stage_error(stage: str, outcome: AttemptOutcome, timeout_s: float | None) -> StageError:
    if outcome.status is StageStatus.TIMED_OUT:
        return StageTimeout(stage, timeout_s or 0.0)
    if outcome.status is StageStatus.CRASHED:
        error: StageError = StageCrashed(stage, outcome.exitcode)
        error.message = outcome.error_message or error.message
        return error
    return StageError(stage, outcome.error_type or "Error", outcome.error_message or "",
                      outcome.traceback)


def _counts(status: Mapping[str, StageStatus]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for value in status.values():
        counts[value.value] = counts.get(value.value, 0) + 1
    return counts
