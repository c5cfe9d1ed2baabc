"""API fixtures: a work directory whose database was filled by real commands and runs.

``filled`` (session) first simulates two test-scale groups around the transit
of 0834+555 into ``incoming/`` and converts them with ``contimg convert`` (real
file index, groups and Measurement Sets), then runs the ``engine-demo`` workflow twice through the
Runner (one completes; one fails for real: ``count=0`` makes the summary stage
divide by zero, so the attempt carries a genuine traceback) with logging to the
database on. ``client`` is a FastAPI TestClient on an app over that database
with an API key configured. ``calibrated`` (session, needs CASA) solves a
calibration set on the transit group with ``contimg calibrate solve``.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from typer.testing import CliRunner

from contimg.api import create_app, hash_key
from contimg.cli.main import app as cli_app
from contimg.config.settings import ApiSettings, PathsSettings, Settings
from contimg.observability import configure_logging, reset_logging
from contimg.pipeline import Runner
from contimg.state import RunRecord, SqlStateRepository, open_repository
from contimg.workflows import get_workflow

with warnings.catch_warnings():
    # starlette asks for httpx2; its TestClient on httpx works unchanged.
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
    from fastapi.testclient import TestClient

API_KEY = "test-key-7f3a"


@dataclass(frozen=True)
class Filled:
    """A work directory and what the real runs left in its database."""

    settings: Settings
    ok_run: int
    failed_run: int
    group_ids: tuple[str, ...]


def settings_for(workdir: Path, *, key: str | None = API_KEY, **api: object) -> Settings:
    return Settings(paths=PathsSettings(workdir=workdir),
                    api=ApiSettings(api_key_sha256=hash_key(key) if key else None, **api))


@pytest.fixture(scope="session")
def filled(tmp_path_factory: pytest.TempPathFactory) -> Filled:
    settings = settings_for(tmp_path_factory.mktemp("api") / "work")
    settings.paths.ensure()
    work, incoming = str(settings.paths.workdir), str(settings.paths.incoming_dir)
    for args in (["simulate", incoming, "--groups", "2", "--scale", "test", "--seed", "5",
                  "--calibrator", "0834+555"],
                 ["convert", incoming, "--workdir", work, "--json"]):
        result = CliRunner().invoke(cli_app, args)
        reset_logging()
        assert result.exit_code == 0, (args, result.output)
    configure_logging(settings, console=False)
    try:
        with open_repository(settings.database_url) as repo, Runner(repo, settings) as runner:
            wf = get_workflow("engine-demo", settings)
            ok = runner.run(wf, {"seed": 7, "count": 400}, trigger="test")
            bad = runner.run(wf, {"seed": 8, "count": 0}, trigger="test")
            groups = tuple(g.group_id for g in repo.groups.list_groups())
    finally:
        reset_logging()
    assert ok.ok
    assert not bad.ok
    assert len(groups) == 2
    return Filled(settings=settings, ok_run=ok.run_id, failed_run=bad.run_id, group_ids=groups)


@pytest.fixture(scope="session")
def client(filled: Filled) -> Iterator[TestClient]:
    with TestClient(create_app(filled.settings)) as c:
        yield c


@pytest.fixture
def repo(filled: Filled) -> Iterator[SqlStateRepository]:
    with open_repository(filled.settings.database_url) as r:
        yield r


def wait_finished(repo: SqlStateRepository, run_id: int, timeout_s: float = 30.0) -> RunRecord:
    """Poll until the run has ended (the API worker runs it in the background)."""
    deadline = time.monotonic() + timeout_s
    while True:
        run = repo.get_run(run_id)
        assert run is not None
        if run.status.finished:
            return run
        if time.monotonic() > deadline:
            raise AssertionError(f"run {run_id} still {run.status} after {timeout_s} s")
        time.sleep(0.05)


@pytest.fixture(scope="session")
def calibrated(filled: Filled) -> str:
    """Solve and register a real calibration set on the transit group; return its set id."""
    work = str(filled.settings.paths.workdir)
    with open_repository(filled.settings.database_url) as repo:
        ms_paths = [str(m.path) for m in repo.ms.list_ms()]
    outputs = []
    for ms in ms_paths:
        result = CliRunner().invoke(cli_app, ["calibrate", "solve", ms, "--workdir", work])
        reset_logging()
        outputs.append(result.output)
        if result.exit_code == 0:
            break
    else:
        raise AssertionError(f"no MS could be calibrated: {outputs}")
    with open_repository(filled.settings.database_url) as repo:
        (cal_set,) = repo.calibration.list_sets()
    return cal_set.set_id
