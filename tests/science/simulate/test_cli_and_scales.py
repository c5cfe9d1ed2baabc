import json
from collections.abc import Iterator

import numpy as np
import pytest
from tests.science.simulate._helpers import read, truth
from typer.testing import CliRunner

from contimg.cli.main import app
from contimg.instrument import parse_subband_filename
from contimg.observability import reset_logging
from contimg.science.simulate import SCALES, read_flux_by_group, simulate_groups

runner = CliRunner()


@pytest.fixture(autouse=True)
def _close_log_file() -> Iterator[None]:
    """The CLI configures logging to a file in its work directory; close it afterwards."""
    yield
    reset_logging()


def test_cli_writes_groups_around_the_calibrator_transit(tmp_path) -> None:
    out = tmp_path / "incoming"
    result = runner.invoke(
        app,
        [
            "simulate",
            str(out),
            "--groups",
            "2",
            "--calibrator",
            "J0834+5534",
            "--corrupt",
            "--missing-subband",
            "0:5",
            "--seed",
            "11",
            "--json",
            "--workdir",
            str(tmp_path / "w"),
        ],
    )
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert [len(r["files"]) for r in rows] == [15, 16]
    t = truth(out / f"{rows[1]['group_id']}_truth.json")
    assert t["calibrator"]["name"] == "0834+555"
    cal = next(s for s in t["sources"] if s["is_calibrator"])
    assert cal["pb_mid"] > 0.7  # transits group 1, ~1 deg north of the pointing
    assert t["gains"] is not None
    assert t["noise"]["kind"] == "sefd"


def test_cli_sources_csv_and_usage_errors(tmp_path) -> None:
    csv = tmp_path / "sky.csv"
    csv.write_text(
        "name,ra_deg,dec_deg,flux_jy,spectral_index,flux_by_group,comment\n"
        "A,128.7,54.6,1.0,-0.7,1.0;3.0,brightens\nB,129.0,54.0,0.4,0.0,,\n"
    )
    assert read_flux_by_group(csv) == {"A": (1.0, 3.0)}
    out = tmp_path / "out"
    ok = runner.invoke(
        app,
        [
            "simulate",
            str(out),
            "--sources",
            str(csv),
            "--groups",
            "2",
            "--start",
            "2025-10-17T14:38:00",
            "--workdir",
            str(tmp_path / "w"),
        ],
    )
    assert ok.exit_code == 0, ok.output
    fluxes = [
        {s["name"]: s["flux_jy"] for s in json.loads(p.read_text())["sources"]}["A"]
        for p in sorted(out.glob("*_truth.json"))
    ]
    assert fluxes == [1.0, 3.0]
    bad = tmp_path / "bad.csv"
    bad.write_text("name,ra_deg,dec_deg,flux_jy,spectral_index\nA,1,2,lots,0\n")
    cases = [
        (["--sources", str(bad)], "bad.csv row 2 column 'flux_jy'"),
        (["--calibrator", "nosuch"], "nosuch"),
        (["--scale", "huge"], "huge"),
        (["--start", "yesterday"], "yesterday"),
        (["--truncate", "1-2"], "1-2"),
    ]
    for extra, needle in cases:
        r = runner.invoke(
            app, ["simulate", str(tmp_path / "x"), *extra, "--workdir", str(tmp_path / "w")]
        )
        assert r.exit_code == 2, (extra, r.output)
        assert needle in r.output


def test_small_scale_shape(tmp_path, start, instrument) -> None:
    g = simulate_groups(
        tmp_path, start, 1, 54.57, None, "3C147", "small", 1, instrument=instrument
    )[0]
    uv = read(g.files[0])
    assert uv.Nants_data == SCALES["small"].n_antennas == 48
    assert uv.Nfreqs == 12
    assert uv.Ntimes == 12
    assert set(range(103, 118)) & set(uv.ant_1_array.tolist())
    assert {parse_subband_filename(p).subband for p in g.files} == set(range(16))
    assert np.isfinite(uv.data_array).all()
