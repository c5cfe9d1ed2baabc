"""``contimg convert``: one MS per complete group; a truncated file fails only its group."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from contimg.cli.main import app
from contimg.science.simulate import simulate_groups
from contimg.state import open_repository
from contimg.state._ingest import GroupState


def _contimg(*args: str) -> Result:
    # in-process: a subprocess per call would re-import the science stack each time
    return CliRunner().invoke(app, list(args))


@dataclass(frozen=True)
class Incoming:
    directory: Path
    good: str
    bad: str
    bad_file: Path
    no_sb00: str


@pytest.fixture(scope="module")
def incoming(tmp_path_factory: pytest.TempPathFactory) -> Incoming:
    d = tmp_path_factory.mktemp("incoming")
    good, bad, third = simulate_groups(d, "2026-01-01T00:00:00", n_groups=3, scale="test")
    bad_file = next(p for p in bad.files if p.name.endswith("_sb09.hdf5"))
    payload = bad_file.read_bytes()
    bad_file.write_bytes(payload[: len(payload) // 3])
    sb00 = next(p for p in third.files if p.name.endswith("_sb00.hdf5"))
    sb00.unlink()
    earliest = min(p.name[:19] for p in third.files if p != sb00)
    return Incoming(d, good.group_id, bad.group_id, bad_file, earliest)


def test_convert_fails_only_the_group_with_the_truncated_file(
    incoming: Incoming, tmp_path: Path
) -> None:
    wd = tmp_path / "wd"
    src = str(incoming.directory)
    result = _contimg(
        "convert", src, "--workdir", str(wd), "--json", "--set", "ingest.stable_wait_s=0"
    )
    assert result.exit_code == 1, result.stderr
    rows = {r["group_id"]: r for r in json.loads(result.stdout)}
    assert set(rows) == {incoming.good, incoming.bad, incoming.no_sb00}
    good, bad, third = rows[incoming.good], rows[incoming.bad], rows[incoming.no_sb00]
    assert good["status"] == "converted"
    assert Path(good["ms"]) == wd.absolute() / "ms" / f"{incoming.good}.ms"
    assert Path(good["ms"]).is_dir()
    assert bad["status"] == "failed"
    assert str(incoming.bad_file) in bad["detail"]
    assert "truncated" in bad["detail"]
    # the group without sb00 is identified by its earliest file and left alone (incomplete)
    assert third["status"] == "incomplete"
    assert "sb00" in third["detail"]
    assert sorted(p.name for p in (wd / "ms").iterdir()) == [f"{incoming.good}.ms"]
    with open_repository(f"sqlite:///{wd / 'state' / 'contimg.sqlite3'}") as repo:
        assert repo.groups.get_group(incoming.good).state is GroupState.CONVERTED
        failed = repo.groups.get_group(incoming.bad)
        assert failed.state is GroupState.FAILED
        assert str(incoming.bad_file) in failed.error
        assert repo.groups.get_group(incoming.no_sb00).n_subbands == 15
        (ms,) = repo.ms.list_ms()
        assert ms.group_id == incoming.good
        assert ms.n_fields == 4
    again = _contimg("convert", src, "--workdir", str(wd), "--json", "--group", incoming.good)
    assert again.exit_code == 0, again.stderr
    assert json.loads(again.stdout)[0]["status"] == "skipped"


def test_flag_mode_converts_the_group_missing_sb00(incoming: Incoming, tmp_path: Path) -> None:
    result = _contimg(
        "convert",
        str(incoming.directory),
        "--workdir",
        str(tmp_path / "wd"),
        "--json",
        "--group",
        incoming.no_sb00,
        "--set",
        "conversion.missing_subbands=flag",
    )
    assert result.exit_code == 0, result.stderr
    (row,) = json.loads(result.stdout)
    assert row["status"] == "converted"
    assert "1 subband(s) flagged" in row["detail"]


@pytest.mark.parametrize(
    "args",
    [
        ("convert", "/nonexistent/dir"),
        ("convert", "{incoming}", "--group", "2020-01-01T00:00:00"),
        ("convert", "{incoming}", "--start", "yesterday"),
        ("convert", "{incoming}", "--writer", "slow"),
    ],
)
def test_usage_errors_exit_2(incoming: Incoming, tmp_path: Path, args: tuple[str, ...]) -> None:
    argv = [a.format(incoming=incoming.directory) for a in args]
    result = _contimg(*argv, "--workdir", str(tmp_path / "wd"))
    assert result.exit_code == 2
    assert result.stderr.strip().startswith("error:")
