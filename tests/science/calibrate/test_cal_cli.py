"""CLI: catalog import-vla/list, calibrate solve/apply, caltables list, on simulated groups."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tests.science.calibrate.conftest import CalSim, copy_ms
from typer.testing import CliRunner, Result

from contimg.cli.main import app

SAMPLE = Path(__file__).parent / "data" / "vla_sample.txt"


def _run(*args: str) -> Result:
    # in-process: a subprocess per call would re-import CASA and the science stack each time
    return CliRunner().invoke(app, list(args))


def test_catalog_import_vla_and_list(tmp_path: Path) -> None:
    wd = str(tmp_path / "wd")
    result = _run("catalog", "import-vla", str(SAMPLE), "--workdir", wd)
    assert result.exit_code == 0, result.output
    assert "imported 2 calibrators" in result.output
    listed = _run("catalog", "list", "--workdir", wd, "--json")
    rows = {r["name"]: r for r in json.loads(listed.stdout)}
    assert rows["0834+555"]["flux_jy"] == 8.3  # the VLA list replaced the built-in value
    assert rows["0834+555"]["origin"].startswith("vla:")
    assert "1331+305" in rows["3C286"]["aliases"]  # known source updated, not doubled
    assert "1331+305" not in rows


def test_import_vla_refuses_other_formats(tmp_path: Path) -> None:
    bad = tmp_path / "bad.txt"
    bad.write_text("hello\n")
    result = _run("catalog", "import-vla", str(bad), "--workdir", str(tmp_path / "wd"))
    assert result.exit_code == 2
    assert "bad.txt" in result.output


@pytest.mark.casa
@pytest.mark.slow
def test_solve_list_apply(cal_sim: CalSim, tmp_path: Path) -> None:
    wd = tmp_path / "wd"
    cal_ms = copy_ms(cal_sim.calibrator_ms, tmp_path)
    # no --calibrator: the one transiting the MS is found in the catalogue
    solved = _run("calibrate", "solve", str(cal_ms), "--workdir", str(wd))
    assert solved.exit_code == 0, solved.output
    assert "valid (0834+555, refant DSA-103)" in solved.output

    listed = json.loads(_run("caltables", "list", "--workdir", str(wd), "--json").stdout)
    (entry,) = listed
    assert entry["status"] == "valid"
    assert [t["kind"] for t in entry["tables"]] == ["B", "G"]
    assert all(Path(t["path"]).is_dir() for t in entry["tables"])
    assert all(
        t["path"].startswith(str(wd / "caltables" / entry["set_id"])) for t in entry["tables"]
    )
    assert entry["provenance"]["casa_version"].startswith("6.7")
    assert entry["provenance"]["source_ms"] == str(cal_ms)
    assert entry["valid_from"] < entry["transit_time"] < entry["valid_to"]
    assert not list((wd / "scratch").iterdir())  # CASA temporaries removed

    target = copy_ms(cal_sim.target_ms, tmp_path / "t")
    applied = _run("calibrate", "apply", str(target), "--workdir", str(wd), "--json")
    assert applied.exit_code == 0, applied.output
    out = json.loads(applied.stdout)
    assert out["action"] == "apply"
    assert out["set_id"] == entry["set_id"]

    # --model CSV instead of a catalogue calibrator (any array, any band)
    model = tmp_path / "model.csv"
    model.write_text(
        "name,ra_deg,dec_deg,flux_jy,spectral_index\nC,128.728767,55.572519,8.8,-0.4\n"
    )
    by_model = _run("calibrate", "solve", str(cal_ms), "--model", str(model), "--workdir", str(wd))
    assert by_model.exit_code == 0, by_model.output
    assert "model:model.csv" in by_model.output


def test_apply_without_sets_follows_when_missing(cal_sim: CalSim, tmp_path: Path) -> None:
    wd = str(tmp_path / "wd")
    failed = _run(
        "calibrate",
        "apply",
        str(cal_sim.target_ms),
        "--workdir",
        wd,
        "--set",
        "calibration.when_missing=fail",
    )
    assert failed.exit_code == 1
    assert "no valid calibration set covers" in failed.output
    uncal = _run(
        "calibrate",
        "apply",
        str(cal_sim.target_ms),
        "--workdir",
        wd,
        "--set",
        "calibration.when_missing=uncalibrated",
    )
    assert uncal.exit_code == 0
    assert uncal.output.startswith("uncalibrated:")


def test_solve_names_unknown_calibrator(cal_sim: CalSim, tmp_path: Path) -> None:
    result = _run(
        "calibrate",
        "solve",
        str(cal_sim.calibrator_ms),
        "--calibrator",
        "nope",
        "--workdir",
        str(tmp_path / "wd"),
    )
    assert result.exit_code == 2
    assert "unknown calibrator 'nope'" in result.output
