"""``contimg watch``: usage errors and a one-pass run over an empty work directory."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from contimg.cli.main import app
from contimg.observability import reset_logging
from contimg.state import open_repository


@pytest.fixture(autouse=True)
def _close_log_file() -> Iterator[None]:
    yield
    reset_logging()


def test_once_and_until_idle_exclude_each_other(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app, ["watch", "--workdir", str(tmp_path), "--once", "--until-idle"]
    )
    assert result.exit_code == 2
    assert "exclude" in result.output


def test_once_on_an_empty_incoming_directory_registers_and_stops(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app, ["watch", "--workdir", str(tmp_path / "w"), "--once", "--no-display"]
    )
    assert result.exit_code == 0, result.output
    assert (tmp_path / "w" / "incoming").is_dir()
    with open_repository(f"sqlite:///{tmp_path / 'w' / 'state' / 'contimg.sqlite3'}") as repo:
        (worker,) = repo.service.workers()
        assert worker.state == "stopped"
        assert repo.service.last_heartbeat() is None
