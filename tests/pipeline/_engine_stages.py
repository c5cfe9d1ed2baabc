"""Stage functions shared by the engine tests.

They live in an importable module (not in test files) so that the process and
Dask executors can unpickle them by reference in a child process.
"""

from __future__ import annotations

import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path

import structlog

from contimg.pipeline import TransientError


@dataclass(frozen=True)
class Stats:
    mean: float
    total: float


def numbers(count: int, outdir: str) -> Path:
    """Write ``count`` squares to a file in ``outdir`` (a location, so a ``str``: a ``Path``
    input is versioned by its content, and this directory's content changes as we write)."""
    path = Path(outdir) / f"numbers-{count}.txt"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(str(i * i) for i in range(count)) + "\n")
    return path


def stats(numbers: Path) -> Stats:
    values = [float(v) for v in numbers.read_text().split()]
    return Stats(mean=sum(values) / len(values), total=sum(values))


def doubled(stats: Stats) -> float:
    return 2 * stats.total


def sigkill_self() -> int:
    os.kill(os.getpid(), signal.SIGKILL)
    time.sleep(10)
    return 0


def sleep_for(seconds: float) -> float:
    time.sleep(seconds)
    return seconds


def value_error(count: int) -> int:
    raise ValueError(f"bad count {count}")


def flaky_counter(counter: Path) -> int:
    """Fail transiently until called a third time (state kept in a file: works across processes)."""
    n = int(counter.read_text()) + 1 if counter.exists() else 1
    counter.write_text(str(n))
    if n < 3:
        raise TransientError(f"call {n}: not yet")
    return n


_module_log = structlog.get_logger("tests.engine_stages")


def logged_by_module(n: int) -> int:
    """Log through a module logger (as science code does), not the injected ``log``."""
    for i in range(n):
        _module_log.info("module.step", i=i)
    return n
