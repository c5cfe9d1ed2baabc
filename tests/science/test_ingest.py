"""File names, headers, wholeness and timestamp clustering."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from contimg.science.convert import CorruptFileError
from contimg.science.ingest import (
    FileNameError,
    SubbandFile,
    cluster_files,
    group_id_for,
    is_stable,
    probe_file,
    read_header,
    scan_directory,
    select_groups,
)
from contimg.science.simulate import simulate_groups

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def _files(t0: datetime, jitter: list[float], subbands=None) -> list[SubbandFile]:
    subbands = range(len(jitter)) if subbands is None else subbands
    return [
        SubbandFile(Path(f"/in/{sb}.hdf5"), sb, t0 + timedelta(seconds=round(j)))
        for sb, j in zip(subbands, jitter, strict=True)
    ]


def test_from_path_parses_the_name() -> None:
    f = SubbandFile.from_path("/in/2026-01-01T00:05:09_sb07.hdf5")
    assert f.subband == 7
    assert f.timestamp == T0 + timedelta(seconds=309)
    assert f.timestamp_str == "2026-01-01T00:05:09"
    with pytest.raises(FileNameError, match=r"junk\.hdf5"):
        SubbandFile.from_path("/in/junk.hdf5")


def test_jittered_groups_cluster_by_tolerance() -> None:
    rng = np.random.default_rng(5)
    files = []
    for k in range(5):
        jitter = [0.0, *rng.uniform(-30, 30, 15)]
        files += _files(T0 + timedelta(seconds=309 * k), jitter)
    rng.shuffle(files)
    groups = cluster_files(files, tolerance_s=60)
    assert [g.group_id for g in groups] == [
        (T0 + timedelta(seconds=309 * k)).strftime("%Y-%m-%dT%H:%M:%S") for k in range(5)
    ]
    assert all(g.complete and g.has_sb00 for g in groups)


def test_group_without_sb00_uses_earliest_timestamp() -> None:
    files = _files(T0, [4, -20, 9], subbands=[3, 8, 12])
    (group,) = cluster_files(files)
    assert group.group_id == "2025-12-31T23:59:40"
    assert not group.has_sb00
    assert group.missing == tuple(k for k in range(16) if k not in (3, 8, 12))
    assert group_id_for([*files, *_files(T0, [1], subbands=[0])]) == "2026-01-01T00:00:01"


def test_repeated_subband_splits_groups_even_within_tolerance() -> None:
    files = _files(T0, [0, 10]) + _files(T0 + timedelta(seconds=40), [0, 10])
    groups = cluster_files(files, tolerance_s=120)
    assert [len(g.files) for g in groups] == [2, 2]


def test_select_groups_by_time_and_id() -> None:
    files = _files(T0, [0] * 16) + _files(T0 + timedelta(hours=1), [0] * 16)
    groups = cluster_files(files)
    assert len(select_groups(groups, start=T0 + timedelta(minutes=30))) == 1
    assert select_groups(groups, group_id="2026-01-01T00:00:00")[0].first_timestamp == T0


@pytest.fixture(scope="module")
def one_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("hdr")
    (group,) = simulate_groups(d, "2026-01-01T00:00:00", dec_deg=16.3, scale="test")
    for path in group.files:
        if not path.name.endswith("_sb02.hdf5"):
            path.unlink()
    return next(p for p in group.files if p.name.endswith("_sb02.hdf5"))


def test_read_header_and_probe(one_file: Path, tmp_path: Path) -> None:
    header = read_header(one_file)
    assert header.dec_deg == pytest.approx(16.3)
    assert header.times_jd.size == 4
    assert header.freqs_hz.size == 4
    probed = probe_file(one_file, stable_wait_s=0.05)
    assert probed is not None
    assert probed.subband == 2
    assert probed.size == one_file.stat().st_size
    found, ignored = scan_directory(one_file.parent)
    assert [f.path for f in found] == [one_file]
    assert ignored == []
    truncated = tmp_path / one_file.name
    truncated.write_bytes(one_file.read_bytes()[:5000])
    with pytest.raises(CorruptFileError, match=re.escape(str(truncated))):
        probe_file(truncated)


def test_a_growing_file_is_not_whole(tmp_path: Path) -> None:
    import threading
    import time

    path = tmp_path / "2026-01-01T00:00:00_sb00.hdf5"
    path.write_bytes(b"x")
    stop = threading.Event()

    def grow() -> None:
        while not stop.is_set():
            with path.open("ab") as fh:
                fh.write(b"y" * 100)
            time.sleep(0.01)

    writer = threading.Thread(target=grow)
    writer.start()
    try:
        assert not is_stable(path, 0.1)
        assert probe_file(path, stable_wait_s=0.1) is None
    finally:
        stop.set()
        writer.join()
    assert not is_stable(tmp_path / "missing.hdf5", 0)
