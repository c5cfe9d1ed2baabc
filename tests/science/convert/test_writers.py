"""Both writers: same MS content, ascending contiguous band, one field per integration."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from casacore import tables
from tests.science.convert.conftest import GROUP_START, SimGroup

from contimg.config.settings import ConversionSettings
from contimg.science.convert import WRITERS, ConvertedMS, convert_group
from contimg.science.convert.phasing import rotate_and_conjugate


def _col(ms: ConvertedMS, column: str, sub: str = "") -> np.ndarray:
    name = f"{ms.path}/{sub}" if sub else str(ms.path)
    with tables.table(name, ack=False) as t:
        return t.getcol(column)


def test_registry_names_both_writers() -> None:
    assert set(WRITERS) == {"fast", "pyuvdata"}


def test_result_describes_the_ms(fast_ms: ConvertedMS, sim_group: SimGroup) -> None:
    assert fast_ms.path.name == f"{GROUP_START}.ms"
    assert fast_ms.path.is_dir()
    assert fast_ms.path.parent.name == "ms"
    assert fast_ms.group_id == GROUP_START
    assert fast_ms.n_fields == 4
    assert fast_ms.n_channels == 64
    assert fast_ms.n_antennas == 24
    assert fast_ms.dec_deg == pytest.approx(54.57)
    assert fast_ms.start_mjd < fast_ms.mid_mjd < fast_ms.end_mjd
    assert (fast_ms.end_mjd - fast_ms.start_mjd) * 86400 == pytest.approx(4 * 12.884902, abs=1e-3)
    assert fast_ms.missing_subbands == ()
    # nothing left behind in scratch
    assert not any((fast_ms.path.parent.parent / "scratch").iterdir())


@pytest.mark.parametrize(
    "column", ["DATA", "FLAG", "UVW", "TIME", "ANTENNA1", "ANTENNA2", "FIELD_ID"]
)
def test_writers_agree(fast_ms: ConvertedMS, reference_ms: ConvertedMS, column: str) -> None:
    a, b = _col(fast_ms, column), _col(reference_ms, column)
    assert a.shape == b.shape
    if column == "DATA":
        scale = np.abs(b).max()
        assert scale > 1.0  # real signal, not zeros
        np.testing.assert_allclose(a, b, rtol=0, atol=4 * np.finfo(np.float32).eps * scale)
    elif column in ("UVW", "TIME"):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-6)
    else:
        np.testing.assert_array_equal(a, b)


def test_field_phase_centres_agree(fast_ms: ConvertedMS, reference_ms: ConvertedMS) -> None:
    a, b = _col(fast_ms, "PHASE_DIR", "FIELD"), _col(reference_ms, "PHASE_DIR", "FIELD")
    np.testing.assert_allclose(a, b, rtol=0, atol=1e-12)
    assert list(_col(fast_ms, "NAME", "FIELD")) == list(_col(reference_ms, "NAME", "FIELD"))


@pytest.mark.parametrize("writer", ["fast", "pyuvdata"])
def test_band_ascending_contiguous_one_field_per_integration(convert_with, writer: str) -> None:
    ms = convert_with(writer)
    freqs = _col(ms, "CHAN_FREQ", "SPECTRAL_WINDOW")
    assert freqs.shape == (1, 64)
    steps = np.diff(freqs[0])
    np.testing.assert_allclose(steps, 11.71875e6 / 4, rtol=1e-9)
    assert freqs[0, 0] == pytest.approx(1498.75e6 - 16 * 11.71875e6 + 11.71875e6 / 8)
    times, field_ids = _col(ms, "TIME"), _col(ms, "FIELD_ID")
    unique_times = np.unique(times)
    assert len(_col(ms, "NAME", "FIELD")) == unique_times.size == 4
    for i, t in enumerate(unique_times):
        assert set(field_ids[times == t]) == {i}
    # fields follow the meridian: RA advances with LST (~15.04 arcsec/s), Dec is the same
    phase_dir = _col(ms, "PHASE_DIR", "FIELD")[:, 0, :]
    dra = np.rad2deg(np.diff(phase_dir[:, 0])) * 3600
    np.testing.assert_allclose(dra, 12.884902 * 15.041, rtol=1e-2)  # ICRS, not apparent
    np.testing.assert_allclose(np.diff(phase_dir[:, 1]), 0, atol=5e-6)  # < 1 arcsec (precession)
    names = _col(ms, "NAME", "FIELD")
    assert names[0] == "meridian_2025-10-17T14:30:06.4"
    assert _col(ms, "TELESCOPE_NAME", "OBSERVATION")[0] == "DSA_110"
    ant_names = _col(ms, "NAME", "ANTENNA")
    assert len(ant_names) == 117
    assert ant_names[0] == "DSA-001"
    assert ant_names[116] == "DSA-117"


def test_fast_ms_has_all_subtables(fast_ms: ConvertedMS) -> None:
    with tables.table(str(fast_ms.path), ack=False) as t:
        keywords = set(t.getkeywords())
    for sub in (
        "ANTENNA",
        "SPECTRAL_WINDOW",
        "POLARIZATION",
        "DATA_DESCRIPTION",
        "FIELD",
        "SOURCE",
        "OBSERVATION",
        "FEED",
        "STATE",
        "POINTING",
        "HISTORY",
        "PROCESSOR",
        "FLAG_CMD",
    ):
        assert sub in keywords, sub


def test_rotation_matches_direct_exponent() -> None:
    rng = np.random.default_rng(3)
    data = (rng.standard_normal((50, 48, 2)) + 1j * rng.standard_normal((50, 48, 2))).astype(
        np.complex64
    )
    delta_w = rng.uniform(-2000, 2000, 50)
    freqs = 1.4e9 + 244140.625 * np.arange(48)
    expected = np.conj(
        data * np.exp(-2j * np.pi * np.outer(delta_w, freqs) / 299792458.0)[:, :, None]
    )
    got = data.copy()
    rotate_and_conjugate(got, delta_w, freqs)
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-5)


def test_worker_processes_build_the_same_ms(
    sim_group: SimGroup, fast_ms: ConvertedMS, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Many small blocks through the ring of shared slots: identical DATA and FLAG."""
    import contimg.science.convert._fast as fast_writer

    monkeypatch.setattr(fast_writer, "block_rows_for", lambda *_args: 70)  # 18 blocks
    settings = ConversionSettings(writer="fast", n_workers=2)
    ms = convert_group(sim_group.files, tmp_path / "ms", tmp_path / "scratch", settings)
    for column in ("DATA", "FLAG"):
        np.testing.assert_array_equal(_col(ms, column), _col(fast_ms, column))


