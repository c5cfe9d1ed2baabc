from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from contimg.instrument import (
    FileNameError,
    Instrument,
    airy_beam,
    airy_fwhm_rad,
    format_subband_filename,
    parse_subband_filename,
)


@pytest.fixture(scope="module")
def inst() -> Instrument:
    return Instrument.from_settings()


def test_subbands_descend_with_number_and_tile_the_band(inst: Instrument) -> None:
    band = inst.band
    assert band.subband_width_hz == pytest.approx(11.71875e6)
    _lo0, hi0 = band.subband_edges(0)
    assert hi0 == pytest.approx(1498.75e6)
    assert band.f_bottom_hz == pytest.approx(1311.25e6)
    centres = [band.channel_frequencies(k).mean() for k in range(16)]
    assert np.all(np.diff(centres) < 0)  # sb00 highest
    f = band.channel_frequencies(0)
    assert len(f) == 48
    assert np.all(np.diff(f) > 0)
    assert np.allclose(np.diff(f), 244_140.625)
    full = band.band_frequencies()
    assert len(full) == 768
    assert np.allclose(np.diff(full), 244_140.625)  # contiguous, ascending
    coarse = band.band_frequencies(4)
    assert np.allclose(np.diff(coarse), 11.71875e6 / 4)
    assert band.subband_of(full).tolist() == np.repeat(np.arange(15, -1, -1), 48).tolist()
    assert band.subbands_ascending()[0] == 15


def test_airy_fwhm_about_3_deg_at_1p4_ghz(inst: Instrument) -> None:
    fwhm = inst.beam_fwhm_rad(1.4e9)
    lam = 299_792_458.0 / 1.4e9
    assert fwhm == pytest.approx(1.02899 * lam / 4.65, rel=1e-3)
    assert 2.6 < np.rad2deg(fwhm) < 3.1
    assert airy_beam(fwhm / 2, 1.4e9, 4.65) == pytest.approx(0.5, abs=1e-9)
    assert airy_beam(0.0, 1.4e9, 4.65) == 1.0
    # vectorized: broadcast angles against frequencies; narrower at higher frequency
    pb = airy_beam(np.linspace(0, 0.05, 11)[:, None], np.array([1.3e9, 1.5e9])[None, :], 4.65)
    assert pb.shape == (11, 2)
    assert np.all(pb[1:, 1] < pb[1:, 0])
    assert airy_fwhm_rad(1.3e9, 4.65) > fwhm


@given(
    st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2099, 12, 31)),
    st.integers(0, 99),
)
def test_filename_round_trip(ts: datetime, sb: int) -> None:
    ts = ts.replace(microsecond=0, tzinfo=UTC)
    name = format_subband_filename(ts, sb)
    parsed = parse_subband_filename(f"/some/dir/{name}")
    assert parsed.timestamp == ts
    assert parsed.subband == sb
    assert parsed.name == name


def test_filename_examples_and_errors() -> None:
    ts = datetime(2025, 10, 1, 8, 0, 5, 900_000)
    assert format_subband_filename(ts, 3) == "2025-10-01T08:00:05_sb03.hdf5"
    with pytest.raises(FileNameError, match=r"2025-10-01_sb03\.hdf5"):
        parse_subband_filename("2025-10-01_sb03.hdf5")
    with pytest.raises(FileNameError):
        parse_subband_filename("2025-13-01T08:00:05_sb03.hdf5")
    with pytest.raises(FileNameError):
        format_subband_filename(ts, 100)
    aware = datetime(2025, 10, 1, 1, 0, 5, tzinfo=UTC) + timedelta(hours=0)
    assert parse_subband_filename(format_subband_filename(aware, 0)).timestamp == aware
