"""QA, cross-match, quicklook and the images table on the real test-scale image."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from contimg.cli.main import app
from contimg.config.settings import PathsSettings, Settings
from contimg.science.image import ImageProducts
from contimg.science.qa import image_qa, robust_rms
from contimg.science.quicklook import write_quicklook
from contimg.science.sources import (
    FoundSource,
    crossmatch,
    read_catalogue_csv,
    read_reference_catalogue,
    write_catalogue_csv,
)
from contimg.state import open_repository
from contimg.state._images import NewImage

from .conftest import PARAMS, SKY

pytestmark = [pytest.mark.wsclean, pytest.mark.slow]


def test_robust_rms_ignores_sources() -> None:
    rng = np.random.default_rng(3)
    data = rng.normal(0.0, 0.01, (200, 200))
    data[90:110, 90:110] += 5.0
    assert robust_rms(data, grow_pixels=3) == pytest.approx(0.01, rel=0.05)


def _reference_csv(path: Path) -> Path:
    lines = ["name,ra_deg,dec_deg,flux_jy,spectral_index,extra"]
    lines += [f"{s.name},{s.ra_deg},{s.dec_deg},{s.flux_jy},{s.spectral_index},x" for s in SKY]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_qa_crossmatch_and_store(
    wsclean_products: ImageProducts, wsclean_sources: list[FoundSource], tmp_path: Path
) -> None:
    reference = read_reference_catalogue(_reference_csv(tmp_path / "ref.csv"))
    match = crossmatch(
        wsclean_sources,
        reference,
        wsclean_products.frequency_hz,
        radius_arcsec=PARAMS.crossmatch_radius_arcsec,
        footprint=(*wsclean_products.phase_centre_deg, 1.5),
    )
    assert match.n_matched == len(SKY)
    assert match.median_flux_ratio == pytest.approx(1.0, abs=0.03)
    assert abs(match.median_ra_offset_arcsec) < 2
    assert abs(match.median_dec_offset_arcsec) < 2

    qa = image_qa(
        wsclean_products.image, PARAMS, pb=wsclean_products.pb, sources=wsclean_sources, match=match
    )
    # Noise: 0.3 Jy per visibility -> a few mJy/beam after imaging this small array.
    assert 0.0005 < qa.rms_jy < 0.01
    assert qa.peak_jy == pytest.approx(3.0 * 0.97, rel=0.05)  # source a, beam ~0.97 there
    assert qa.dynamic_range > 200
    assert qa.n_sources_5sigma >= len(SKY)
    assert qa.verdict == "good", qa.reasons

    strict = PARAMS.model_copy(update={"qa_max_rms_jy": qa.rms_jy / 2})
    bad = image_qa(wsclean_products.image, strict, pb=wsclean_products.pb)
    assert bad.verdict == "bad"
    assert any("rms" in r for r in bad.reasons)

    png = write_quicklook(
        wsclean_products.image,
        tmp_path / "marked.png",
        title="2025-10-17T14:30:00",
        rms_jy=qa.rms_jy,
        sources=[(s.ra_deg, s.dec_deg) for s in wsclean_sources],
    )
    assert png.stat().st_size > 10_000
    catalogue = write_catalogue_csv(wsclean_sources, tmp_path / "cat.csv")
    assert read_catalogue_csv(catalogue) == wsclean_sources

    work = tmp_path / "work"
    settings = Settings(paths=PathsSettings(workdir=work))
    settings.paths.ensure()
    p = wsclean_products
    with open_repository(settings.database_url) as repo:
        repo.images.record(
            NewImage(
                name=p.group_id,
                group_id=p.group_id,
                ms_path=str(p.ms),
                image_path=str(p.image),
                pbcor_path=str(p.pbcor),
                pb_path=str(p.pb),
                png_path=str(p.png),
                backend=p.backend,
                frequency_hz=p.frequency_hz,
                bmaj_arcsec=p.beam.bmaj_arcsec,
                bmin_arcsec=p.beam.bmin_arcsec,
                bpa_deg=p.beam.bpa_deg,
                cell_arcsec=p.cell_arcsec,
                size=p.size,
                ra_deg=p.phase_centre_deg[0],
                dec_deg=p.phase_centre_deg[1],
                rms_jy=qa.rms_jy,
                peak_jy=qa.peak_jy,
                dynamic_range=qa.dynamic_range,
                n_sources=qa.n_sources_5sigma,
                n_matched=qa.n_matched,
                flux_ratio=qa.median_flux_ratio,
                verdict=qa.verdict,
                qa=qa.as_dict(),
            ),
            wsclean_sources,
        )
    result = CliRunner().invoke(app, ["images", "list", "--json", "--workdir", str(work)])
    assert result.exit_code == 0, result.output
    (row,) = json.loads(result.stdout)
    assert row["group_id"] == "2025-10-17T14:30:00"
    assert row["verdict"] == "good"
    assert row["rms_jy"] == pytest.approx(qa.rms_jy)
    assert row["bmaj_arcsec"] == pytest.approx(p.beam.bmaj_arcsec)
    assert Path(row["png_path"]).is_file()
