from __future__ import annotations

import functools
import os
from pathlib import Path

import pytest

from contimg.config.settings import ExecutorSettings, Settings
from contimg.pipeline import DefinitionError, Runner, Stage, Workflow
from contimg.state import SqlStateRepository
from contimg.state.records import RunStatus


def workflow_count(repository: SqlStateRepository) -> int:
    return len(repository.list_runs(limit=1000))


def pid_of_child() -> int:
    return os.getpid()


def pid_of_counter(child_pid: int, repository: SqlStateRepository) -> int:
    del child_pid
    return os.getpid()


def test_repository_is_injected_and_sees_the_run(runner: Runner) -> None:
    wf = Workflow("repo", [Stage("count", workflow_count, produces="n_runs")])
    result = runner.run(wf, {})
    assert result.status is RunStatus.COMPLETED
    assert result.outputs["n_runs"] == 1  # the run itself is already recorded


def test_stage_with_the_repository_refuses_another_executor() -> None:
    with pytest.raises(DefinitionError, match="runs inline"):
        Stage("count", workflow_count, produces="n_runs", executor="process")


def test_repository_stage_runs_inline_when_the_default_is_process(
    repo: SqlStateRepository, settings: Settings
) -> None:
    process_settings = settings.model_copy(update={"executor": ExecutorSettings(kind="process")})
    wf = Workflow(
        "mixed",
        [
            Stage("child", pid_of_child, produces="child_pid"),
            Stage("counter", pid_of_counter, produces="counter_pid"),
        ],
    )
    with Runner(repo, process_settings) as runner:
        result = runner.run(wf, {})
    assert result.status is RunStatus.COMPLETED
    assert result.outputs["child_pid"] != os.getpid()
    assert result.outputs["counter_pid"] == os.getpid()
    executors = {a.stage: a.executor for a in repo.list_attempts(result.run_id)}
    assert executors == {"child": "process", "counter": "inline"}


def scaled(value: float, *, factor: float) -> Path:
    return Path(f"/data/{value * factor}")


def test_partial_stage_keeps_its_product_type(runner: Runner) -> None:
    stage = Stage("scaled", functools.partial(scaled, factor=2.0), produces="path")
    assert stage.needs == ("value",)
    assert stage.product_types == {"path": Path}
    wf = Workflow("partial", [stage], inputs={"value": float})
    first = runner.run(wf, {"value": 1.5})
    resumed = runner.resume(first.run_id, wf)
    assert resumed.outputs["path"] == Path("/data/3.0")


def own_run(run_id: int) -> int:
    return run_id


def test_run_id_is_injected(runner: Runner) -> None:
    result = runner.run(Workflow("ids", [Stage("own", own_run, produces="seen", cache=False)]))
    assert result.outputs["seen"] == result.run_id
