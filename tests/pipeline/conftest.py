"""Engine fixtures: a migrated in-memory store, settings in a temporary work directory."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import structlog

from contimg.config.settings import ExecutorSettings, PathsSettings, Settings
from contimg.pipeline import Runner
from contimg.state import SqlStateRepository, open_repository


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(
        paths=PathsSettings(workdir=tmp_path / "work"), executor=ExecutorSettings(max_parallel=4)
    )


@pytest.fixture
def repo() -> Iterator[SqlStateRepository]:
    repository = open_repository("sqlite:///:memory:")
    yield repository
    repository.close()


@pytest.fixture
def runner(repo: SqlStateRepository, settings: Settings) -> Iterator[Runner]:
    with Runner(repo, settings) as r:
        yield r


@pytest.fixture
def events() -> Iterator[list[dict]]:
    """Structured events emitted during the test, with their bound context variables."""
    with structlog.testing.capture_logs(
        processors=[structlog.contextvars.merge_contextvars]
    ) as captured:
        yield captured
