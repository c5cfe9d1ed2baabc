"""``contimg mosaics list`` and ``contimg sources list|lightcurve`` on a real work directory."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from contimg.cli.main import app
from contimg.config.settings import PathsSettings, Settings
from contimg.science.variability import LightCurveAccumulator
from contimg.state import open_repository
from contimg.state._variability import MosaicInputRecord, NewSource, PhotometryRow

T0 = datetime(2026, 11, 27, 3, 0, tzinfo=UTC)


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    work = tmp_path / "work"
    settings = Settings(paths=PathsSettings(workdir=work))
    settings.paths.ensure()
    acc = LightCurveAccumulator(eta_threshold=5.0, v_threshold=0.1, min_measurements=3)
    with open_repository(settings.database_url) as repo:
        repo.sources.add_sources(
            [NewSource("steady", 150.1, 54.6), NewSource("flare", 150.3, 54.7)]
        )
        for k in range(5):
            flare = 0.05 if k < 3 else 0.15
            repo.sources.add_photometry(
                image_path=work / "images" / f"g{k}-pbcor.fits",
                time=T0 + timedelta(minutes=5 * k),
                rows=[
                    PhotometryRow(
                        "steady", 0.1 + 0.001 * (-1) ** k, 0.002, 0.002, 50.0, False, 0.01
                    ),
                    PhotometryRow("flare", flare, 0.002, 0.002, flare / 0.002, False, 0.01),
                ],
                accumulate=acc,
            )
        repo.mosaics.add(
            name="night-2026-11-27",
            path=work / "mosaics" / "night.fits",
            weight_path=work / "mosaics" / "night-weight.fits",
            noise_path=work / "mosaics" / "night-noise.fits",
            png_path=work / "mosaics" / "night.png",
            start_time=T0,
            end_time=T0 + timedelta(minutes=20),
            ra_deg=150.2,
            dec_deg=54.6,
            qa={"noise_ratio": 1.01, "flux_ratio": 0.99},
            qa_passed=True,
            inputs=[
                MosaicInputRecord(
                    str(work / "images" / f"g{k}-pbcor.fits"),
                    str(work / "images" / f"g{k}-pb.fits"),
                    0.002,
                )
                for k in range(5)
            ],
        )
    return work


def invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_sources_list_json_has_metrics_and_candidate(workdir: Path) -> None:
    code, out, _ = invoke("sources", "list", "--workdir", str(workdir), "--json")
    assert code == 0
    doc = json.loads(out)
    by_name = {s["name"]: s for s in doc}
    assert by_name["flare"]["candidate"] is True
    assert by_name["steady"]["candidate"] is False
    assert by_name["flare"]["n_measurements"] == 5
    assert by_name["flare"]["eta"] > 100
    assert by_name["steady"]["v"] == pytest.approx(0.01, rel=0.2)
    assert doc[0]["name"] == "flare"  # candidates first
    code, out, _ = invoke("sources", "list", "--candidates", "--workdir", str(workdir), "--json")
    assert [s["name"] for s in json.loads(out)] == ["flare"]


def test_lightcurve_json_and_png(workdir: Path, tmp_path: Path) -> None:
    png = tmp_path / "flare.png"
    code, out, _ = invoke(
        "sources", "lightcurve", "flare", "--workdir", str(workdir), "--png", str(png), "--json"
    )
    assert code == 0
    doc = json.loads(out)
    assert [m["flux_jy"] for m in doc["measurements"]] == [0.05, 0.05, 0.05, 0.15, 0.15]
    assert doc["png"] == str(png.absolute())
    assert png.read_bytes()[:4] == b"\x89PNG"
    code, out, _ = invoke("sources", "lightcurve", "1", "--workdir", str(workdir))
    assert code == 0
    assert "steady" in out


def test_lightcurve_unknown_source_exits_2(workdir: Path) -> None:
    code, _, err = invoke("sources", "lightcurve", "nope", "--workdir", str(workdir))
    assert code == 2
    assert "nope" in err


def test_mosaics_list(workdir: Path) -> None:
    code, out, _ = invoke("mosaics", "list", "--workdir", str(workdir), "--json")
    assert code == 0
    (doc,) = json.loads(out)
    assert doc["name"] == "night-2026-11-27"
    assert doc["n_inputs"] == 5
    assert len(doc["inputs"]) == 5
    assert doc["qa"]["noise_ratio"] == 1.01
    assert Path(doc["path"]).is_absolute()
    code, out, _ = invoke("mosaics", "list", "--workdir", str(workdir))
    assert code == 0
    assert "night-2026-1" in out  # the table folds long names
