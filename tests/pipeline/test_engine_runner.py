"""The runner's state machine, against the real SQLite state store."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from contimg.config.settings import Settings
from contimg.pipeline import (
    ConfigurationError,
    InputError,
    RetryPolicy,
    Runner,
    Stage,
    Workflow,
)
from contimg.state import RunStatus, SqlStateRepository, StageStatus, open_repository

from ._engine_stages import Stats, doubled, flaky_counter, numbers, stats, value_error


def _attempts(repo: SqlStateRepository, run_id: int, stage: str) -> list:
    return [a for a in repo.list_attempts(run_id) if a.stage == stage]


def test_transient_error_twice_then_success_records_three_attempts(
    runner: Runner, repo: SqlStateRepository, tmp_path: Path, events: list[dict]
) -> None:
    wf = Workflow(
        "flaky",
        [Stage("flaky", flaky_counter, produces="n", retry=RetryPolicy.fixed(3, 0.01))],
        inputs={"counter": Path},
    )
    result = runner.run(wf, {"counter": tmp_path / "counter"})
    assert result.status is RunStatus.COMPLETED
    assert result.outputs == {"n": 3}
    rows = _attempts(repo, result.run_id, "flaky")
    assert [(a.attempt, a.status) for a in rows] == [
        (1, StageStatus.FAILED),
        (2, StageStatus.FAILED),
        (3, StageStatus.COMPLETED),
    ]
    assert rows[0].error_type == "contimg.pipeline.errors.TransientError"
    assert "not yet" in rows[0].traceback
    assert all(a.run_key == rows[0].run_key and a.duration_s > 0 for a in rows)
    retries = [e for e in events if e["event"] == "stage.retry_scheduled"]
    assert [(e["stage"], e["run_id"], e["next_attempt"]) for e in retries] == [
        ("flaky", result.run_id, 2),
        ("flaky", result.run_id, 3),
    ]
    assert all(0.01 <= e["delay_s"] <= 0.01 for e in retries)


def test_type_error_is_never_retried(runner: Runner, repo: SqlStateRepository) -> None:
    def broken(x: int) -> int:
        return x + "1"  # type: ignore[operator]

    wf = Workflow(
        "typeerror",
        [
            Stage(
                "broken",
                broken,
                produces="y",
                retry=RetryPolicy.immediate(5, transient=(Exception,)),
            )
        ],
        inputs={"x": int},
    )
    result = runner.run(wf, {"x": 1})
    assert result.status is RunStatus.FAILED
    rows = _attempts(repo, result.run_id, "broken")
    assert [(a.attempt, a.status, a.error_type) for a in rows] == [
        (1, StageStatus.FAILED, "TypeError")
    ]
    assert result.stages["broken"].error.error_type == "TypeError"
    assert "stage 'broken' failed: TypeError" in repo.get_run(result.run_id).error


def test_precondition_failure_fails_without_retry(
    runner: Runner, repo: SqlStateRepository, events: list[dict]
) -> None:
    calls = []

    def work(count: int) -> int:
        calls.append(count)
        return count

    wf = Workflow(
        "pre",
        [
            Stage(
                "work",
                work,
                produces="y",
                retry=RetryPolicy.immediate(3, transient=(Exception,)),
                precondition=lambda count: None if count > 0 else "count is 0",
            )
        ],
        inputs={"count": int},
    )
    result = runner.run(wf, {"count": 0})
    assert calls == []
    assert result.status is RunStatus.FAILED
    (row,) = _attempts(repo, result.run_id, "work")
    assert (row.status, row.error_type, row.error_message) == (
        StageStatus.FAILED,
        "PreconditionFailed",
        "count is 0",
    )
    failed = [e for e in events if e["event"] == "stage.failed"]
    assert failed[0]["stage"] == "work"
    assert failed[0]["error_type"] == "PreconditionFailed"
    assert runner.run(wf, {"count": 2}).outputs == {"y": 2}


def test_non_critical_failure_skips_dependants_and_the_run_goes_on(
    runner: Runner, repo: SqlStateRepository, tmp_path: Path
) -> None:
    wf = Workflow(
        "noncritical",
        [
            Stage("numbers", numbers, produces="numbers"),
            Stage("qa", value_error, produces="qa", critical=False),
            Stage("after_qa", lambda qa: qa, produces="published"),
            Stage("stats", stats, produces="stats"),
            Stage("doubled", doubled, produces="twice"),
        ],
        inputs={"count": int, "outdir": str},
    )
    result = runner.run(wf, {"count": 4, "outdir": str(tmp_path)})
    assert result.status is RunStatus.COMPLETED
    status = {n: s.status for n, s in result.stages.items()}
    assert status == {
        "numbers": StageStatus.COMPLETED,
        "qa": StageStatus.FAILED,
        "after_qa": StageStatus.SKIPPED,
        "stats": StageStatus.COMPLETED,
        "doubled": StageStatus.COMPLETED,
    }
    assert result.stages["after_qa"].skip_reason == "upstream stage 'qa' failed"
    assert result.outputs["twice"] == 28.0
    assert result.outputs["stats"] == Stats(mean=3.5, total=14.0)
    (skipped,) = _attempts(repo, result.run_id, "after_qa")
    assert (skipped.attempt, skipped.skip_reason) == (0, "upstream stage 'qa' failed")


def test_critical_failure_stops_the_run(runner: Runner, events: list[dict]) -> None:
    gate = threading.Event()

    def slow(count: int) -> int:
        gate.wait(5)
        return count

    wf = Workflow(
        "critical",
        [
            Stage("bad", value_error, produces="a"),
            Stage("slow", slow, produces="b"),
            Stage("later", lambda b: b, produces="c"),
        ],
        inputs={"count": int},
    )
    threading.Timer(0.2, gate.set).start()
    result = runner.run(wf, {"count": 1})
    assert result.status is RunStatus.FAILED
    assert result.stages["slow"].status is StageStatus.COMPLETED  # already running: finishes
    assert result.stages["later"].status is StageStatus.SKIPPED
    assert result.stages["later"].skip_reason == "run stopped: stage 'bad' failed"
    with pytest.raises(Exception, match="bad count 1"):
        result.raise_for_status()
    ours = [e for e in events if e.get("run_id") == result.run_id]
    failed = [e for e in ours if e["event"] == "stage.failed"]
    assert [(e["stage"], e["error_type"], e["critical"]) for e in failed] == [
        ("bad", "ValueError", True)
    ]
    assert ours[-1]["event"] == "run.failed"
    assert ours[-1]["error"] == "stage 'bad' failed: ValueError: bad count 1"


def test_inline_timeout_is_recorded_timed_out(runner: Runner, repo: SqlStateRepository) -> None:
    stop = threading.Event()
    wf = Workflow("timeout", [Stage("hang", lambda: stop.wait(10), produces="x", timeout_s=0.2)])
    t0 = time.monotonic()
    result = runner.run(wf)
    stop.set()
    assert time.monotonic() - t0 < 5
    assert result.stages["hang"].status is StageStatus.TIMED_OUT
    (row,) = _attempts(repo, result.run_id, "hang")
    assert (row.status, row.error_type) == (StageStatus.TIMED_OUT, "StageTimeout")
    assert result.status is RunStatus.FAILED


def test_independent_stages_overlap(runner: Runner, repo: SqlStateRepository) -> None:
    barrier = threading.Barrier(3, timeout=30)  # only passes if three run at the same time

    def meet(i: int) -> int:
        barrier.wait()
        return i

    wf = Workflow(
        "parallel",
        [Stage(f"s{i}", meet, needs=("i",), produces=f"v{i}") for i in range(3)],
        inputs={"i": int},
    )
    result = runner.run(wf, {"i": 7})
    assert result.status is RunStatus.COMPLETED
    rows = repo.list_attempts(result.run_id)
    latest_start = max(r.started_at for r in rows)
    assert all(r.ended_at >= latest_start for r in rows)


def test_parallelism_is_limited_by_cpus_slots(repo: SqlStateRepository, settings: Settings) -> None:
    active, peak, lock = [0], [0], threading.Lock()

    def busy(i: int) -> int:
        with lock:
            active[0] += 1
            peak[0] = max(peak[0], active[0])
        time.sleep(0.05)
        with lock:
            active[0] -= 1
        return i

    from contimg.pipeline import Resources

    wf = Workflow(
        "slots",
        [
            Stage(f"s{i}", busy, needs=("i",), produces=f"v{i}", resources=Resources(cpus=2))
            for i in range(4)
        ],
        inputs={"i": int},
    )
    with Runner(repo, settings, max_parallel=4) as runner:
        assert runner.run(wf, {"i": 1}).ok
    assert peak[0] == 2


def test_resources_are_injected_and_released(
    runner: Runner, settings: Settings, events: list[dict]
) -> None:
    seen = {}

    def use(x: int, config, scratch: Path, log) -> int:
        seen["scratch"] = scratch
        seen["exists"] = scratch.is_dir()
        seen["niter"] = config.niter
        log.info("use.working", x=x)
        raise ValueError("boom")

    wf = Workflow("inject", [Stage("use", use, produces="y", config="imaging")], inputs={"x": int})
    result = runner.run(wf, {"x": 3})
    assert result.status is RunStatus.FAILED
    assert seen["exists"]
    assert seen["niter"] == settings.imaging.niter
    assert not seen["scratch"].exists()
    assert not seen["scratch"].parent.exists()  # the run's scratch directory is gone too
    working = [e for e in events if e["event"] == "use.working"]
    assert working[0]["stage"] == "use"
    assert working[0]["run_id"] == result.run_id


def test_lifecycle_events_carry_run_and_stage(
    runner: Runner, events: list[dict], tmp_path: Path
) -> None:
    wf = Workflow(
        "events",
        [Stage("numbers", numbers, produces="numbers"), Stage("stats", stats, produces="stats")],
        inputs={"count": int, "outdir": str},
    )
    result = runner.run(wf, {"count": 3, "outdir": str(tmp_path)})
    names = [(e["event"], e.get("stage")) for e in events if e.get("run_id") == result.run_id]
    assert names == [
        ("run.started", None),
        ("stage.started", "numbers"),
        ("stage.completed", "numbers"),
        ("stage.started", "stats"),
        ("stage.completed", "stats"),
        ("run.completed", None),
    ]


def test_attempt_metrics_are_recorded(
    runner: Runner, repo: SqlStateRepository, tmp_path: Path
) -> None:
    wf = Workflow(
        "metrics",
        [Stage("numbers", numbers, produces="numbers"), Stage("stats", stats, produces="stats")],
        inputs={"count": int, "outdir": str},
    )
    result = runner.run(wf, {"count": 100, "outdir": str(tmp_path)})
    made, used = repo.list_attempts(result.run_id)
    size = (tmp_path / "numbers-100.txt").stat().st_size
    assert made.output_bytes == size
    assert used.input_bytes == size
    assert made.outputs == {"numbers": str(tmp_path / "numbers-100.txt")}
    assert used.outputs == {"stats": {"mean": 3283.5, "total": 328350.0}}
    for row in (made, used):
        assert row.cpu_s >= 0
        assert row.peak_rss_bytes > 10_000_000
        assert row.started_at <= row.ended_at
        assert row.executor == "inline"
        assert len(row.run_key) == 64


def test_new_run_on_same_inputs_reuses_cached_results(
    runner: Runner, repo: SqlStateRepository, tmp_path: Path
) -> None:
    wf = Workflow(
        "cache",
        [Stage("numbers", numbers, produces="numbers"), Stage("stats", stats, produces="stats")],
        inputs={"count": int, "outdir": str},
    )
    first = runner.run(wf, {"count": 5, "outdir": str(tmp_path)})
    second = runner.run(wf, {"count": 5, "outdir": str(tmp_path)})
    assert {n: s.skip_reason for n, s in second.stages.items()} == {
        "numbers": f"cached: run {first.run_id}",
        "stats": f"cached: run {first.run_id}",
    }
    assert second.outputs == first.outputs  # typed values rebuilt: Path and Stats
    assert isinstance(second.outputs["numbers"], Path)
    # different input: nothing reused
    third = runner.run(wf, {"count": 6, "outdir": str(tmp_path)})
    assert {s.status for s in third.stages.values()} == {StageStatus.COMPLETED}
    # an output path that vanished is not reused; its changed file changes stats' key too
    (tmp_path / "numbers-5.txt").unlink()
    fourth = runner.run(wf, {"count": 5, "outdir": str(tmp_path)})
    assert fourth.stages["numbers"].status is StageStatus.COMPLETED
    assert fourth.stages["stats"].skip_reason == f"cached: run {first.run_id}"
    # a workflow input that is a path is versioned by its size and mtime
    source = tmp_path / "source.txt"
    source.write_text("1\n2\n")
    direct = Workflow(
        "cache-input", [Stage("stats", stats, produces="stats")], inputs={"numbers": Path}
    )
    assert runner.run(direct, {"numbers": source}).outputs["stats"] == Stats(1.5, 3.0)
    assert runner.run(direct, {"numbers": source}).stages["stats"].status is StageStatus.SKIPPED
    source.write_text("1\n2\n3\n")
    assert runner.run(direct, {"numbers": source}).outputs["stats"] == Stats(2.0, 6.0)
    assert runner.retry(first.run_id, wf).stages["stats"].status is StageStatus.COMPLETED


def test_resume_reruns_only_what_did_not_complete(tmp_path: Path, settings: Settings) -> None:
    flag = tmp_path / "allow"

    def gate(stats: Stats) -> float:
        if not flag.exists():
            raise RuntimeError("not allowed yet")
        return stats.mean

    def build() -> Workflow:
        return Workflow(
            "resumable",
            [
                Stage("numbers", numbers, produces="numbers", cache=False),
                Stage("stats", stats, produces="stats", cache=False),
                Stage("gate", gate, produces="gated"),
                Stage("final", lambda gated: gated + 1, produces="final"),
            ],
            inputs={"count": int, "outdir": str},
        )

    url = f"sqlite:///{tmp_path / 'state.sqlite3'}"
    with open_repository(url) as repo, Runner(repo, settings) as runner:
        failed = runner.run(build(), {"count": 3, "outdir": str(tmp_path)})
    assert failed.status is RunStatus.FAILED
    assert failed.stages["final"].skip_reason == "upstream stage 'gate' failed"
    flag.touch()
    with open_repository(url) as repo, Runner(repo, settings) as runner:  # a new process
        resumed = runner.resume(failed.run_id, build())
        assert repo.get_run(resumed.run_id).resumed_from == failed.run_id
        ran = {a.stage for a in repo.list_attempts(resumed.run_id) if a.attempt > 0}
    assert resumed.status is RunStatus.COMPLETED
    assert ran == {"gate", "final"}
    assert resumed.stages["numbers"].skip_reason == f"resumed: run {failed.run_id}"
    assert resumed.outputs["final"] == pytest.approx(5 / 3 + 1)


def test_resume_rebuilds_the_workflow_from_the_registry(
    repo: SqlStateRepository, settings: Settings
) -> None:
    def build(_settings: Settings) -> Workflow:
        return Workflow(
            "registered", [Stage("bad", value_error, produces="x")], inputs={"count": int}
        )

    with Runner(repo, settings, workflows={"registered": build}) as runner:
        first = runner.run(build(settings), {"count": 2})
        again = runner.resume(first.run_id)
        assert repo.get_run(again.run_id).resumed_from == first.run_id
        assert again.stages["bad"].error.message == "bad count 2"
        with pytest.raises(ConfigurationError, match="no such workflow is registered"):
            Runner(repo, settings).resume(first.run_id)
        with pytest.raises(ConfigurationError, match="run 99 does not exist"):
            runner.resume(99)


def test_one_runner_serves_concurrent_runs(runner: Runner, repo: SqlStateRepository) -> None:
    barrier = threading.Barrier(2, timeout=30)  # each run's stage waits for the other's

    def meet(tag: str) -> str:
        barrier.wait()
        return tag.upper()

    wf = Workflow(
        "concurrent", [Stage("meet", meet, produces="upper", cache=False)], inputs={"tag": str}
    )
    results: dict[str, object] = {}

    def start(tag: str) -> None:
        results[tag] = runner.run(wf, {"tag": tag})

    threads = [threading.Thread(target=start, args=(t,)) for t in ("a", "b")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert {t: r.outputs["upper"] for t, r in results.items()} == {"a": "A", "b": "B"}
    ids = {r.run_id for r in results.values()}
    assert len(ids) == 2
    for run_id in ids:
        assert [a.stage for a in repo.list_attempts(run_id)] == ["meet"]


def test_inputs_are_checked_against_their_declared_types(
    runner: Runner, repo: SqlStateRepository
) -> None:
    wf = Workflow(
        "typed", [Stage("twice", lambda count: count * 2, produces="y")], inputs={"count": int}
    )
    assert runner.run(wf, {"count": "21"}).outputs == {"y": 42}
    with pytest.raises(InputError, match=r"input 'count' = 'abc' is not a valid int"):
        runner.run(wf, {"count": "abc"})
    with pytest.raises(InputError, match=r"missing \['count'\], unknown \['cnt'\]"):
        runner.run(wf, {"cnt": 1})
    assert len(repo.list_runs()) == 1  # refused runs are never created


def test_declared_memory_keeps_hungry_stages_apart(
    repo: SqlStateRepository, settings: Settings
) -> None:
    from contimg.pipeline import Resources

    active, peak, lock = [0], [0], threading.Lock()

    def hungry(i: int) -> int:
        with lock:
            active[0] += 1
            peak[0] = max(peak[0], active[0])
        time.sleep(0.05)
        with lock:
            active[0] -= 1
        return i

    wf = Workflow(
        "memory",
        [
            Stage(
                f"s{i}", hungry, needs=("i",), produces=f"v{i}", resources=Resources(memory_mb=600)
            )
            for i in range(3)
        ]
        + [Stage("huge", hungry, needs=("i",), produces="h", resources=Resources(memory_mb=5000))],
        inputs={"i": int},
    )
    with Runner(repo, settings, max_parallel=4, memory_budget_mb=1000) as runner:
        result = runner.run(wf, {"i": 1})
    assert result.ok
    assert peak[0] == 1  # 600 + 600 > 1000; 5000 > 1000 runs alone
