"""Missing subbands (fail / flag) and corrupt files: errors name the group or the file."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from casacore import tables
from tests.science.convert.conftest import GROUP_START, SimGroup

from contimg.config.settings import ConversionSettings
from contimg.science.convert import (
    ConversionError,
    CorruptFileError,
    MissingSubbandsError,
    convert_group,
)


def _link_group(sim_group: SimGroup, dest: Path, skip: tuple[int, ...] = ()) -> list[Path]:
    dest.mkdir(parents=True, exist_ok=True)
    out = []
    for path in sim_group.files:
        if int(path.stem[-2:]) in skip:
            continue
        target = dest / path.name
        os.symlink(path, target)
        out.append(target)
    return out


def test_missing_subband_fails_by_default(sim_group: SimGroup, tmp_path: Path) -> None:
    files = _link_group(sim_group, tmp_path / "in", skip=(5,))
    with pytest.raises(MissingSubbandsError, match="sb05") as err:
        convert_group(files, tmp_path / "ms", tmp_path / "scratch", ConversionSettings())
    assert err.value.group_id == GROUP_START
    assert err.value.missing == (5,)
    assert not (tmp_path / "ms" / f"{GROUP_START}.ms").exists()


@pytest.mark.parametrize("writer", ["fast", "pyuvdata"])
def test_missing_subband_flag_writes_the_gap_flagged(
    sim_group: SimGroup, tmp_path: Path, writer: str
) -> None:
    files = _link_group(sim_group, tmp_path / "in", skip=(5,))
    settings = ConversionSettings(writer=writer, missing_subbands="flag", n_workers=1)
    ms = convert_group(files, tmp_path / "ms", tmp_path / "scratch", settings)
    assert ms.missing_subbands == (5,)
    assert ms.n_channels == 64
    with tables.table(f"{ms.path}/SPECTRAL_WINDOW", ack=False) as spw:
        freqs = spw.getcol("CHAN_FREQ")[0]
    np.testing.assert_allclose(np.diff(freqs), 11.71875e6 / 4, rtol=1e-9)
    with tables.table(str(ms.path), ack=False) as t:
        flags, data = t.getcol("FLAG"), t.getcol("DATA")
    # sb05 covers [f_top - 6 B, f_top - 5 B): channels 40..43 in ascending order
    gap = (freqs > 1498.75e6 - 6 * 11.71875e6) & (freqs < 1498.75e6 - 5 * 11.71875e6)
    assert np.flatnonzero(gap).tolist() == [40, 41, 42, 43]
    assert flags[:, gap].all()
    assert not flags[:, ~gap].any()
    assert np.all(data[:, gap] == 0)
    assert np.abs(data[:, ~gap]).max() > 1


def test_truncated_file_names_the_file(sim_group: SimGroup, tmp_path: Path) -> None:
    files = _link_group(sim_group, tmp_path / "in", skip=(7,))
    bad = tmp_path / "in" / sim_group.files[7].name
    payload = sim_group.files[7].read_bytes()
    bad.write_bytes(payload[: len(payload) // 2])
    with pytest.raises(CorruptFileError) as err:
        convert_group([*files, bad], tmp_path / "ms", tmp_path / "scratch", ConversionSettings())
    assert err.value.path == bad
    assert str(bad) in str(err.value)
    assert isinstance(err.value, ConversionError)
    assert not (tmp_path / "ms" / f"{GROUP_START}.ms").exists()
    assert not (tmp_path / "scratch").exists() or not any((tmp_path / "scratch").iterdir())


def test_corrupt_data_in_worker_names_the_file(sim_group: SimGroup, tmp_path: Path) -> None:
    """A file whose header is fine but whose data cannot be read fails in the load step."""
    import h5py

    files = _link_group(sim_group, tmp_path / "in", skip=(3,))
    bad = tmp_path / "in" / sim_group.files[3].name
    bad.write_bytes(sim_group.files[3].read_bytes())
    with h5py.File(bad, "r+") as fh:
        del fh["Data/flags"]
    settings = ConversionSettings(n_workers=2)
    with pytest.raises(CorruptFileError, match=str(bad).replace("+", r"\+")):
        convert_group([*files, bad], tmp_path / "ms", tmp_path / "scratch", settings)


def test_existing_ms_is_not_overwritten(fast_ms, sim_group: SimGroup) -> None:
    with pytest.raises(ConversionError, match="already exists"):
        convert_group(
            sim_group.files,
            fast_ms.path.parent,
            fast_ms.path.parent / "scratch",
            ConversionSettings(),
        )
