"""Executors run one stage attempt each; all bookkeeping stays in the runner.

Backends are registered in :data:`EXECUTORS`; ``executor.kind`` in the settings
picks the default and a stage's ``executor`` overrides it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from contimg.config.settings import ExecutorSettings
from contimg.pipeline.executors._attempt import (
    AttemptCall,
    AttemptOutcome,
    execute_attempt,
)
from contimg.pipeline.executors.dask import DaskExecutor
from contimg.pipeline.executors.inline import InlineExecutor
from contimg.pipeline.executors.process import ProcessExecutor

__all__ = [
    "EXECUTORS",
    "AttemptCall",
    "AttemptOutcome",
    "DaskExecutor",
    "Executor",
    "InlineExecutor",
    "ProcessExecutor",
    "execute_attempt",
    "make_executor",
]


class Executor(Protocol):
    """Runs one attempt; returns how it ended (never raises for the stage's errors)."""

    name: str

    def run(self, call: AttemptCall, timeout_s: float | None) -> AttemptOutcome:
        """Run the attempt, enforcing ``timeout_s`` as well as the backend can."""
        ...

    def close(self) -> None:
        """Release what the executor holds (clients, children)."""
        ...


#: kind -> factory(executor settings).
EXECUTORS: dict[str, Callable[[ExecutorSettings], Executor]] = {
    "inline": lambda _settings: InlineExecutor(),
    "process": lambda s: ProcessExecutor(preload=s.preload),
    "dask": lambda s: DaskExecutor(s.address, threads=s.max_parallel),
}


def make_executor(kind: str, settings: ExecutorSettings) -> Executor:
    """Build the executor registered as ``kind``."""
    from contimg.pipeline.errors import ConfigurationError

    try:
        factory = EXECUTORS[kind]
    except KeyError:
        raise ConfigurationError(
            f"executor.kind = {kind!r}: not one of {sorted(EXECUTORS)}"
        ) from None
    return factory(settings)
