"""``contimg convert``: one MS per complete group; a truncated file fails only its group."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tests.science.convert._minisim import simulate_group
from typer.testing import CliRunner, Result

from contimg.cli.main import app
from contimg.state import open_repository
from contimg.state._ingest import GroupState


def _contimg(*args: str) -> Result:
    # in-process: a subprocess per call would re-import the science stack each time
    return CliRunner().invoke(app, list(args))


@pytest.fixture(scope="module")
def incoming(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("incoming")
    simulate_group(d, "2026-01-01T00:00:00", n_ants=8, seed=1)
    bad_group = simulate_group(d, "2026-01-01T00:05:09", n_ants=8, seed=2)
    payload = bad_group[9].read_bytes()
    bad_group[9].write_bytes(payload[: len(payload) // 3])
    simulate_group(d, "2026-01-01T00:10:18", n_ants=8, seed=3, subbands=range(1, 16))
    return d


def test_convert_fails_only_the_group_with_the_truncated_file(
    incoming: Path, tmp_path: Path
) -> None:
    wd = tmp_path / "wd"
    result = _contimg(
        "convert", str(incoming), "--workdir", str(wd), "--json", "--set", "ingest.stable_wait_s=0"
    )
    assert result.exit_code == 1, result.stderr
    rows = {r["group_id"]: r for r in json.loads(result.stdout)}
    good, bad = rows["2026-01-01T00:00:00"], rows["2026-01-01T00:05:09"]
    assert good["status"] == "converted"
    assert Path(good["ms"]) == wd.absolute() / "ms" / "2026-01-01T00:00:00.ms"
    assert Path(good["ms"]).is_dir()
    assert bad["status"] == "failed"
    assert "_sb09.hdf5" in bad["detail"]
    assert "truncated" in bad["detail"]
    # the group without sb00 is identified by its earliest file and left alone (incomplete)
    (third,) = [
        r
        for gid, r in rows.items()
        if gid.startswith("2026-01-01T00:09:") or gid.startswith("2026-01-01T00:10:")
    ]
    assert third["status"] == "incomplete"
    assert "sb00" in third["detail"]
    assert sorted(p.name for p in (wd / "ms").iterdir()) == ["2026-01-01T00:00:00.ms"]
    with open_repository(f"sqlite:///{wd / 'state' / 'contimg.sqlite3'}") as repo:
        assert repo.groups.get_group("2026-01-01T00:00:00").state is GroupState.CONVERTED
        failed = repo.groups.get_group("2026-01-01T00:05:09")
        assert failed.state is GroupState.FAILED
        assert "_sb09.hdf5" in failed.error
        (ms,) = repo.ms.list_ms()
        assert ms.group_id == "2026-01-01T00:00:00"
        assert ms.n_fields == 4
    again = _contimg(
        "convert", str(incoming), "--workdir", str(wd), "--json", "--group", "2026-01-01T00:00:00"
    )
    assert again.exit_code == 0, again.stderr
    assert json.loads(again.stdout)[0]["status"] == "skipped"


def test_flag_mode_converts_the_group_missing_sb00(incoming: Path, tmp_path: Path) -> None:
    wd = tmp_path / "wd"
    result = _contimg(
        "convert",
        str(incoming),
        "--workdir",
        str(wd),
        "--json",
        "--start",
        "2026-01-01T00:08:00",
        "--set",
        "conversion.missing_subbands=flag",
    )
    assert result.exit_code == 0, result.stderr
    (row,) = json.loads(result.stdout)
    assert row["status"] == "converted"


@pytest.mark.parametrize(
    "args",
    [
        ("convert", "/nonexistent/dir"),
        ("convert", "{incoming}", "--group", "2020-01-01T00:00:00"),
        ("convert", "{incoming}", "--start", "yesterday"),
        ("convert", "{incoming}", "--writer", "slow"),
    ],
)
def test_usage_errors_exit_2(incoming: Path, tmp_path: Path, args: tuple[str, ...]) -> None:
    argv = [a.format(incoming=incoming) for a in args]
    result = _contimg(*argv, "--workdir", str(tmp_path / "wd"))
    assert result.exit_code == 2
    assert result.stderr.strip().startswith("error:")
