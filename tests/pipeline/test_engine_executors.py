"""The three executors: same results, and what isolation buys (crashes, timeouts)."""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from contimg.config.settings import ExecutorSettings, PathsSettings, Settings
from contimg.pipeline import RetryPolicy, Runner, Stage, Workflow
from contimg.state import RunStatus, SqlStateRepository, StageStatus
from contimg.workflows import get_workflow

from ._engine_stages import flaky_counter, sigkill_self, sleep_for, value_error


@pytest.fixture(scope="module")
def shared_runners(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    """One runner per executor kind for the module (a Dask LocalCluster starts once)."""
    from contimg.state import open_repository

    workdir = tmp_path_factory.mktemp("executors")
    repo = open_repository(f"sqlite:///{workdir / 'state.sqlite3'}")
    runners = {}
    for kind in ("inline", "process", "dask"):
        settings = Settings(
            paths=PathsSettings(workdir=workdir / kind),
            executor=ExecutorSettings(kind=kind, max_parallel=2),
        )
        runners[kind] = Runner(repo, settings)
    yield {"repo": repo, **runners}
    for kind in ("inline", "process", "dask"):
        runners[kind].close()
    repo.close()


@pytest.mark.parametrize("kind", ["inline", "process", "dask"])
def test_executors_give_identical_results(shared_runners: dict, kind: str) -> None:
    runner: Runner = shared_runners[kind]
    repo: SqlStateRepository = shared_runners["repo"]
    wf = get_workflow("engine-demo", runner.settings)
    result = runner.run(wf, {"seed": 11, "count": 500})
    assert result.status is RunStatus.COMPLETED
    rows = repo.list_attempts(result.run_id)
    assert {r.executor for r in rows} == {kind}
    assert all(r.status is StageStatus.COMPLETED and r.peak_rss_bytes > 0 for r in rows)
    summary = result.outputs["summary"]
    assert summary.n == 500
    assert abs(summary.mean) < 3 / 500**0.5  # N(0, 1) samples
    assert abs(summary.std - 1) < 0.1
    report = result.outputs["report"].read_text()
    workdir = runner.settings.paths.workdir
    shared_runners.setdefault("reports", {})[kind] = (
        summary,
        result.outputs["histogram"].read_text(),
        report,
        {p: str(v).replace(str(workdir), "<workdir>") for p, v in result.outputs.items()},
    )
    reports = shared_runners["reports"]
    first = next(iter(reports.values()))
    assert reports[kind] == first  # same numbers, same files, whatever ran them


@pytest.mark.parametrize("kind", ["process", "dask"])
def test_stage_errors_come_back_with_their_traceback(shared_runners: dict, kind: str) -> None:
    runner: Runner = shared_runners[kind]
    wf = Workflow("errors", [Stage("bad", value_error, produces="x")], inputs={"count": int})
    result = runner.run(wf, {"count": 3})
    (row,) = shared_runners["repo"].list_attempts(result.run_id)
    assert (row.status, row.error_type, row.error_message) == (
        StageStatus.FAILED,
        "ValueError",
        "bad count 3",
    )
    assert "_engine_stages.py" in row.traceback
    assert 'raise ValueError(f"bad count {count}")' in row.traceback


def test_transient_retries_work_across_processes(shared_runners: dict, tmp_path: Path) -> None:
    wf = Workflow(
        "flaky",
        [Stage("flaky", flaky_counter, produces="n", retry=RetryPolicy.immediate(3))],
        inputs={"counter": Path},
    )
    result = shared_runners["process"].run(wf, {"counter": tmp_path / "n"})
    assert result.outputs == {"n": 3}
    assert result.stages["flaky"].attempts == 3


def test_sigkill_of_a_process_child_is_recorded_crashed(shared_runners: dict) -> None:
    wf = Workflow("killed", [Stage("victim", sigkill_self, produces="x")])
    result = shared_runners["process"].run(wf)
    assert result.status is RunStatus.FAILED
    (row,) = shared_runners["repo"].list_attempts(result.run_id)
    assert row.status is StageStatus.CRASHED
    assert row.error_type == "StageCrashed"
    assert row.error_message == f"killed by signal {signal.SIGKILL.value} (SIGKILL)"
    assert result.stages["victim"].error.signal == signal.SIGKILL


def test_process_timeout_terminates_the_child(shared_runners: dict) -> None:
    wf = Workflow(
        "slow", [Stage("slow", sleep_for, produces="x", timeout_s=0.5)], inputs={"seconds": float}
    )
    t0 = time.monotonic()
    result = shared_runners["process"].run(wf, {"seconds": 30.0})
    assert time.monotonic() - t0 < 10
    (row,) = shared_runners["repo"].list_attempts(result.run_id)
    assert (row.status, row.error_type) == (StageStatus.TIMED_OUT, "StageTimeout")


def test_stage_preference_overrides_the_default(shared_runners: dict) -> None:
    wf = Workflow(
        "hybrid",
        [
            Stage("isolated", sleep_for, produces="x", executor="process"),
            Stage("plain", lambda x: x * 2, produces="y"),
        ],
        inputs={"seconds": float},
    )
    result = shared_runners["inline"].run(wf, {"seconds": 0.0})
    executors = {r.stage: r.executor for r in shared_runners["repo"].list_attempts(result.run_id)}
    assert executors == {"isolated": "process", "plain": "inline"}


def test_background_stages_run_at_a_lower_cpu_priority(shared_runners: dict) -> None:
    import os

    from contimg.pipeline import Resources

    own = os.nice(0)
    wf = Workflow(
        "background",
        [
            Stage("niced", lambda: os.nice(0), produces="niced", resources=Resources(nice=7)),
            Stage("plain", lambda: os.nice(0), produces="plain"),
        ],
    )
    result = shared_runners["process"].run(wf, {})
    assert result.outputs == {"niced": min(own + 7, 19), "plain": own}
    with pytest.raises(ValueError, match=r"Resources\.nice"):
        Resources(nice=20)


def test_process_executor_runs_closures_by_value(shared_runners: dict) -> None:
    factor = 7  # a closure: plain pickle refuses it, cloudpickle sends it by value
    wf = Workflow(
        "closure",
        [Stage("scale", lambda x: x * factor, produces="y", executor="process")],
        inputs={"x": int},
    )
    result = shared_runners["inline"].run(wf, {"x": 6})
    assert result.outputs == {"y": 42}


_PRELOAD_PROBE = """
import sys
from pathlib import Path
from contimg.config.settings import ExecutorSettings, PathsSettings, Settings
from contimg.pipeline import Runner, Stage, Workflow
from contimg.state import open_repository

workdir = Path(sys.argv[1])
preload = tuple(sys.argv[2:])
repo = open_repository(f"sqlite:///{workdir / 'state.sqlite3'}")
settings = Settings(
    paths=PathsSettings(workdir=workdir), executor=ExecutorSettings(preload=preload)
)
wf = Workflow(
    "probe",
    [Stage("loaded", lambda: "xml.dom.minidom" in sys.modules, produces="y", executor="process")],
)
with Runner(repo, settings) as runner:
    print(runner.run(wf, {}).outputs["y"])
"""


@pytest.mark.parametrize(
    ("preload", "loaded"),
    [((), "False"), (("xml.dom.minidom", "no_such_module_here"), "True")],
)
def test_process_children_start_with_the_preloaded_modules(
    tmp_path: Path, preload: tuple[str, ...], loaded: str
) -> None:
    # The fork server is one per process, so each case runs in an interpreter of its own; a
    # module that cannot be imported is skipped, not fatal.
    import subprocess
    import sys

    out = subprocess.run(
        [sys.executable, "-c", _PRELOAD_PROBE, str(tmp_path), *preload],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    assert out.stdout.strip().splitlines()[-1] == loaded
