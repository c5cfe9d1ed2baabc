from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from contimg.cli.main import app


def test_demo_refuses_a_work_directory_with_other_data(tmp_path: Path) -> None:
    (tmp_path / "state").mkdir()
    (tmp_path / "state" / "contimg.sqlite3").write_text("someone's database")
    result = CliRunner().invoke(app, ["demo", "--workdir", str(tmp_path)])
    assert result.exit_code == 2
    assert str(tmp_path) in result.output
    assert (tmp_path / "state" / "contimg.sqlite3").read_text() == "someone's database"


@pytest.mark.slow
@pytest.mark.casa
@pytest.mark.wsclean
def test_demo_night_runs_end_to_end(tmp_path: Path) -> None:
    work = tmp_path / "work"
    (work / "logs").mkdir(parents=True)  # logs of earlier commands do not make it foreign
    runner = CliRunner()
    result = runner.invoke(app, ["demo", "--groups", "3", "--workdir", str(work)])
    assert result.exit_code == 0, result.output
    assert "the night, group by group" in result.output
    # the summary gives the service's outcome of each group, not the state of its files
    summary = result.output.split("the night, group by group")[1]
    rows = [line for line in summary.splitlines() if line.startswith("│ 2025-")]
    assert [line.split("│")[2].strip() for line in rows] == ["done"] * 3

    def listed(*args: str) -> list[dict]:
        out = runner.invoke(app, [*args, "--json", "--workdir", str(work)])
        assert out.exit_code == 0, out.output
        return json.loads(out.stdout)

    groups = listed("groups", "list")
    assert [g["state"] for g in groups] == ["converted"] * 3
    (cal_set,) = listed("caltables", "list")
    assert cal_set["status"] == "valid"
    images = listed("images", "list")
    assert len(images) == 3
    assert {i["calibration_set"] for i in images} == {cal_set["set_id"]}
    assert all(Path(i["png_path"]).is_file() for i in images)
    sources = {s["name"]: s for s in listed("sources", "list")}
    assert sources["DEMO-VAR"]["candidate"] is True
    assert not any(s["candidate"] for name, s in sources.items() if name != "DEMO-VAR")
    (mosaic,) = listed("mosaics", "list")
    assert "the night's mosaic against the sky model" in result.output
    steady = [m for m in mosaic["qa"]["sources"] if m["name"] != "DEMO-VAR"]
    assert len(steady) >= 2
    # the QA median includes the brightening source; the steady ones alone also within 5 %
    assert mosaic["qa"]["flux_ratio"] == pytest.approx(1.0, abs=0.05)
    assert float(np.median([m["ratio"] for m in steady])) == pytest.approx(1.0, abs=0.05)
    # a second demo starts its own work directory over
    again = runner.invoke(app, ["demo", "--groups", "3", "--workdir", str(work)])
    assert again.exit_code == 0, again.output
    assert len(listed("images", "list")) == 3
