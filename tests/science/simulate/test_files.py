from datetime import timedelta

import h5py
import numpy as np
import pytest
from tests.science.simulate._helpers import read, truth

from contimg.instrument import parse_subband_filename, parse_timestamp

JITTER = 30.0
GROUP_SPACING_S = 24 * 12.884902


def test_sixteen_files_per_group_named_with_bounded_jitter(clean) -> None:
    for g in clean.groups:
        assert len(g.files) == 16
        parsed = sorted(parse_subband_filename(p) for p in g.files)
        assert [p.subband for p in sorted(parsed, key=lambda p: p.subband)] == list(range(16))
        sb0 = next(p for p in parsed if p.subband == 0)
        assert sb0.timestamp_str == g.group_id
        group_time = parse_timestamp(g.group_id)
        offsets = [(p.timestamp - group_time).total_seconds() for p in parsed]
        assert max(abs(o) for o in offsets) <= JITTER + 1  # +1: names floor to seconds
        assert len({p.timestamp for p in parsed}) > 4  # they do jitter
        assert g.truth_path.name == f"{g.group_id}_truth.json"
        assert g.truth_path.exists()


def test_consecutive_groups_keep_full_scale_spacing(clean) -> None:
    a, b = clean.groups
    assert (b.start - a.start).total_seconds() == pytest.approx(GROUP_SPACING_S, abs=1e-3)
    ta, tb = truth(a.truth_path), truth(b.truth_path)
    assert (tb["times_jd"][0] - ta["times_jd"][0]) * 86400 == pytest.approx(
        GROUP_SPACING_S, abs=1e-3
    )
    assert parse_timestamp(b.group_id) - parse_timestamp(a.group_id) in (
        timedelta(seconds=309),
        timedelta(seconds=310),
    )


def test_file_contents_follow_the_devplan_format(clean, instrument) -> None:
    g = clean.groups[0]
    uvs = {parse_subband_filename(p).subband: read(p) for p in g.files}
    uv = uvs[0]
    assert uv.telescope.name == "OVRO_MMA"
    lat, lon, alt = uv.telescope.location_lat_lon_alt_degrees
    assert (lat, lon, alt) == pytest.approx((37.2314, -118.2817, 1222.0), abs=1e-6)
    assert len(uv.telescope.antenna_names) == 117
    assert uv.telescope.antenna_names[0] == "DSA-001"
    assert uv.telescope.antenna_numbers.tolist() == list(range(1, 118))
    assert uv.Nants_data == 24
    assert 103 in uv.ant_1_array  # the default reference antenna carries data
    assert uv.extra_keywords["phase_center_dec"] == pytest.approx(np.deg2rad(54.57))
    assert uv.phase_center_catalog[0]["cat_type"] == "unprojected"
    assert uv.polarization_array.tolist() == [-5, -6]
    assert uv.Nspws == 1
    assert uv.Ntimes == 4
    assert np.allclose(uv.integration_time, 12.884902)
    assert uv.vis_units == "uncalib"
    assert np.any(uv.ant_1_array == uv.ant_2_array)  # autos included
    assert not uv.flag_array.any()
    assert np.all(uv.nsample_array == 1.0)
    # time-major blt order, same baselines every time
    nbl = uv.Nbls
    assert np.all(np.diff(uv.time_array.reshape(4, nbl), axis=1) == 0)
    assert np.all(uv.ant_1_array.reshape(4, nbl) == uv.ant_1_array[:nbl])
    # uvw are pyuvdata's unprojected (ENU) ones
    uvw = uv.uvw_array.copy()
    uv.set_uvws_from_antenna_positions()
    assert np.allclose(uv.uvw_array, uvw, atol=1e-6)
    with h5py.File(g.files[0], "r") as f:
        assert f["Data/visdata"].dtype.itemsize == 8  # complex64 on disk
    # identical times in every file; channels ascend; sb00 highest; contiguous band
    for k, u in uvs.items():
        assert np.array_equal(u.time_array, uv.time_array)
        assert np.all(np.diff(u.freq_array) > 0)
        assert np.all(u.channel_width > 0)
        lo, hi = instrument.band.subband_edges(k)
        assert lo < u.freq_array.min()
        assert u.freq_array.max() < hi
    band = np.concatenate([uvs[k].freq_array for k in range(15, -1, -1)])
    assert np.allclose(np.diff(band), 11.71875e6 / 4)
    assert uvs[0].freq_array.min() > uvs[1].freq_array.max()


def test_missing_and_truncated_files(messy) -> None:
    g0, g1 = messy.groups
    assert len(g0.files) == 16
    assert g1.missing_subbands == (7,)
    assert g1.truncated_subbands == (3,)
    assert len(g1.files) == 15
    assert 7 not in {parse_subband_filename(p).subband for p in g1.files}
    bad = next(p for p in g1.files if parse_subband_filename(p).subband == 3)
    good = next(p for p in g1.files if parse_subband_filename(p).subband == 2)
    assert bad.stat().st_size < 0.6 * good.stat().st_size
    with pytest.raises((OSError, KeyError, ValueError)):
        read(bad)
    t = truth(g1.truth_path)
    assert t["missing_subbands"] == [7]
    assert t["truncated_files"][0]["subband"] == 3
    status = {f["subband"]: f["status"] for f in t["files"]}
    assert status[7] == "missing"
    assert status[3] == "truncated"
    assert status[0] == "written"
    assert not list(messy.outdir.glob(".*partial"))


def test_same_seed_same_bytes(tmp_path, start, instrument) -> None:
    from tests.science.simulate.conftest import SKY

    from contimg.science.simulate import Corruptions, simulate_groups

    corr = Corruptions(gains=True, noise=True, rfi=True)
    kw = dict(scale="test", seed=3, corruptions=corr, instrument=instrument)
    a = simulate_groups(tmp_path / "a", start, 1, 54.57, SKY, **kw)[0]
    b = simulate_groups(tmp_path / "b", start, 1, 54.57, SKY, **kw)[0]
    assert [p.name for p in a.files] == [p.name for p in b.files]
    assert np.array_equal(read(a.files[5]).data_array, read(b.files[5]).data_array)
    c = simulate_groups(tmp_path / "c", start, 1, 54.57, SKY, **{**kw, "seed": 4})[0]
    assert not np.array_equal(read(a.files[5]).data_array, read(c.files[5]).data_array)
