"""Flagging: the DSA-110 AOFlagger strategy on simulated groups (clean, and with RFI)."""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from casacore.tables import table

from contimg.config.settings import ConversionSettings, FlaggingSettings
from contimg.science.convert import convert_group
from contimg.science.flag import FlaggingError, flag_ms
from contimg.science.simulate import DEFAULT_START, Corruptions, simulate_groups, strip_sky

needs_aoflagger = pytest.mark.skipif(
    shutil.which("aoflagger") is None, reason="the aoflagger binary is not installed"
)
SUBBAND_HZ = 11.71875e6
F_TOP = 1498.75e6


@dataclass(frozen=True)
class FlagSim:
    clean_ms: Path
    rfi_ms: Path
    rfi_truth: dict


@pytest.fixture(scope="module")
def flag_sim(tmp_path_factory: pytest.TempPathFactory) -> FlagSim:
    root = tmp_path_factory.mktemp("flagsim")
    sky = strip_sky(30, DEFAULT_START, 1, 54.57, seed=3)
    out = {}
    for rfi in (False, True):
        corr = Corruptions(gains=True, bandpass=True, noise=True, rfi=rfi)
        (group,) = simulate_groups(
            root / f"in{int(rfi)}",
            start=DEFAULT_START,
            sky=sky,
            scale="test",
            seed=11,
            corruptions=corr,
        )
        ms = convert_group(
            group.files,
            root / f"ms{int(rfi)}",
            root / "scratch",
            ConversionSettings(),
            group_id=group.group_id,
        ).path
        out[rfi] = (ms, json.loads(group.truth_path.read_text()))
    return FlagSim(out[False][0], out[True][0], out[True][1])


def _copy(ms: Path, tmp_path: Path) -> Path:
    dst = tmp_path / ms.name
    shutil.copytree(ms, dst)
    return dst


def _rfi_mask(ms: Path, truth: dict) -> tuple[np.ndarray, np.ndarray]:
    """Injected-RFI cells (row, channel) and the cross-correlation rows of the MS."""
    with table(str(ms), ack=False) as tb:
        times = tb.getcol("TIME")
        cross = tb.getcol("ANTENNA1") != tb.getcol("ANTENNA2")
    with table(str(ms / "SPECTRAL_WINDOW"), ack=False) as tb:
        freqs = tb.getcol("CHAN_FREQ")[0]
    t_index = np.searchsorted(np.unique(times), times)
    mask = np.zeros((len(times), len(freqs)), bool)
    for ev in truth["rfi"]:
        if ev["freq_hz"] is not None:
            chans = np.flatnonzero(np.isclose(freqs, ev["freq_hz"]))
        else:
            k = ev["subband"]
            chans = np.flatnonzero(
                (freqs >= F_TOP - (k + 1) * SUBBAND_HZ) & (freqs < F_TOP - k * SUBBAND_HZ)
            )
        rows = (
            np.ones(len(times), bool) if ev["time_index"] is None else t_index == ev["time_index"]
        )
        mask[np.ix_(rows, chans)] = True
    return mask, cross


@needs_aoflagger
def test_strategy_flags_little_clean_data(flag_sim: FlagSim, tmp_path: Path) -> None:
    ms = _copy(flag_sim.clean_ms, tmp_path)
    result = flag_ms(ms, FlaggingSettings(), log_dir=tmp_path / "logs")
    assert result.before == 0.0
    assert result.by_reason["autocorrelations"] > 0
    assert result.by_reason["zeros"] == 0.0
    assert result.by_reason["rfi"] < 0.02
    assert result.by_reason["clip"] < 0.001  # the amplitude clip leaves clean data alone
    assert result.cross_after < 0.02
    assert (tmp_path / "logs" / "aoflagger.log").is_file()


@needs_aoflagger
@pytest.mark.parametrize("read_mode", ["memory", "indirect", "direct"])
def test_strategy_catches_simulated_rfi(flag_sim: FlagSim, tmp_path: Path, read_mode: str) -> None:
    ms = _copy(flag_sim.rfi_ms, tmp_path)
    result = flag_ms(ms, FlaggingSettings(aoflagger_read_mode=read_mode, clip_sigma=None))
    mask, cross = _rfi_mask(ms, flag_sim.rfi_truth)
    with table(str(ms), ack=False) as tb:
        flagged = tb.getcol("FLAG").all(axis=-1)
    kinds = {ev["kind"] for ev in flag_sim.rfi_truth["rfi"]}
    assert {"spike", "channel", "burst"} <= kinds
    assert flagged[cross][mask[cross]].mean() > 0.98  # the injected RFI is caught
    assert flagged[cross][~mask[cross]].mean() < 0.02  # and little else
    assert result.by_reason["rfi"] > 0.5 * mask[cross].mean()


