import pytest

from contimg.science.catalog import CalibratorNotFoundError, get_calibrator, load_calibrators

OBSERVED_STRIPS = (54.57, 16.3, 50.5, 65.7)


@pytest.mark.parametrize("dec", OBSERVED_STRIPS)
def test_every_observed_strip_has_a_calibrator_within_1p5_deg(dec: float) -> None:
    near = [c for c in load_calibrators() if abs(c.dec_deg - dec) <= 1.5 and c.flux_jy >= 1.0]
    assert near, f"no calibrator >= 1 Jy within 1.5 deg of {dec}"


def test_each_value_has_a_reference_and_sane_numbers() -> None:
    cals = load_calibrators()
    assert len(cals) >= 6
    for c in cals:
        assert "position" in c.reference
        assert "flux" in c.reference
        assert 0 <= c.ra_deg < 360
        assert -90 <= c.dec_deg <= 90
        assert 0.1 < c.flux_jy < 100
        assert -2 < c.spectral_index < 1
        assert c.j2000_name.startswith("J")


@pytest.mark.parametrize("alias", ["0834+555", "J0834+5534", "4C +55.16", "j0834+5534", "0831+557"])
def test_aliases_of_0834(alias: str) -> None:
    cal = get_calibrator(alias)
    assert cal.name == "0834+555"
    assert cal.ra_deg == pytest.approx(128.7288, abs=1e-3)
    assert cal.dec_deg == pytest.approx(55.5725, abs=1e-3)
    assert cal.to_source().flux_at(1.4e9) == pytest.approx(cal.flux_jy)


def test_unknown_calibrator_lists_the_known_ones() -> None:
    with pytest.raises(CalibratorNotFoundError, match="known: 0834\\+555"):
        get_calibrator("no such source")
    assert get_calibrator("3C 286").j2000_name == "J1331+3030"
