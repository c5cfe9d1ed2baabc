"""Conversion of one full-scale group: the fast writer against the pyuvdata reference path.

One DSA-110 group at full scale (96 antennas with autos, 16 subbands x 48 channels, 24
integrations, XX/YY) is simulated into a temporary directory, read once so both paths start
from the page cache, and converted to a Measurement Set by ``fast`` (python-casacore, parallel
subband reads) and by ``pyuvdata`` (read + combine + phase + ``write_ms``) in this run, from
the same files. For scale, the disk's sequential write speed for the same number of bytes is
measured with a dd-like write + fsync. Prints seconds and MB/s of visibility payload (complex64
DATA) for each path, the ratio and the fraction of the write bandwidth; the last line is
``conversion_speedup_vs_pyuvdata=<ratio>`` (issue 3 targets: >= 5, and >= 50 % of the write
bandwidth).
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from contimg.config.settings import ConversionSettings
from contimg.instrument.model import Instrument
from contimg.science.convert import ConvertedMS, convert_group
from contimg.science.simulate import Corruptions, simulate_groups, strip_sky

START = "2025-10-17T14:30:00"
DEC_DEG = 54.57


def disk_write_speed(directory: Path, n_bytes: int, block: int = 64 << 20) -> float:
    """Write ``n_bytes`` sequentially and fsync; return bytes per second."""
    buf = np.random.default_rng(0).integers(0, 255, block, dtype=np.uint8).tobytes()
    path = directory / "dd.bin"
    t0 = time.perf_counter()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        left = n_bytes
        while left > 0:
            left -= os.write(fd, buf[: min(block, left)])
        os.fsync(fd)
    finally:
        os.close(fd)
    seconds = time.perf_counter() - t0
    path.unlink()
    return n_bytes / seconds


def warm(files: tuple[Path, ...]) -> int:
    """Read every file once (page cache) and return the bytes read."""
    total = 0
    for f in files:
        with f.open("rb") as fh:
            while chunk := fh.read(64 << 20):
                total += len(chunk)
    return total


def du(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def convert(
    files: tuple[Path, ...], root: Path, writer: str, n_workers: int = 1
) -> tuple[ConvertedMS, float]:
    out = root / f"ms-{writer}-{n_workers}"
    settings = ConversionSettings(writer=writer, n_workers=n_workers)
    t0 = time.perf_counter()
    ms = convert_group(files, out, root / "scratch", settings)
    # the MS is complete on disk (page cache); both paths are timed the same way
    return ms, time.perf_counter() - t0


def warm_up(root: Path, inst: Instrument) -> None:
    """Convert a test-scale group with each writer (imports, IERS tables: paid by neither)."""
    (group,) = simulate_groups(
        root / "warm", START, 1, DEC_DEG, None, None, "test", instrument=inst
    )
    for writer in ("fast", "pyuvdata"):
        convert(group.files, root / "warm", writer)


def main() -> None:
    base = Path(sys.argv[1]) if len(sys.argv) > 1 else None
    inst = Instrument.from_settings()
    with tempfile.TemporaryDirectory(prefix="contimg-bench-convert-", dir=base) as tmp:
        root = Path(tmp)
        t0 = time.perf_counter()
        sky = strip_sky(10, START, 1, DEC_DEG, seed=3, instrument=inst)
        (group,) = simulate_groups(
            root / "incoming",
            START,
            1,
            DEC_DEG,
            sky,
            None,
            "full",
            seed=1,
            corruptions=Corruptions(noise=True),
            instrument=inst,
        )
        print(f"simulated one full group in {time.perf_counter() - t0:.1f} s")
        warm_up(root, inst)
        uvh5_bytes = warm(group.files)

        # in-process, and with one worker process per core (the parent writes the MS)
        timings = {}
        for n_workers in sorted({1, os.cpu_count() or 1}):
            fast, timings[n_workers] = convert(group.files, root, "fast", n_workers)
            ms_bytes = du(fast.path)
            shutil.rmtree(fast.path)
        best = min(timings, key=timings.__getitem__)
        t_fast = timings[best]
        payload = fast.visibility_bytes
        print(
            f"group {fast.group_id}: {fast.n_rows} rows x {fast.n_channels} channels x 2 pols, "
            f"{fast.n_fields} fields; UVH5 {uvh5_bytes / 1e6:.0f} MB, "
            f"visibility payload {payload / 1e6:.0f} MB"
        )
        ref, t_ref = convert(group.files, root, "pyuvdata")
        ref_bytes = du(ref.path)
        shutil.rmtree(ref.path)
        write_bps = disk_write_speed(root, payload)

    mbps = lambda s: payload / s / 1e6  # noqa: E731
    ratio = t_ref / t_fast
    for n_workers, t in timings.items():
        print(
            f"fast ({n_workers} worker{'s' if n_workers > 1 else ''}): {t:7.2f} s  "
            f"{mbps(t):7.0f} MB/s  (MS {ms_bytes / 1e6:.0f} MB)"
        )
    print(f"pyuvdata     : {t_ref:7.2f} s  {mbps(t_ref):7.0f} MB/s  (MS {ref_bytes / 1e6:.0f} MB)")
    print(f"ratio uses the faster fast run ({best} worker(s)): {ratio:.2f}x")
    print(
        f"disk sequential write ({payload / 1e6:.0f} MB + fsync): {write_bps / 1e6:.0f} MB/s; "
        f"fast path reaches {mbps(t_fast) * 1e6 / write_bps:.0%} of it"
    )
    print(f"conversion_speedup_vs_pyuvdata={ratio:.2f}")


if __name__ == "__main__":
    main()