@needs_aoflagger
def test_aoflagger_copy_links_only_the_visibilities(flag_sim: FlagSim, tmp_path: Path) -> None:
    """The joined copy shares DATA's bulk file with the MS, and flagging leaves DATA unchanged."""
    from contimg.science.flag import _copy_sharing_data

    ms = _copy(flag_sim.rfi_ms, tmp_path)
    copy = tmp_path / "copy" / ms.name
    _copy_sharing_data(ms, copy)
    with table(str(ms), ack=False) as tb:
        (data_manager,) = (dm for dm in tb.getdminfo().values() if "DATA" in dm["COLUMNS"])
        before = tb.getcol("DATA")
    shared = {
        path.name
        for path in ms.iterdir()
        if path.is_file() and path.stat().st_ino == (copy / path.name).stat().st_ino
    }
    assert shared == {f"table.f{data_manager['SEQNR']}_TSM0"}
    flag_ms(ms, FlaggingSettings(), scratch_dir=tmp_path)
    with table(str(ms), ack=False) as tb:
        np.testing.assert_array_equal(tb.getcol("DATA"), before)
        assert tb.getcol("FLAG").any()


@needs_aoflagger
def test_drift_scan_fields_are_flagged_as_one_sequence(flag_sim: FlagSim, tmp_path: Path) -> None:
    """One field per integration (a converted group) is flagged as one time sequence.

    Per field AOFlagger sees single-integration spectra; joined it sees the group's time axis:
    every injected event is still caught and less clean data is flagged. The MS keeps its
    fields, and the scratch copy flagged in their place is removed.
    """
    with table(str(flag_sim.rfi_ms), ack=False) as tb:
        fields, times = tb.getcol("FIELD_ID"), tb.getcol("TIME")
    assert np.unique(fields).size == np.unique(times).size > 1
    mask, cross = _rfi_mask(flag_sim.rfi_ms, flag_sim.rfi_truth)
    flagged = {}
    for join in (True, False):
        ms = _copy(flag_sim.rfi_ms, tmp_path / str(join))
        scratch = tmp_path / f"scratch{join}"
        scratch.mkdir()
        settings = FlaggingSettings(join_drift_fields=join, clip_sigma=None)
        flag_ms(ms, settings, scratch_dir=scratch)
        with table(str(ms), ack=False) as tb:
            flagged[join] = tb.getcol("FLAG").all(axis=-1)
            np.testing.assert_array_equal(tb.getcol("FIELD_ID"), fields)
        assert not list(scratch.iterdir())
        assert flagged[join][cross][mask[cross]].mean() > 0.98
    false = {j: f[cross][~mask[cross]].mean() for j, f in flagged.items()}
    assert false[True] <= false[False]


@needs_aoflagger
@pytest.mark.parametrize("clip_sigma", [10.0, None])
def test_clip_catches_a_burst_in_one_integration(
    flag_sim: FlagSim, tmp_path: Path, clip_sigma: float | None
) -> None:
    """A 200 Jy burst over one subband in one of four integrations: clipped, and only it."""
    ms = _copy(flag_sim.clean_ms, tmp_path)
    with table(str(ms), readonly=False, ack=False) as tb:
        times = tb.getcol("TIME")
        cross = tb.getcol("ANTENNA1") != tb.getcol("ANTENNA2")
        burst = np.zeros((len(times), tb.getcol("FLAG").shape[1]), bool)
        burst[np.ix_(cross & (times == np.unique(times)[3]), np.arange(36, 40))] = True
        data = tb.getcol("DATA")
        data[burst] += 200.0
        tb.putcol("DATA", data)
    result = flag_ms(ms, FlaggingSettings(backend="none", clip_sigma=clip_sigma))
    with table(str(ms), ack=False) as tb:
        flagged = tb.getcol("FLAG").all(axis=-1)
    if clip_sigma is None:
        assert "clip" not in result.by_reason
        assert not flagged[burst].any()
        return
    assert flagged[burst].all()
    assert flagged[cross & ~burst.any(axis=1)].mean() < 0.001
    assert result.by_reason["clip"] == pytest.approx(burst.mean(), rel=0.05)


