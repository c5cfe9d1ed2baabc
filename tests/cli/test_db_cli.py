from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from contimg.state import head_revisions, open_repository


def _contimg(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "contimg", *args],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )


def test_db_upgrade_creates_the_default_sqlite_database(tmp_path: Path) -> None:
    workdir = tmp_path / "wd"
    first = _contimg("db", "upgrade", "--workdir", str(workdir), "--json")
    assert first.returncode == 0, first.stderr
    doc = json.loads(first.stdout)
    db_file = workdir / "state" / "contimg.sqlite3"
    assert doc == {"url": f"sqlite:///{db_file}", "revisions": sorted(head_revisions())}
    with open_repository(f"sqlite:///{db_file}") as repo:
        assert repo.list_runs() == []
    again = _contimg("db", "upgrade", "--workdir", str(workdir))
    assert again.returncode == 0, again.stderr
    assert all(rev in again.stdout for rev in head_revisions())


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("mysql://u@h/db", "only sqlite"),
        ("postgresql://nobody@/x?host=/nonexistent-socket-dir", "cannot open"),
    ],
)
def test_db_upgrade_bad_url_exits_2_naming_the_key(url: str, message: str) -> None:
    env = {**os.environ, "CONTIMG_DATABASE__URL": url}
    result = _contimg("db", "upgrade", env=env)
    assert result.returncode == 2
    assert "database.url" in result.stderr
    assert message in result.stderr
