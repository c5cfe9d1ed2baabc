"""``contimg runs``: list, show, resume and retry against a real work directory."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from contimg.cli.main import app
from contimg.config.settings import PathsSettings, Settings
from contimg.observability import reset_logging
from contimg.pipeline import RetryPolicy, Runner, Stage, TransientError, Workflow
from contimg.state import open_repository
from contimg.workflows import WORKFLOWS


def flaky(counter: str) -> int:
    path = Path(counter)
    n = int(path.read_text()) + 1 if path.exists() else 1
    path.write_text(str(n))
    if n < 3:
        raise TransientError(f"attempt {n}: lock busy")
    return n


def gated(n: int, flag: str) -> int:
    if not Path(flag).exists():
        raise RuntimeError("flag missing")
    return n * 10


def build(_settings: Settings) -> Workflow:
    return Workflow(
        "cli-test",
        [
            Stage("flaky", flaky, produces="n", retry=RetryPolicy.immediate(3)),
            Stage("gated", gated, produces="m"),
        ],
        inputs={"counter": str, "flag": str},
    )


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setitem(WORKFLOWS, "cli-test", build)
    work = tmp_path / "work"
    settings = Settings(paths=PathsSettings(workdir=work))
    settings.paths.ensure()
    with open_repository(settings.database_url) as repo, Runner(repo, settings) as runner:
        result = runner.run(
            build(settings), {"counter": str(tmp_path / "counter"), "flag": str(tmp_path / "flag")}
        )
    assert result.run_id == 1
    assert not result.ok
    yield work
    reset_logging()


def invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_show_json_lists_every_attempt(workdir: Path) -> None:
    code, out, _ = invoke("runs", "show", "1", "--workdir", str(workdir), "--json")
    assert code == 0
    doc = json.loads(out)
    assert doc["run"]["status"] == "failed"
    assert [(a["stage"], a["attempt"], a["status"]) for a in doc["attempts"]] == [
        ("flaky", 1, "failed"),
        ("flaky", 2, "failed"),
        ("flaky", 3, "completed"),
        ("gated", 1, "failed"),
    ]
    stages = {s["stage"]: s for s in doc["stages"]}
    assert stages["flaky"]["attempts"] == 3
    assert stages["flaky"]["status"] == "completed"
    assert stages["gated"]["error"] == "RuntimeError: flag missing"


def test_show_prints_a_stage_table(workdir: Path) -> None:
    code, out, _ = invoke("runs", "show", "1", "--workdir", str(workdir))
    assert code == 0
    assert "flag missing" in out
    assert "completed" in out
    assert "cli-test" in out


def test_list_json_and_unknown_run(workdir: Path) -> None:
    code, out, _ = invoke("runs", "list", "--workdir", str(workdir), "--json")
    assert code == 0
    assert [(r["id"], r["status"]) for r in json.loads(out)] == [(1, "failed")]
    code, out, err = invoke("runs", "show", "99", "--workdir", str(workdir), "--json")
    assert (code, out) == (2, "")
    assert "run 99 does not exist" in err


def test_resume_reruns_only_the_failed_part_then_retry(workdir: Path, tmp_path: Path) -> None:
    code, out, _ = invoke("runs", "resume", "1", "--workdir", str(workdir), "--json")
    assert code == 1  # still failing: the flag is missing
    assert json.loads(out)["run"]["resumed_from"] == 1
    (tmp_path / "flag").touch()
    code, out, _ = invoke("runs", "resume", "1", "--workdir", str(workdir), "--json")
    assert code == 0
    doc = json.loads(out)
    assert doc["run"]["status"] == "completed"
    assert [(a["stage"], a["attempt"], a["status"], a["skip_reason"]) for a in doc["attempts"]] == [
        ("flaky", 0, "skipped", "resumed: run 1"),
        ("gated", 1, "completed", None),
    ]
    assert doc["run"]["outputs"] == {"n": 3, "m": 30}
    code, out, _ = invoke("runs", "retry", "1", "--workdir", str(workdir), "--json")
    assert code == 0
    retried = json.loads(out)
    assert [(a["stage"], a["attempt"]) for a in retried["attempts"]] == [("flaky", 1), ("gated", 1)]


def test_console_script_show_json_is_one_document(workdir: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "contimg", "runs", "show", "1", "--workdir", str(workdir), "--json"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert len(json.loads(proc.stdout)["attempts"]) == 4
