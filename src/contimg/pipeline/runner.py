"""The runner: the only caller of stages, and the keeper of every run's state.

For each run the runner walks the workflow graph, starting every stage whose
inputs are ready (up to ``executor.max_parallel`` slots at once), hands each
attempt to an executor, and records everything in the state store (the state
machine itself is in :mod:`contimg.pipeline._scheduler`).

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

import collections
import contextlib
import shutil
import threading
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psutil
import structlog
from pydantic import BaseModel, ValidationError

from contimg.config.settings import Settings, section_hash
from contimg.observability import metrics
from contimg.observability.logging import attached_sink
from contimg.observability.sink import BatchedLogSink
from contimg.pipeline import _values
from contimg.pipeline._scheduler import FAILED_STATES, Scheduler
from contimg.pipeline.errors import ConfigurationError, InputError, StageError
from contimg.pipeline.executors import Executor, make_executor
from contimg.pipeline.stage import Stage
from contimg.pipeline.workflow import Workflow
from contimg.state.records import RunRecord, RunStatus, StageAttemptRecord, StageStatus
from contimg.state.repository import StateRepository

__all__ = ["RunResult", "Runner", "StageSummary"]

_log = structlog.get_logger("contimg.runner")


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
                if summary.error is not None and summary.status in FAILED_STATES:
                    raise summary.error
            raise StageError("<run>", "RunFailed", f"run {self.run_id} ended {self.status}")


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
    memory_budget_mb : float, optional
        Memory the running attempts of one run may declare together; default:
        what the machine has available when the run starts.
    scratch_dir : Path, optional
        Parent of per-run scratch directories (default ``paths.scratch_dir``).
    log_to_db : bool
        Stream the run's log events into the store (needs
        :func:`contimg.observability.configure_logging`, as the CLI does).
    workflows : mapping, optional
        Workflow name -> factory(settings), used by :meth:`resume` and
        :meth:`retry` to rebuild a run's workflow when none is given
        (e.g. :data:`contimg.workflows.WORKFLOWS`).

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
        memory_budget_mb: float | None = None,
        scratch_dir: Path | None = None,
        log_to_db: bool = True,
        workflows: Mapping[str, Callable[[Settings], Workflow]] | None = None,
    ) -> None:
        self.repository = repository
        self.workflows = dict(workflows or {})
        self.settings = settings or Settings()
        self.default_executor = executor or self.settings.executor.kind
        self.max_parallel = max_parallel or self.settings.executor.max_parallel
        self.memory_budget_mb = memory_budget_mb
        self.scratch_dir = Path(scratch_dir or self.settings.paths.scratch_dir)
        self.log_to_db = log_to_db
        self._executors: dict[str, Executor] = {}
        self._executors_lock = threading.Lock()  # runs may share this runner (the service)
        self._config_hashes: dict[str, str] = {}

    def __enter__(self) -> Runner:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Release the executors (Dask client, child processes)."""
        with self._executors_lock:
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
        InputError
            Inputs missing, unknown or not of the declared types.
        ConfigurationError
            A stage names a settings section or executor that does not exist.
        """
        return self._start(workflow, inputs or {}, trigger=trigger, use_cache=use_cache)

    def resume(
        self, run_id: int, workflow: Workflow | None = None, *, force: bool = False
    ) -> RunResult:
        """Run again what did not complete in run ``run_id``, reusing what did.

        A new run (``resumed_from = run_id``) on the same inputs: a stage whose
        completed attempt in the old run has the same run key and whose output
        paths still exist is skipped (``resumed: run N``); the rest runs.
        ``force`` allows resuming a run still recorded as pending/running (its
        runner died without saying so). Without ``workflow``, the run's
        workflow is rebuilt from the ``workflows`` registry by name.
        """
        old, workflow, inputs = self._previous(run_id, workflow, force=force)
        reuse: dict[str, StageAttemptRecord] = {}
        for rec in self.repository.list_attempts(old.id):
            if rec.status is StageStatus.COMPLETED or (
                rec.status is StageStatus.SKIPPED and rec.run_key and rec.outputs
            ):
                reuse[rec.stage] = rec
        return self._start(
            workflow, inputs, trigger="resume", resumed_from=old.id, reuse_from=reuse
        )

    def retry(
        self, run_id: int, workflow: Workflow | None = None, *, force: bool = False
    ) -> RunResult:
        """Run a run's workflow again from scratch on the same inputs (no reuse)."""
        old, workflow, inputs = self._previous(run_id, workflow, force=force)
        return self._start(workflow, inputs, trigger="retry", resumed_from=old.id, use_cache=False)

    # -- set-up -----------------------------------------------------------
    def _previous(
        self, run_id: int, workflow: Workflow | None, *, force: bool
    ) -> tuple[RunRecord, Workflow, dict[str, Any]]:
        old = self.repository.get_run(run_id)
        if old is None:
            raise ConfigurationError(f"run {run_id} does not exist")
        if workflow is None:
            if old.workflow not in self.workflows:
                raise ConfigurationError(
                    f"run {run_id} is a {old.workflow!r} run; no such workflow is registered "
                    f"(known: {', '.join(sorted(self.workflows)) or 'none'})"
                )
            workflow = self.workflows[old.workflow](self.settings)
        if old.workflow != workflow.name:
            raise ConfigurationError(
                f"run {run_id} is a {old.workflow!r} run, not {workflow.name!r}"
            )
        if not old.status.finished and not force:
            raise ConfigurationError(
                f"run {run_id} is still {old.status}; if its process "
                "died, pass force to take it over"
            )
        inputs = {k: _values.decode(v, workflow.inputs.get(k, Any)) for k, v in old.inputs.items()}
        return old, workflow, inputs

    def _executor(self, kind: str) -> Executor:
        with self._executors_lock:
            if kind not in self._executors:
                self._executors[kind] = make_executor(kind, self.settings.executor)
            return self._executors[kind]

    def _executor_for(self, stage: Stage) -> Executor:
        if "repository" in stage.injected:
            return self._executor("inline")  # a live repository does not cross processes
        return self._executor(stage.executor or self.default_executor)

    def _section(self, stage: Stage) -> tuple[BaseModel | None, str | None]:
        if stage.config is None:
            return None, None
        section = getattr(self.settings, stage.config, None)
        if not isinstance(section, BaseModel):
            raise ConfigurationError(
                f"stage {stage.name!r} asks for settings section "
                f"{stage.config!r}, which does not exist"
            )
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
            raise InputError(
                f"workflow {workflow.name!r} takes inputs "
                f"{sorted(workflow.inputs)}; missing {missing}, unknown {extra}"
            )
        inputs = {k: _checked_input(workflow, k, v) for k, v in inputs.items()}
        for stage in workflow.stages:
            self._section(stage)
            if (stage.executor or self.default_executor) not in ("inline", "process", "dask"):
                raise ConfigurationError(
                    f"executor.kind = {self.default_executor!r}: not one of inline, process, dask"
                )
        encoded = {k: _values.encode(v, workflow.inputs[k]) for k, v in inputs.items()}
        run = self.repository.create_run(
            workflow.name,
            trigger=trigger,
            inputs=encoded,
            config_hash=section_hash(self.settings),
            resumed_from=resumed_from,
        )
        return self._execute(workflow, run.id, dict(inputs), reuse_from or {}, use_cache)

    # -- executing -------------------------------------------------------
    def _execute(
        self,
        wf: Workflow,
        run_id: int,
        values: dict[str, Any],
        reuse_from: Mapping[str, StageAttemptRecord],
        use_cache: bool,
    ) -> RunResult:
        with ExitStack() as stack:
            stack.enter_context(
                structlog.contextvars.bound_contextvars(run_id=run_id, workflow=wf.name)
            )
            flush: Callable[[], None] = _no_flush
            if self.log_to_db:
                logging = self.settings.logging
                sink = BatchedLogSink(
                    self.repository,
                    batch_size=logging.db_batch_size,
                    flush_interval_s=logging.db_flush_interval_s,
                    run_id=run_id,
                )
                stack.callback(sink.close)
                stack.enter_context(attached_sink(sink))
                flush = sink.stage_ended
            scratch = self.scratch_dir / f"run-{run_id}"
            stack.callback(shutil.rmtree, scratch, ignore_errors=True)
            pool = ThreadPoolExecutor(self.max_parallel, thread_name_prefix=f"run{run_id}")
            stack.callback(pool.shutdown, wait=False, cancel_futures=True)
            metrics.RUNS_ACTIVE.labels(wf.name).inc()
            stack.callback(metrics.RUNS_ACTIVE.labels(wf.name).dec)
            scheduler = Scheduler(
                self.repository,
                wf,
                run_id,
                values,
                executor_for=self._executor_for,
                section_for=self._section,
                max_parallel=self.max_parallel,
                memory_budget_mb=self.memory_budget_mb or psutil.virtual_memory().available / 2**20,
                scratch=scratch,
                reuse_from=reuse_from,
                use_cache=use_cache,
                flush=flush,
            )
            self.repository.update_run(run_id, status=RunStatus.RUNNING, started_at=_now())
            _log.info("run.started", stages=len(wf.stages), max_parallel=self.max_parallel)
            try:
                scheduler.run(pool)
            except BaseException as exc:
                self._abort(wf, run_id, scheduler, exc)
                raise
            return self._finish(wf, run_id, scheduler)

    def _finish(self, wf: Workflow, run_id: int, sched: Scheduler) -> RunResult:
        critical = [
            n for n in wf.order if sched.status[n] in FAILED_STATES and wf.stage(n).critical
        ]
        status = RunStatus.FAILED if critical else RunStatus.COMPLETED
        error = str(sched.errors[critical[0]]) if critical else None
        produced = {p: v for p, v in sched.values.items() if p in wf.producers}
        types = wf.value_types()
        self.repository.update_run(
            run_id,
            status=status,
            ended_at=_now(),
            error=error,
            outputs={p: _values.encode(v, types[p]) for p, v in produced.items()},
        )
        metrics.RUNS_TOTAL.labels(wf.name, status.value).inc()
        counts = dict(collections.Counter(s.value for s in sched.status.values()))
        if status is RunStatus.COMPLETED:
            _log.info("run.completed", stages=counts)
        else:
            _log.error("run.failed", stages=counts, error=error)
        return RunResult(
            run_id,
            wf.name,
            status,
            produced,
            {
                n: StageSummary(
                    sched.status[n], sched.attempts[n], sched.errors.get(n), sched.reasons.get(n)
                )
                for n in wf.order
            },
        )

    def _abort(self, wf: Workflow, run_id: int, sched: Scheduler, exc: BaseException) -> None:
        """Record that the runner itself was interrupted or broke, as far as possible."""
        status = RunStatus.CANCELLED if isinstance(exc, KeyboardInterrupt) else RunStatus.CRASHED
        with contextlib.suppress(Exception):
            sched.abort(exc)
            self.repository.update_run(
                run_id, status=status, ended_at=_now(), error=f"{type(exc).__name__}: {exc}"
            )
            metrics.RUNS_TOTAL.labels(wf.name, status.value).inc()
            _log.error("run.failed", status=status.value, error=repr(exc))


def _checked_input(workflow: Workflow, name: str, value: Any) -> Any:
    """Validate one input against its declared type (``"5"`` for an ``int`` becomes ``5``)."""
    try:
        return _values.decode(value, workflow.inputs[name])
    except ValidationError as exc:
        detail = "; ".join(e["msg"] for e in exc.errors())
        raise InputError(
            f"workflow {workflow.name!r}: input {name!r} = {value!r} is not a valid "
            f"{getattr(workflow.inputs[name], '__name__', workflow.inputs[name])}: {detail}"
        ) from None


def _no_flush() -> None:
    """Stand in for the log sink's flush when logs do not go to the store."""
