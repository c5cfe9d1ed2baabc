"""Closed-loop imaging tests: simulate known sources, image, find them again."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

from contimg.science.image import ImageProducts, ImagingError, make_image, rephase_ms
from contimg.science.sources import FoundSource, crossmatch, find_sources

from ._simms import build_ms
from .conftest import DEC, LST_MID, PARAMS, SKY, reference

pytestmark = [pytest.mark.wsclean, pytest.mark.slow]


def _matched(found: list[FoundSource], freq: float) -> dict[str, FoundSource]:
    refs = reference()
    match = crossmatch(found, refs, freq, radius_arcsec=30.0)
    return {refs[j].name: found[i] for i, j, _ in match.pairs}


def test_products_exist_with_headers(wsclean_products: ImageProducts) -> None:
    for kind, path in wsclean_products.paths().items():
        assert path.is_file(), kind
        assert path.parent == wsclean_products.image.parent
    assert not list(wsclean_products.image.parent.glob(".*")), "temporary files left behind"
    header = fits.getheader(wsclean_products.pbcor)
    assert header["GROUPID"] == "2026-01-15T11:00:00"
    assert header["TELESCOP"] == "DSA-110"
    assert header["CALSET"] == "none"
    assert header["DATE-OBS"].startswith("2026-01-15")
    assert "WSClean 3.1" in header["IMAGER"]
    assert len(header["CFGHASH"]) == 16
    assert header["BMAJ"] * 3600 == pytest.approx(wsclean_products.beam.bmaj_arcsec)
    assert 1.40e9 < wsclean_products.frequency_hz < 1.41e9


def test_cell_is_a_fifth_of_the_beam(wsclean_products: ImageProducts) -> None:
    beam = wsclean_products.beam
    # The beam the weighting gives (core dominated), not lambda / B_max.
    assert 30 < beam.bmin_arcsec < beam.bmaj_arcsec < 90
    ratio = beam.bmin_arcsec / wsclean_products.cell_arcsec
    assert 3.5 < ratio < 6.5
    assert wsclean_products.size * wsclean_products.cell_arcsec >= 3.0 * 3600


def test_sources_at_true_positions(
    wsclean_products: ImageProducts, wsclean_sources: list[FoundSource]
) -> None:
    """Multi-field MS re-phased to the mid-time meridian: all sources where the sky puts them."""
    found = _matched(wsclean_sources, wsclean_products.frequency_hz)
    assert set(found) == {s.name for s in SKY}
    tolerance = wsclean_products.beam.bmin_arcsec / 5
    refs = {r.name: r for r in reference()}
    for name, src in found.items():
        dra = (src.ra_deg - refs[name].ra_deg) * np.cos(np.deg2rad(src.dec_deg)) * 3600
        ddec = (src.dec_deg - refs[name].dec_deg) * 3600
        assert np.hypot(dra, ddec) < tolerance, name


def test_pb_corrected_fluxes(
    wsclean_products: ImageProducts, wsclean_sources: list[FoundSource]
) -> None:
    found = _matched(wsclean_sources, wsclean_products.frequency_hz)
    refs = {r.name: r for r in reference()}
    assert found["b"].pb < 0.7, "b must be well off axis"
    for name, src in found.items():
        assert src.snr > 50
        truth = refs[name].flux_at(wsclean_products.frequency_hz)
        assert src.flux_jy == pytest.approx(truth, rel=0.05), name
        assert src.peak_jy == pytest.approx(truth, rel=0.05), name


def test_pbcor_masked_below_limit(wsclean_products: ImageProducts) -> None:
    pb = np.squeeze(fits.getdata(wsclean_products.pb))
    cor = np.squeeze(fits.getdata(wsclean_products.pbcor))
    assert np.all(np.isnan(cor[pb < 0.2]))
    assert np.all(np.isfinite(cor[pb >= 0.2]))
    assert pb.max() == pytest.approx(1.0, abs=0.02)


@pytest.mark.casa
def test_wsclean_and_tclean_agree(
    wsclean_products: ImageProducts,
    wsclean_sources: list[FoundSource],
    tclean_products: ImageProducts,
) -> None:
    assert tclean_products.backend == "tclean"
    t_found = find_sources(tclean_products.image, pb_image=tclean_products.pb, pb_limit=0.2)
    w = _matched(wsclean_sources, wsclean_products.frequency_hz)
    t = _matched(t_found, tclean_products.frequency_hz)
    assert set(t) == set(w)
    for name in w:
        # Peak brightness of these point sources; integrated fluxes also depend on how each
        # imager fits its restoring beam.
        assert t[name].peak_jy == pytest.approx(w[name].peak_jy, rel=0.02), name


def test_all_flagged_ms_is_an_error(tmp_path: Path) -> None:
    ms = build_ms(
        tmp_path / "flagged.ms",
        SKY[:1],
        dec_deg=DEC,
        lst_mid_deg=LST_MID,
        ntimes=1,
        nchan=4,
        flag_all=True,
    )
    out = tmp_path / "images"
    with pytest.raises(ImagingError, match=r"flagged\.ms.*all visibilities are flagged"):
        make_image(ms, out, PARAMS)
    assert not any(p.suffix == ".fits" for p in out.rglob("*"))


def test_rephase_matches_pyuvdata_phasing(group_ms: Path, tmp_path: Path) -> None:
    """Our re-phasing of the multi-field MS equals pyuvdata phasing to one centre."""
    from casacore.tables import table

    reference_ms = build_ms(
        tmp_path / "common.ms",
        SKY,
        dec_deg=DEC,
        lst_mid_deg=LST_MID,
        noise_jy=0.3,
        seed=7,
        common_centre=True,
    )
    with table(str(reference_ms / "FIELD"), ack=False) as ft:
        centre = ft.getcol("PHASE_DIR")[0, 0]
    out = rephase_ms(group_ms, (float(centre[0]), float(centre[1])), tmp_path / "re.ms")
    with table(str(out), ack=False) as a, table(str(reference_ms), ack=False) as b:
        assert np.allclose(a.getcol("UVW"), b.getcol("UVW"), atol=1e-3)
        da, db = a.getcol("DATA"), b.getcol("DATA")
        assert np.median(np.abs(da - db)) < 1e-3 * np.median(np.abs(db))
        assert set(a.getcol("FIELD_ID")) == {0}
    with table(str(out / "FIELD"), ack=False) as ft:
        assert ft.nrows() == 1