def test_existing_flags_are_kept_and_zeros_flagged(flag_sim: FlagSim, tmp_path: Path) -> None:
    ms = _copy(flag_sim.clean_ms, tmp_path)
    with table(str(ms), readonly=False, ack=False) as tb:
        data = tb.getcol("DATA")
        data[10:20, 5] = 0
        tb.putcol("DATA", data)
        flags = tb.getcol("FLAG")
        flags[100:110] = True
        tb.putcol("FLAG", flags)
    result = flag_ms(ms, FlaggingSettings())
    with table(str(ms), ack=False) as tb:
        after = tb.getcol("FLAG")
    assert after[100:110].all()
    assert after[10:20, 5].all()
    assert result.before > 0
    assert result.by_reason["zeros"] > 0


@pytest.mark.casa
@pytest.mark.slow
def test_casa_fallback_backend(flag_sim: FlagSim, tmp_path: Path) -> None:
    ms = _copy(flag_sim.rfi_ms, tmp_path)
    result = flag_ms(ms, FlaggingSettings(backend="casa"), scratch_dir=tmp_path / "scratch")
    mask, cross = _rfi_mask(ms, flag_sim.rfi_truth)
    with table(str(ms), ack=False) as tb:
        flagged = tb.getcol("FLAG").all(axis=-1)
    assert result.backend == "casa"
    assert flagged[cross][mask[cross]].mean() > 0.5
    assert not list((tmp_path / "scratch").iterdir())  # CASA's temporaries are removed


def test_too_much_flagged_fails_and_says_so(flag_sim: FlagSim, tmp_path: Path) -> None:
    ms = _copy(flag_sim.clean_ms, tmp_path)
    with table(str(ms), readonly=False, ack=False) as tb:
        tb.putcol("FLAG", np.ones(tb.getcol("FLAG").shape, bool))
    with pytest.raises(FlaggingError, match="max_flag_fraction"):
        flag_ms(ms, FlaggingSettings(backend="none"))
    # a calibrator group goes on to a rejected set instead
    result = flag_ms(ms, FlaggingSettings(backend="none"), enforce_limit=False)
    assert result.cross_after == 1.0


def test_masked_row_statistics_match_nan_median() -> None:
    """The vectorised masked median/MAD of the amplitude clip against NumPy's NaN-aware one.

    The median is one of the middle unflagged values (within one rank of NumPy's, which
    averages the two middle ones of an even count); the spread follows within 2 %.
    """
    from contimg.science.flag import _robust_row_stats

    rng = np.random.default_rng(11)
    amp = rng.rayleigh(1.0, size=(300, 768 * 2)).astype(np.float32)  # a full group's row
    flagged = rng.random(amp.shape) < rng.uniform(0.0, 0.8, size=(300, 1))
    flagged[:5] = False
    med, sigma = _robust_row_stats(amp, flagged)
    masked = np.where(flagged, np.nan, amp)
    ref_med = np.nanmedian(masked, axis=1)
    ref_sigma = 1.4826 * np.nanmedian(np.abs(masked - ref_med[:, None]), axis=1)
    for row in range(len(amp)):
        values = np.sort(amp[row][~flagged[row]])
        j = (values.size - 1) // 2
        assert values[max(j - 1, 0)] - 1e-6 <= med[row] <= values[j + 1] + 1e-6
    # a shift of one rank moves the spread by about 1/(unflagged cells): 300 or more here
    assert np.allclose(med, ref_med, rtol=0.02)
    assert np.allclose(sigma, ref_sigma, rtol=0.02)


@pytest.mark.parametrize("threads", [2, 3])
def test_threaded_clip_is_the_clip(threads: int) -> None:
    """Blocks of rows clipped in threads give the flags of one pass, and no copy when clean."""
    from concurrent.futures import ThreadPoolExecutor

    from contimg.science.flag import _clip_rows, _clip_rows_threaded

    rng = np.random.default_rng(5)
    shape = (1001, 96, 2)
    data = (rng.standard_normal(shape) + 1j * rng.standard_normal(shape)).astype(np.complex64)
    flags = rng.random(shape) < 0.05
    with ThreadPoolExecutor(threads) as pool:
        assert _clip_rows_threaded(data, flags, 10.0, pool, threads) is flags
        hot = rng.choice(shape[0], 40, replace=False)
        flags[hot, 17] = False
        data[hot[:20], 17, 0] += 100.0  # either correlation flags the channel in both
        data[hot[20:], 17, 1] += 100.0
        expected = _clip_rows(data, flags, 10.0)
        got = _clip_rows_threaded(data, flags, 10.0, pool, threads)
    assert got is not flags
    np.testing.assert_array_equal(got, expected)
    newly = got & ~flags
    assert set(np.flatnonzero(newly.any(axis=(1, 2)))) == set(hot.tolist())
    assert not np.delete(newly, 17, axis=1).any()  # only the hot channel, in both correlations
    assert got[hot, 17].all()
