"""Dask executor: attempts as tasks on a ``distributed`` cluster.

With ``executor.address`` unset, a small in-process ``LocalCluster`` (threads,
no worker processes) is started on first use; otherwise the executor connects
to the scheduler at that address. ``distributed`` is imported only here.
"""

from __future__ import annotations

import threading
import uuid
from typing import Any

from contimg.pipeline.errors import ConfigurationError
from contimg.pipeline.executors._attempt import (
    AttemptCall,
    AttemptOutcome,
    crashed,
    execute_attempt,
    timed_out,
)
from contimg.state.records import StageStatus

__all__ = ["DaskExecutor"]


class DaskExecutor:
    """Submit each attempt to a Dask ``distributed`` client.

    Parameters
    ----------
    address : str, optional
        Scheduler address (``tcp://host:8786``); ``None`` starts a LocalCluster.
    threads : int
        Worker threads of the LocalCluster.
    """

    name = "dask"

    def __init__(self, address: str | None = None, threads: int = 2) -> None:
        self.address = address
        self.threads = threads
        self._client: Any = None
        self._cluster: Any = None
        self._lock = threading.Lock()

    @property
    def client(self) -> Any:
        """The ``distributed.Client`` (connected on first use)."""
        with self._lock:
            if self._client is None:
                try:
                    from distributed import Client, LocalCluster
                except ImportError as exc:  # pragma: no cover - a declared dependency
                    raise ConfigurationError(
                        "executor.kind = 'dask' needs the 'distributed' package: "
                        "pip install 'dask[distributed]'"
                    ) from exc
                if self.address:
                    try:
                        self._client = Client(self.address, timeout="10s")
                    except OSError as exc:
                        raise ConfigurationError(
                            f"executor.address = {self.address!r}: cannot reach the Dask "
                            f"scheduler ({exc})"
                        ) from exc
                else:
                    self._cluster = LocalCluster(
                        processes=False,
                        n_workers=1,
                        threads_per_worker=self.threads,
                        dashboard_address=None,
                    )
                    self._client = Client(self._cluster)
            return self._client

    def run(self, call: AttemptCall, timeout_s: float | None) -> AttemptOutcome:
        """Run one attempt on the cluster and return how it ended."""
        from distributed import KilledWorker

        key = f"contimg-{call.run_id}-{call.stage.name}-{call.attempt}-{uuid.uuid4().hex[:8]}"
        future = self.client.submit(execute_attempt, call, key=key, pure=False)
        try:
            return future.result(timeout=timeout_s)
        except TimeoutError:
            future.cancel()
            return timed_out(call.stage, timeout_s or 0.0)
        except KilledWorker as exc:
            return crashed(call.stage, None, f"Dask worker died: {exc}")
        except Exception as exc:  # the task could not even be run (serialization, cancel)
            return AttemptOutcome(
                StageStatus.FAILED,
                error_type=type(exc).__name__,
                error_message=f"Dask could not run the attempt: {exc}",
            )

    def close(self) -> None:
        """Close the client (and the LocalCluster it started)."""
        with self._lock:
            if self._client is not None:
                self._client.close()
            if self._cluster is not None:
                self._cluster.close()
            self._client = self._cluster = None
