"""Per-stage overhead of the engine, with every state change persisted to SQLite (WAL).

Two shapes of no-op stages run through :class:`contimg.pipeline.Runner` on a
SQLite file (runs, two attempt writes per stage, batched log records, JSON log
file): a 100-stage chain and a 200-stage fan (one source, 199 independent
stages). The same work as plain function calls in this process is the baseline.
Each shape is repeated; every repeat uses new inputs, so no stage is served from
the cache (but every cache lookup is paid). Prints medians and ratios; the last
line is ``engine_overhead_ms_per_stage=<value>``: the larger of the two shapes'
median per-stage overheads (issue 2 target: <= 0.5 ms).
"""

from __future__ import annotations

import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from contimg.config.settings import ExecutorSettings, PathsSettings, Settings
from contimg.observability import configure_logging, reset_logging
from contimg.pipeline import Runner, Stage, Workflow
from contimg.state import StageStatus, open_repository

REPEATS = 7


def noop(**values: int) -> int:
    """Return the sum of the inputs (no work)."""
    return sum(values.values())


def chain(n: int) -> Workflow:
    stages = [Stage("s0", noop, needs=("x",), produces="v0")]
    stages += [Stage(f"s{i}", noop, needs=(f"v{i - 1}",), produces=f"v{i}") for i in range(1, n)]
    return Workflow(f"chain{n}", stages, inputs={"x": int})


def fan(n: int) -> Workflow:
    stages = [Stage("source", noop, needs=("x",), produces="v0")]
    stages += [Stage(f"f{i}", noop, needs=("v0",), produces=f"f{i}") for i in range(1, n)]
    return Workflow(f"fan{n}", stages, inputs={"x": int})


def plain(wf: Workflow, x: int) -> float:
    """Time the same calls without the engine."""
    t0 = time.perf_counter()
    values: dict[str, Any] = {"x": x}
    for name in wf.order:
        stage = wf.stage(name)
        values[stage.products[0]] = stage.fn(**{n: values[n] for n in stage.inputs})
    return time.perf_counter() - t0


def measure(label: str, wf: Workflow, runner: Runner, seed: Callable[[], int]) -> float:
    n = len(wf.stages)
    engine, cpu, baseline = [], [], []
    for _ in range(REPEATS):
        x = seed()
        baseline.append(plain(wf, x))
        t0, c0 = time.perf_counter(), time.process_time()
        result = runner.run(wf, {"x": x})
        engine.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
        assert result.ok
        assert all(s.status is StageStatus.COMPLETED for s in result.stages.values())
    eng, base = statistics.median(engine), statistics.median(baseline)
    per_stage_ms = (eng - base) / n * 1e3
    print(
        f"{label}: {n} stages, median run {eng * 1e3:.1f} ms through the runner, "
        f"{base * 1e6:.1f} us as plain calls (ratio {eng / base:,.0f}x); "
        f"overhead {per_stage_ms:.3f} ms per stage wall-clock, "
        f"{statistics.median(cpu) / n * 1e3:.3f} ms per stage CPU (all threads)"
    )
    return per_stage_ms


def main() -> None:
    counter = iter(range(1, 1_000_000))
    with tempfile.TemporaryDirectory(prefix="contimg-bench-") as tmp:
        settings = Settings(
            paths=PathsSettings(workdir=Path(tmp)),
            executor=ExecutorSettings(kind="inline", max_parallel=2),
        )
        settings.paths.ensure()
        configure_logging(settings, console=False)  # JSON lines file + database sink
        try:
            with open_repository(settings.database_url) as repo, Runner(repo, settings) as runner:
                runner.run(chain(5), {"x": 0})  # warm-up: imports, adapters, statements
                results = [
                    measure("chain", chain(100), runner, lambda: next(counter)),
                    measure("fan", fan(200), runner, lambda: next(counter)),
                ]
                attempts = sum(len(repo.list_attempts(r.id)) for r in repo.list_runs(limit=100))
                logs = sum(
                    len(repo.list_logs(r.id, limit=100_000)) for r in repo.list_runs(limit=100)
                )
        finally:
            reset_logging()
        print(
            f"persisted: {attempts} attempt rows, {logs} log records "
            f"(SQLite WAL file {settings.database_url.removeprefix('sqlite:///')})"
        )
    print(f"engine_overhead_ms_per_stage={max(results):.3f}")


if __name__ == "__main__":
    main()
