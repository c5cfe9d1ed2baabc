"""``contimg serve``: bind address defaults and the warning for an open bind without a key.

uvicorn.run is replaced by a recorder here: these tests check what the command
decides before serving (the browser test serves for real on loopback).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn
from typer.testing import CliRunner

from contimg.cli.main import app
from contimg.observability import reset_logging


@pytest.fixture
def served(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[dict]]:
    calls: list[dict] = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: calls.append({"app": app, **kw}))
    yield calls
    for call in calls:  # the recorder never ran the app's shutdown
        call["app"].state.contimg.close()
    reset_logging()


def test_loopback_by_default_and_no_warning(served: list[dict], tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["serve", "--workdir", str(tmp_path / "w")])
    assert result.exit_code == 0, result.output
    assert served[0]["host"] == "127.0.0.1"
    assert served[0]["port"] == 8000
    assert "serve.open_bind" not in result.output
    assert (tmp_path / "w" / "state" / "contimg.sqlite3").exists()
    paths = served[0]["app"].openapi()["paths"]
    assert {"/api/v1/runs", "/metrics"} <= set(paths)


def test_open_bind_without_key_warns(served: list[dict], tmp_path: Path) -> None:
    # 192.0.2.0/24 is TEST-NET-1: nothing binds, uvicorn.run is the recorder.
    result = CliRunner().invoke(
        app, ["serve", "--host", "192.0.2.10", "--port", "8123", "--workdir", str(tmp_path / "w")]
    )
    assert result.exit_code == 0, result.output
    assert served[0]["host"] == "192.0.2.10"
    assert served[0]["port"] == 8123
    assert "serve.open_bind" in result.output
    keyed = CliRunner().invoke(
        app,
        [
            "serve",
            "--host",
            "192.0.2.10",
            "--workdir",
            str(tmp_path / "w"),
            "--set",
            f'api.api_key_sha256="{"a" * 64}"',
        ],
    )
    assert keyed.exit_code == 0, keyed.output
    assert "serve.open_bind" not in keyed.output
