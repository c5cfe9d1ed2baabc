"""Closed loops on the visibility convention, the beam and the gain convention."""

import numpy as np
import pytest
from tests.science.simulate._helpers import complex_array, read, truth
from tests.science.simulate.conftest import SKY

from contimg.instrument import airy_beam, parse_subband_filename
from contimg.science.simulate import read_truth

TRANSIT_GROUP = 1  # ON_AXIS transits in the middle of group 1


def _angle(app_ra, app_dec, lst, dec0):
    cos = np.sin(app_dec) * np.sin(dec0) + np.cos(app_dec) * np.cos(dec0) * np.cos(app_ra - lst)
    return np.arccos(np.clip(cos, -1, 1))


@pytest.mark.parametrize("subband", [0, 9, 15])
def test_phasing_to_the_source_gives_zero_phase_and_beam_attenuated_flux(
    clean, subband, tmp_path, start, instrument
) -> None:
    """One source, no corruptions: pyuvdata phase() to it leaves a real, PB-weighted flux."""
    from contimg.science.simulate import simulate_groups
    from contimg.science.skymodel import SkyModel

    src = SKY.get("ON_AXIS")
    g = simulate_groups(
        tmp_path, start, 2, 54.57, SkyModel((src,)), scale="test", instrument=instrument
    )[TRANSIT_GROUP]
    path = next(p for p in g.files if parse_subband_filename(p).subband == subband)
    uv = read(path)
    uv.phase(lon=np.deg2rad(src.ra_deg), lat=np.deg2rad(src.dec_deg), cat_name=src.name)
    cross = uv.ant_1_array != uv.ant_2_array
    data = uv.data_array[cross]
    assert np.abs(np.angle(data)).max() < 1e-4
    # expected amplitude: S(nu) PB(theta) with theta from pyuvdata's own apparent position
    theta = _angle(
        uv.phase_center_app_ra, uv.phase_center_app_dec, uv.lst_array, np.deg2rad(54.57)
    )[cross]
    expected = src.flux_at(uv.freq_array)[None, :] * airy_beam(
        theta[:, None], uv.freq_array[None, :], 4.65
    )
    assert np.allclose(np.abs(data[..., 0]), expected, rtol=1e-5)
    assert np.allclose(data[..., 0], data[..., 1])  # XX = YY = I
    # at transit the source is near the beam centre: a real test of the beam geometry
    assert 0.95 < expected.min() / src.flux_at(uv.freq_array).max() < 1.0
    # unprojected data themselves carry the geometric fringe (not already phased)
    raw = read(path).data_array[cross][..., 0]
    assert np.abs(np.angle(raw)).max() > 1.0


def test_spectrum_and_off_axis_beam_in_truth(clean) -> None:
    t = truth(clean.groups[TRANSIT_GROUP].truth_path)
    by_name = {s["name"]: s for s in t["sources"]}
    on, off = by_name["ON_AXIS"], by_name["OFF_AXIS"]
    assert on["pb_mid"] > 0.99
    assert off["min_offset_deg"] > 0.5
    theta = np.deg2rad(off["min_offset_deg"])
    assert off["pb_mid"] <= airy_beam(theta, 1.4e9, 4.65) + 1e-12
    assert 0.1 < off["pb_mid"] < 0.9


