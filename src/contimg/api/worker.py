"""The background worker that executes runs submitted through the API.

A request must answer at once with the new run's id, but the id only exists
once the :class:`~contimg.pipeline.Runner` has validated the inputs and
inserted the run. The worker therefore hands the runner a thin repository
wrapper that reports the id of the run it creates; the request waits for that
(or for the validation error) and returns, while the run goes on in the
worker's thread. One thread by default: runs queue behind each other, and
stages that must not share a process are isolated by the runner's executors,
not here.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import structlog

from contimg.config.settings import Settings
from contimg.pipeline import Runner, Workflow
from contimg.state.records import RunRecord
from contimg.state.repository import StateRepository

__all__ = ["RunWorker"]

_log = structlog.get_logger("contimg.api.worker")


class _AnnouncingRepository:
    """Delegate everything to ``repository``; report the id of the first run created."""

    def __init__(self, repository: StateRepository, created: Future[int]) -> None:
        self._repository = repository
        self._created = created

    def __getattr__(self, name: str) -> Any:
        return getattr(self._repository, name)

    def create_run(self, workflow: str, **kwargs: Any) -> RunRecord:
        record = self._repository.create_run(workflow, **kwargs)
        if not self._created.done():
            self._created.set_result(record.id)
        return record


class RunWorker:
    """Execute runs in background threads through the engine's runner.

    Parameters
    ----------
    repository : StateRepository
        Where the runs are recorded (shared with the API's readers).
    max_workers : int
        Runs executed at once; further submissions wait in a queue.
    """

    def __init__(self, repository: StateRepository, *, max_workers: int = 1) -> None:
        self.repository = repository
        self._pool = ThreadPoolExecutor(max_workers, thread_name_prefix="contimg-api-run")
        self._lock = threading.Lock()
        self._active = 0
        self._closed = False

    @property
    def busy(self) -> bool:
        """Whether a submitted run is executing or waiting."""
        return self._active > 0

    def submit(
        self,
        workflow: Workflow,
        settings: Settings,
        *,
        inputs: Mapping[str, Any] | None = None,
        retry_of: int | None = None,
        timeout_s: float = 30.0,
    ) -> int:
        """Start a run of ``workflow`` (or a retry of run ``retry_of``) and return its id.

        Parameters
        ----------
        workflow : Workflow
            The workflow, built with ``settings``.
        settings : Settings
            The run's effective settings (server settings plus request overrides).
        inputs : Mapping, optional
            The workflow's inputs (ignored for a retry, which reuses the old run's).
        retry_of : int, optional
            Run id to run again from scratch.
        timeout_s : float
            How long to wait for the run to be created when the queue is busy.

        Returns
        -------
        int
            The new run's id.

        Raises
        ------
        contimg.pipeline.ContimgError
            The runner refused the run before creating it (inputs missing or
            unknown, run still running, ...).
        TimeoutError
            The run was not created within ``timeout_s`` (queue full); it will
            still run later.
        """
        if self._closed:
            raise RuntimeError("the run worker is closed")
        created: Future[int] = Future()

        def job() -> None:
            repo = _AnnouncingRepository(self.repository, created)
            try:
                with Runner(repo, settings) as runner:  # type: ignore[arg-type]
                    if retry_of is not None:
                        result = runner.retry(retry_of, workflow)
                    else:
                        result = runner.run(workflow, inputs or {}, trigger="api")
                _log.info("api.run_finished", run_id=result.run_id, status=result.status.value)
            except BaseException as exc:
                if not created.done():
                    created.set_exception(exc)
                else:
                    _log.error("api.run_crashed", error=repr(exc))
                if not isinstance(exc, Exception):
                    raise
            finally:
                with self._lock:
                    self._active -= 1

        with self._lock:
            self._active += 1
        self._pool.submit(job)
        return created.result(timeout=timeout_s)

    def close(self, *, wait: bool = True) -> None:
        """Stop taking runs; with ``wait``, let the queued and running ones finish."""
        self._closed = True
        self._pool.shutdown(wait=wait, cancel_futures=not wait)
