from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path


def _contimg(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "contimg", *args],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )


def test_validate_exits_2_naming_the_key(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[imaging]\nniter = -5\n")
    result = _contimg("config", "validate", str(bad))
    assert result.returncode == 2
    assert "imaging.niter" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_validate_accepts_a_good_file(tmp_path: Path) -> None:
    good = tmp_path / "good.toml"
    good.write_text("[imaging]\nniter = 5\n[executor]\nkind = 'dask'\n")
    result = _contimg("config", "validate", str(good))
    assert result.returncode == 0, result.stderr


def test_show_json_reports_value_and_source(tmp_path: Path) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text("[imaging]\nrobust = 0.5\n")
    result = _contimg(
        "config",
        "show",
        "--json",
        "--config",
        str(cfg),
        "--set",
        "imaging.niter=42",
        "--workdir",
        str(tmp_path / "wd"),
    )
    assert result.returncode == 0, result.stderr
    rows = {row["key"]: row for row in json.loads(result.stdout)}
    assert rows["imaging.niter"] == {"key": "imaging.niter", "value": 42, "source": "override"}
    assert rows["imaging.robust"]["source"] == str(cfg)
    assert rows["paths.workdir"]["value"] == str(tmp_path / "wd")
    assert rows["imaging.fov_deg"]["source"] == "default"


def test_docs_lists_every_section() -> None:
    result = _contimg("config", "docs", "--markdown")
    assert result.returncode == 0
    for section in (
        "paths",
        "ingest",
        "conversion",
        "flagging",
        "calibration",
        "imaging",
        "mosaic",
        "photometry",
        "executor",
        "database",
        "api",
        "logging",
    ):
        assert f"`{section}." in result.stdout