def test_truth_gains_reproduce_corrupted_data_exactly(clean, gained) -> None:
    t = read_truth(gained.groups[0].truth_path)
    assert "conj(G_p) G_q" in t.gain_convention
    assert t.gains.shape == (4, 24, 2)  # (time, antenna, feed)
    assert t.bandpass.shape == (24, 64, 2)  # (antenna, frequency, feed)
    assert np.std(np.abs(t.gains)) > 0.02
    assert np.std(np.angle(t.bandpass)) > 0.05
    big_g = t.antenna_gains()  # (time, antenna, frequency, feed)
    for path_c, path_g in zip(clean.groups[0].files, gained.groups[0].files, strict=True):
        uc, ug = read(path_c), read(path_g)
        cols = np.searchsorted(t.freqs_hz, uc.freq_array)
        assert np.allclose(t.freqs_hz[cols], uc.freq_array)
        ti = np.searchsorted(t.times_jd, uc.time_array - 1e-9)
        p = np.searchsorted(t.antenna_numbers, uc.ant_1_array)
        q = np.searchsorted(t.antenna_numbers, uc.ant_2_array)
        for pol in (0, 1):
            gp = big_g[ti, p][:, cols, pol]
            gq = big_g[ti, q][:, cols, pol]
            model = np.conj(gp) * gq * uc.data_array[..., pol]
            scale = np.abs(model).max()
            assert np.abs(ug.data_array[..., pol] - model).max() < 2e-5 * scale
        autos = ug.ant_1_array == ug.ant_2_array
        assert np.all(ug.data_array[autos].imag == 0)


def test_gains_are_shared_between_groups_and_drift_slowly(gained) -> None:
    g0 = complex_array(truth(gained.groups[0].truth_path)["gains"])
    g1 = complex_array(truth(gained.groups[1].truth_path)["gains"])
    # same antennas, five minutes later: small change, not a new draw
    ratio = g1 / g0
    assert np.abs(np.angle(ratio)).max() < np.deg2rad(5.0)
    assert np.abs(np.abs(ratio) - 1).max() < 0.02
    assert np.abs(np.angle(ratio)).max() > 0


def test_noise_level_matches_the_radiometer_equation(clean, messy, instrument) -> None:
    t = truth(messy.groups[0].truth_path)
    sigma = t["noise"]["sigma_jy"]
    width = instrument.band.channel_width(4)
    assert sigma == pytest.approx(5800.0 / np.sqrt(2 * width * 12.884902))
    rfi_cells = {(e["subband"], e["channel"]) for e in t["rfi"]}
    bursts = {e["subband"] for e in t["rfi"] if e["channel"] is None}
    quiet = [
        (pc, pm)
        for pc, pm in zip(clean.groups[0].files, messy.groups[0].files, strict=True)
        if parse_subband_filename(pc).subband not in bursts | {sb for sb, _ in rfi_cells}
    ]
    assert quiet
    uc, um = read(quiet[0][0]), read(quiet[0][1])
    cross = uc.ant_1_array != uc.ant_2_array
    diff = (um.data_array - uc.data_array)[cross]
    assert np.std(diff.real) == pytest.approx(sigma, rel=0.05)
    assert np.std(diff.imag) == pytest.approx(sigma, rel=0.05)
    autos = ~cross
    assert np.mean(um.data_array[autos].real - uc.data_array[autos].real) == pytest.approx(
        5800.0, rel=0.01
    )


def test_rfi_lands_where_truth_says(messy) -> None:
    t = truth(messy.groups[0].truth_path)
    spikes = [e for e in t["rfi"] if e["kind"] == "spike"]
    assert spikes
    sigma = t["noise"]["sigma_jy"]
    for e in spikes:
        path = next(
            p for p in messy.groups[0].files if parse_subband_filename(p).subband == e["subband"]
        )
        uv = read(path)
        cross = uv.ant_1_array != uv.ant_2_array
        chan = int(np.argmin(np.abs(uv.freq_array - e["freq_hz"])))
        at = uv.time_array == np.unique(uv.time_array)[e["time_index"]]
        hit = np.abs(uv.data_array[at & cross, chan, 0])
        assert np.median(hit) > 0.5 * e["amplitude_jy"] > 10 * sigma


def test_flux_by_group_changes_the_source_between_groups(messy) -> None:
    f = [
        {s["name"]: s["flux_jy"] for s in truth(g.truth_path)["sources"]}["OFF_AXIS"]
        for g in messy.groups
    ]
    assert f == [0.5, 1.5]
    t = truth(messy.groups[1].truth_path)
    assert t["flux_by_group"] == {"OFF_AXIS": [0.5, 1.5]}
