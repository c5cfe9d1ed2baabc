"""Column reads into NumPy-allocated buffers give what python-casacore's getcol gives."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from casacore.tables import makearrcoldesc, makescacoldesc, maketabdesc, table

from contimg.science._columns import ChunkReader, read_column


def _table(path: Path, nrow: int = 23) -> None:
    desc = maketabdesc(
        [
            makescacoldesc("ANTENNA1", 0),
            makearrcoldesc("DATA", 0j, shape=[5, 2], valuetype="complex"),
            makearrcoldesc("FLAG", False, shape=[5, 2]),
        ]
    )
    rng = np.random.default_rng(3)
    with table(str(path), desc, nrow=nrow, ack=False) as t:
        t.putcol("ANTENNA1", rng.integers(0, 96, nrow).astype(np.int32))
        shape = (nrow, 5, 2)
        data = rng.normal(size=shape) + 1j * rng.normal(size=shape)
        t.putcol("DATA", data.astype(np.complex64))
        t.putcol("FLAG", rng.random(shape) < 0.3)


def test_reads_match_getcol_whole_and_in_chunks(tmp_path: Path) -> None:
    _table(tmp_path / "t.tab")
    with table(str(tmp_path / "t.tab"), ack=False) as t:
        for column in ("ANTENNA1", "DATA", "FLAG"):
            whole = read_column(t, column)
            expected = t.getcol(column)
            assert whole.dtype == expected.dtype
            np.testing.assert_array_equal(whole, expected)
            np.testing.assert_array_equal(read_column(t, column, 20), t.getcol(column, 20))
        reader = ChunkReader(t)
        seen = []
        for start in range(0, 23, 10):  # the last chunk is shorter: a view of the buffer
            n = min(10, 23 - start)
            data = reader.read("DATA", start, n)
            assert data.shape == (n, 5, 2)
            np.testing.assert_array_equal(data, t.getcol("DATA", start, n))
            seen.append(data.copy())
        np.testing.assert_array_equal(np.concatenate(seen), t.getcol("DATA"))
        # one buffer per column, kept from chunk to chunk
        assert np.shares_memory(reader.read("FLAG", 0, 10), reader.read("FLAG", 10, 10))