def test_channel_order_inside_a_file_does_not_matter(
    sim_group: SimGroup, fast_ms: ConvertedMS, tmp_path: Path
) -> None:
    """A subband stored with descending channels gives the same MS (sorted by frequency)."""
    import os

    import h5py

    files = []
    for path in sim_group.files:
        target = tmp_path / path.name
        if path.name.endswith("_sb04.hdf5"):
            target.write_bytes(path.read_bytes())
            with h5py.File(target, "r+") as fh:
                for name in ("Header/freq_array", "Data/visdata", "Data/flags", "Data/nsamples"):
                    values = fh[name][()]
                    fh[name][...] = (
                        values[..., ::-1] if name.endswith("freq_array") else values[:, ::-1]
                    )
                fh["Header/channel_width"][...] = -np.abs(fh["Header/channel_width"][()])
        else:
            os.symlink(path, target)
        files.append(target)
    ms = convert_group(files, tmp_path / "ms", tmp_path / "scratch", ConversionSettings())
    np.testing.assert_array_equal(_col(ms, "DATA"), _col(fast_ms, "DATA"))
    np.testing.assert_array_equal(
        _col(ms, "CHAN_FREQ", "SPECTRAL_WINDOW"), _col(fast_ms, "CHAN_FREQ", "SPECTRAL_WINDOW")
    )
