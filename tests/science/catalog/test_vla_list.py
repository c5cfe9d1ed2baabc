"""The VLA calibrator list reader, on a small sample in the list's text format."""

from __future__ import annotations

from pathlib import Path

import pytest

from contimg.science.catalog.vla import VlaListError, parse_vla_calibrator_list

SAMPLE = Path(__file__).parents[1] / "calibrate" / "data" / "vla_sample.txt"


def test_parses_positions_fluxes_and_spectral_index() -> None:
    result = parse_vla_calibrator_list(SAMPLE)
    by_name = {c.name: c for c in result.calibrators}
    assert set(by_name) == {"0834+555", "1331+305"}
    cal = by_name["0834+555"]
    assert cal.ra_deg == pytest.approx(15 * (8 + 34 / 60 + 54.9039 / 3600), abs=1e-6)
    assert cal.dec_deg == pytest.approx(55 + 34 / 60 + 21.0708 / 3600, abs=1e-6)
    assert cal.flux_jy == 8.3
    assert cal.j2000_name == "J0834+5534"
    assert cal.aliases == ("4C55.16",)
    # 20 cm 8.3 Jy, 6 cm 3.8 Jy: alpha = ln(3.8/8.3) / ln(20/6)
    assert cal.spectral_index == pytest.approx(-0.649, abs=0.002)
    assert by_name["1331+305"].aliases == ("3C286",)
    assert result.skipped == ("0000-999",)  # no 20 cm flux


def test_not_a_vla_list_is_refused(tmp_path: Path) -> None:
    bad = tmp_path / "x.txt"
    bad.write_text("name,ra_deg\nfoo,1\n")
    with pytest.raises(VlaListError, match="no 'NAME J2000"):
        parse_vla_calibrator_list(bad)
    with pytest.raises(VlaListError, match=r"missing\.txt"):
        parse_vla_calibrator_list(tmp_path / "missing.txt")
