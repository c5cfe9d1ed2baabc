"""Reading a full group's DATA and FLAG columns: python-casacore's getcol against ChunkReader.

One full-scale group is simulated and converted into a temporary directory, then its DATA
and FLAG columns are read in the chunks the flagging and imaging passes use, five times
each way, alternating: with ``table.getcol`` (a new array casacore allocates for every
chunk) and with :class:`contimg.science._columns.ChunkReader` (``getcolnp`` into one buffer
NumPy allocated, kept from chunk to chunk). Both start from the page cache. Prints the
median seconds, the MB/s of each way and the page faults it took; the last line is
``column_read_speedup=<getcol median / ChunkReader median>``.
"""

from __future__ import annotations

import resource
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from casacore.tables import table

from contimg.config.settings import ConversionSettings
from contimg.science._columns import ChunkReader
from contimg.science.convert import convert_group
from contimg.science.simulate import Corruptions, simulate_groups

START = "2025-10-17T14:30:00"
DEC_DEG = 54.57
CHUNK_ROWS = 20_000
REPEATS = 5
COLUMNS = ("DATA", "FLAG")


def _pass(t: object, read: Callable[[str, int, int], object]) -> None:
    nrow = t.nrows()
    for start in range(0, nrow, CHUNK_ROWS):
        n = min(CHUNK_ROWS, nrow - start)
        for column in COLUMNS:
            read(column, start, n)


def _timed(t: object, read: Callable[[str, int, int], object]) -> tuple[float, int]:
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    t0 = time.perf_counter()
    _pass(t, read)
    seconds = time.perf_counter() - t0
    return seconds, resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults


def main() -> None:
    base = Path(sys.argv[1]) if len(sys.argv) > 1 else None
    with tempfile.TemporaryDirectory(prefix="contimg-bench-columns-", dir=base) as tmp:
        root = Path(tmp)
        (group,) = simulate_groups(
            root / "incoming", START, 1, DEC_DEG, None, None, "full", seed=1,
            corruptions=Corruptions(noise=True),
        )  # fmt: skip
        ms = convert_group(group.files, root / "ms", root / "scratch", ConversionSettings())
        with table(str(ms.path), ack=False) as t:
            payload = sum(t.getcell(c, 0).nbytes for c in COLUMNS) * t.nrows()
            _pass(t, t.getcol)  # page cache
            results: dict[str, list[tuple[float, int]]] = {"getcol": [], "ChunkReader": []}
            for _ in range(REPEATS):
                results["getcol"].append(_timed(t, t.getcol))
                results["ChunkReader"].append(_timed(t, ChunkReader(t).read))
    print(f"{ms.n_rows} rows; DATA + FLAG {payload / 1e6:.0f} MB, chunks of {CHUNK_ROWS} rows")
    medians = {}
    for way, runs in results.items():
        medians[way] = statistics.median(s for s, _ in runs)
        faults = statistics.median(f for _, f in runs)
        print(
            f"{way:<12} median {medians[way]:6.2f} s  {payload / medians[way] / 1e6:6.0f} MB/s"
            f"  {faults:8.0f} page faults"
        )
    print(f"column_read_speedup={medians['getcol'] / medians['ChunkReader']:.2f}")


if __name__ == "__main__":
    main()
