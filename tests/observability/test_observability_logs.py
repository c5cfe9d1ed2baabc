"""Logs: JSON lines and console, the batched database sink, metrics."""

from __future__ import annotations

import io
import json
import time
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path

import pytest
import structlog

from contimg.config.settings import LoggingSettings, PathsSettings, Settings
from contimg.observability import (
    BatchedLogSink,
    attached_sink,
    configure_logging,
    metrics,
    reset_logging,
)
from contimg.pipeline import Runner, Stage, Workflow
from contimg.state import LogRecord, SqlStateRepository, open_repository


class CountingRepository:
    """The real in-memory store, counting append_logs calls (each is one transaction)."""

    def __init__(self, repo: SqlStateRepository) -> None:
        self.repo = repo
        self.batches: list[int] = []

    def append_logs(self, records: Sequence[LogRecord]) -> None:
        self.batches.append(len(records))
        self.repo.append_logs(records)

    def __getattr__(self, name: str) -> object:
        return getattr(self.repo, name)


@pytest.fixture
def repo() -> Iterator[SqlStateRepository]:
    repository = open_repository("sqlite:///:memory:")
    yield repository
    repository.close()


@pytest.fixture
def configured(tmp_path: Path) -> Iterator[tuple[Settings, io.StringIO]]:
    settings = Settings(
        paths=PathsSettings(workdir=tmp_path / "work"),
        logging=LoggingSettings(db_batch_size=10, db_flush_interval_s=0.2),
    )
    console = io.StringIO()
    configure_logging(settings, console=console)
    yield settings, console
    reset_logging()


def _record(i: int, run_id: int) -> LogRecord:
    return LogRecord(time=datetime.now(UTC), level="info", event=f"e{i}", run_id=run_id)


def test_sink_writes_in_batches_by_count(repo: SqlStateRepository) -> None:
    run = repo.create_run("w", trigger="test", inputs={})
    counting = CountingRepository(repo)
    sink = BatchedLogSink(counting, batch_size=25, flush_interval_s=60)  # type: ignore[arg-type]
    for i in range(60):
        sink.add(_record(i, run.id))
    assert counting.batches == [25, 25]
    sink.close()
    assert counting.batches == [25, 25, 10]
    assert [r.event for r in repo.list_logs(run.id)] == [f"e{i}" for i in range(60)]


def test_sink_flushes_by_time(repo: SqlStateRepository) -> None:
    run = repo.create_run("w", trigger="test", inputs={})
    counting = CountingRepository(repo)
    sink = BatchedLogSink(counting, batch_size=1000, flush_interval_s=0.1)  # type: ignore[arg-type]
    for i in range(3):
        sink.add(_record(i, run.id))
    deadline = time.monotonic() + 5
    while not counting.batches and time.monotonic() < deadline:
        time.sleep(0.02)
    assert counting.batches == [3]
    sink.close()
    assert counting.batches == [3]


def test_json_lines_console_and_sink(
    configured: tuple[Settings, io.StringIO], repo: SqlStateRepository
) -> None:
    settings, console = configured
    run = repo.create_run("w", trigger="test", inputs={})
    sink = BatchedLogSink(repo, run_id=run.id)
    log = structlog.get_logger("test")
    with attached_sink(sink), structlog.contextvars.bound_contextvars(run_id=run.id, stage="s"):
        log.info("thing.happened", size=3, path=Path("/x"))
        log.debug("thing.detail")  # below logging.level INFO: dropped everywhere
    log.info("unbound.event")
    sink.close()
    lines = (settings.paths.logs_dir / "contimg.jsonl").read_text().splitlines()
    first = json.loads(lines[0])
    assert (first["event"], first["run_id"], first["stage"], first["size"]) == (
        "thing.happened",
        run.id,
        "s",
        3,
    )
    assert first["level"] == "info"
    assert first["timestamp"].endswith("Z")
    assert len(lines) == 2
    assert "thing.happened" in console.getvalue()
    (stored,) = repo.list_logs(run.id)
    assert (stored.event, stored.stage, stored.fields) == (
        "thing.happened",
        "s",
        {"size": 3, "path": "/x"},
    )


def test_a_run_streams_its_events_to_the_store_in_batches(
    configured: tuple[Settings, io.StringIO], repo: SqlStateRepository
) -> None:
    settings, _console = configured
    counting = CountingRepository(repo)

    def noisy(n: int, log) -> int:
        for i in range(n):
            log.info("noisy.step", i=i)
        return n

    wf = Workflow(
        "logs",
        [Stage("noisy", noisy, produces="m"), Stage("quiet", lambda m: m, produces="q")],
        inputs={"n": int},
    )
    with Runner(counting, settings) as runner:  # type: ignore[arg-type]
        result = runner.run(wf, {"n": 35})
    logs = repo.list_logs(result.run_id)
    events = [r.event for r in logs]
    assert events[0] == "run.started"
    assert events[-1] == "run.completed"
    assert events.count("noisy.step") == 35
    assert {r.stage for r in logs if r.event == "noisy.step"} == {"noisy"}
    assert sum(counting.batches) == len(logs)
    assert max(counting.batches) <= 10
    assert len(counting.batches) < len(logs) / 3  # batches, not one commit per line


def test_metrics_count_runs_and_time_stages(repo: SqlStateRepository, tmp_path: Path) -> None:
    def value(name: str, **labels: str) -> float:
        return metrics.REGISTRY.get_sample_value(name, labels) or 0.0

    before = value("contimg_runs_total", workflow="metrics-wf", status="completed")
    settings = Settings(paths=PathsSettings(workdir=tmp_path))
    with Runner(repo, settings, log_to_db=False) as runner:
        runner.run(Workflow("metrics-wf", [Stage("one", lambda: 1, produces="x", cache=False)]))
    assert value("contimg_runs_total", workflow="metrics-wf", status="completed") == before + 1
    assert (
        value(
            "contimg_stage_duration_seconds_count",
            workflow="metrics-wf",
            stage="one",
            status="completed",
        )
        >= 1
    )
    assert value("contimg_runs_active", workflow="metrics-wf") == 0


def test_module_logger_events_of_a_process_stage_reach_the_store(
    configured: tuple[Settings, io.StringIO], repo: SqlStateRepository
) -> None:
    from tests.pipeline._engine_stages import logged_by_module

    settings, _console = configured
    wf = Workflow(
        "child-logs",
        [Stage("child", logged_by_module, produces="m", executor="process")],
        inputs={"n": int},
    )
    with Runner(repo, settings) as runner:
        result = runner.run(wf, {"n": 4})
    assert result.ok
    steps = [r for r in repo.list_logs(result.run_id) if r.event == "module.step"]
    assert [r.fields["i"] for r in steps] == [0, 1, 2, 3]
    assert {r.stage for r in steps} == {"child"}
