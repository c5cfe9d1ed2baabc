"""Time to simulate one full-scale DSA-110 group (96 antennas, 768 channels, 24 integrations).

A field of 20 random sources plus 0834+555 along the +54.57 strip, simulated twice: clean,
and with every corruption (gains, bandpass, thermal noise, RFI). A test-scale group first
pays the one-off costs (imports, pyuvdata's numba compilation). Baseline in the same
process: writing the same visibility bytes (16 files of zeros) with h5py. Prints per-group
wall and CPU seconds, MB/s of visibility payload and the ratio to the baseline; the last line
is ``simulate_full_group_s=<median wall seconds of a corrupted full group>``.
"""

from __future__ import annotations

import shutil
import statistics
import tempfile
import time
from pathlib import Path

import h5py
import numpy as np

from contimg.instrument import Instrument
from contimg.science.simulate import Corruptions, simulate_groups, start_for_transit, strip_sky

GROUPS = 2


def baseline_write(outdir: Path, n_blt: int, n_chan: int) -> float:
    """Seconds to write 16 files of complex64 zeros, (n_blt, n_chan, 2) each."""
    zeros = np.zeros((n_blt, n_chan, 2), dtype=np.complex64)
    t = time.perf_counter()
    for k in range(16):
        with h5py.File(outdir / f"raw_{k:02d}.h5", "w") as f:
            f.create_dataset("visdata", data=zeros, chunks=True)
    return time.perf_counter() - t


def main() -> None:
    inst = Instrument.from_settings()
    start = start_for_transit(
        128.728767, "2025-10-17", GROUPS, dec_deg=55.572519, scale="full", instrument=inst
    )
    sky = strip_sky(20, start, GROUPS, 54.57, seed=3, instrument=inst)
    with tempfile.TemporaryDirectory(prefix="contimg-bench-sim-") as tmp:
        root = Path(tmp)
        simulate_groups(root / "warm", start, 1, 54.57, sky, "0834+555", "test", instrument=inst)
        results: dict[str, list[tuple[float, float]]] = {}
        for label, corr in (
            ("clean", Corruptions()),
            ("corrupted", Corruptions(gains=True, bandpass=True, noise=True, rfi=True)),
        ):
            out = root / label
            walls, cpus = [], []
            for i in range(GROUPS):
                c0, w0 = time.process_time(), time.perf_counter()
                simulate_groups(
                    out,
                    start,
                    1,
                    54.57,
                    sky,
                    "0834+555",
                    "full",
                    1,
                    corr,
                    first_group_index=i,
                    instrument=inst,
                )
                walls.append(time.perf_counter() - w0)
                cpus.append(time.process_time() - c0)
            results[label] = list(zip(walls, cpus, strict=True))
            shutil.rmtree(out)
        n_ant = 96
        n_blt = 24 * n_ant * (n_ant + 1) // 2
        payload_mb = 16 * n_blt * 48 * 2 * 8 / 1e6
        raw_dir = root / "raw"
        raw_dir.mkdir()
        base = statistics.median(baseline_write(raw_dir, n_blt, 48) for _ in range(2))
    print(f"visibility payload per group: {payload_mb:.0f} MB; baseline h5py write {base:.2f} s")
    for label, rows in results.items():
        wall = statistics.median(w for w, _ in rows)
        cpu = statistics.median(c for _, c in rows)
        print(
            f"{label:>9}: {wall:6.2f} s wall, {cpu:6.2f} s CPU per full group, "
            f"{payload_mb / wall:6.0f} MB/s, {wall / base:5.1f}x the raw write"
        )
    print(f"simulate_full_group_s={statistics.median(w for w, _ in results['corrupted']):.2f}")


if __name__ == "__main__":
    main()
