"""Assemble the combined band block by block: read, phase, conjugate, hand to the writer.

The DATA column is produced in blocks of rows. For each block every subband file is read
(whole HDF5 chunks only), phased and conjugated in a small contiguous buffer and copied into
its channels of a block buffer of shape ``(rows, n_chan, n_pol)``; the writer then puts the
block into the MS and the buffer is reused. Memory stays bounded (a few blocks, not the group)
and nothing is written twice.

With one worker this runs in-process with one reused block buffer. With more, blocks are
built in worker processes (h5py is not thread-safe and casacore must stay in one process)
into a ring of shared block slots on tmpfs; the parent writes them in row order as they
complete, keeping at most one slot per worker plus one in flight.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path

import h5py
import numpy as np

from contimg.science.convert.errors import CorruptFileError

__all__ = ["BlockPlan", "SubbandSource", "block_rows_for", "iter_blocks"]

#: Target size of one block buffer (DATA part).
TARGET_BLOCK_BYTES = 48 << 20


@dataclass(frozen=True)
class SubbandSource:
    """One present subband: its file and where its channels go."""

    path: str
    chan_start: int
    n_chan: int
    reverse: bool
    freqs_hz: np.ndarray


@dataclass(frozen=True)
class BlockPlan:
    """What every block task needs (small; pickled once per task)."""

    sources: tuple[SubbandSource, ...]
    gaps: tuple[tuple[int, int], ...]  # (chan_start, n_chan) of missing subbands: flagged
    n_chan: int
    pol_order: tuple[int, ...]
    delta_w: np.ndarray
    block_rows: int


def block_rows_for(path: Path | str, n_chan: int, n_pol: int) -> int:
    """Rows per block: whole HDF5 chunks of visdata and flags, about ``TARGET_BLOCK_BYTES``."""
    try:
        with h5py.File(path, "r") as fh:
            chunk_rows = [fh[n].chunks[0] for n in ("Data/visdata", "Data/flags") if fh[n].chunks]
    except (OSError, KeyError) as exc:
        raise CorruptFileError(path, f"{type(exc).__name__}: {exc}") from None
    step = math.lcm(*chunk_rows) if chunk_rows else 1
    target = max(1, TARGET_BLOCK_BYTES // (n_chan * n_pol * 8))
    return max(step, (target // step) * step)


def _fill_block(
    plan: BlockPlan, r0: int, r1: int, data: np.ndarray, flag: np.ndarray, files: _Files
) -> None:
    """Build rows ``r0:r1`` of DATA/FLAG into ``data[:n]``/``flag[:n]``."""
    from contimg.science.convert.phasing import rotate_and_conjugate

    n = r1 - r0
    pol = list(plan.pol_order)
    natural = pol == list(range(len(pol)))
    for c0, nc in plan.gaps:
        data[:n, c0 : c0 + nc] = 0
        flag[:n, c0 : c0 + nc] = True
    for src in plan.sources:
        c1 = src.chan_start + src.n_chan
        try:
            fh = files.get(src.path)
            vis, flg = fh["Data/visdata"], fh["Data/flags"]
            sel = np.s_[r0:r1, 0] if vis.ndim == 4 else np.s_[r0:r1]  # pre-3.0 spw axis
            # contiguous reads: HDF5 scattering into a strided destination is ~6x slower
            v = vis[sel]
            f = flg[sel]
        except (OSError, KeyError, ValueError, TypeError) as exc:
            raise CorruptFileError(src.path, f"{type(exc).__name__}: {exc}") from None
        if v.shape != (n, src.n_chan, len(pol)) or v.dtype != np.complex64:
            v = v.astype(np.complex64)
            if v.shape != (n, src.n_chan, len(pol)):
                raise CorruptFileError(src.path, f"visdata rows {r0}:{r1} have shape {v.shape}")
        if not natural:
            v, f = v[..., pol], f[..., pol]
        if src.reverse:
            v, f = v[:, ::-1], f[:, ::-1]
        v = np.ascontiguousarray(v)
        rotate_and_conjugate(v, plan.delta_w[r0:r1], src.freqs_hz)
        data[:n, src.chan_start : c1] = v
        flag[:n, src.chan_start : c1] = f


class _Files:
    """Open HDF5 files of one process, kept open across blocks."""

    def __init__(self) -> None:
        self._open: dict[str, h5py.File] = {}

    def get(self, path: str) -> h5py.File:
        if path not in self._open:
            try:
                self._open[path] = h5py.File(path, "r")
            except OSError as exc:
                raise CorruptFileError(path, f"{type(exc).__name__}: {exc}") from None
        return self._open[path]

    def close(self) -> None:
        for fh in self._open.values():
            fh.close()
        self._open.clear()


# -- worker-process side ------------------------------------------------------------
_WORKER_FILES: _Files | None = None


def _worker_block(plan: BlockPlan, r0: int, r1: int, ring: str, slot: int, shape: tuple) -> int:
    global _WORKER_FILES
    if _WORKER_FILES is None:
        _WORKER_FILES = _Files()
    data = np.memmap(ring + ".data", dtype=np.complex64, mode="r+", shape=shape)
    flag = np.memmap(ring + ".flag", dtype=np.bool_, mode="r+", shape=shape)
    try:
        _fill_block(plan, r0, r1, data[slot], flag[slot], _WORKER_FILES)
    finally:
        del data, flag  # MAP_SHARED: the parent sees the pages at once, no msync needed
    return slot


@contextmanager
def _ring(directory: Path, n_slots: int, block_shape: tuple[int, int, int]) -> Iterator[str]:
    base = directory / "ring"
    n = n_slots * int(np.prod(block_shape))
    for suffix, size in ((".data", 8), (".flag", 1)):
        with open(str(base) + suffix, "wb") as fh:
            fh.truncate(n * size)
    try:
        yield str(base)
    finally:
        for suffix in (".data", ".flag"):
            Path(str(base) + suffix).unlink(missing_ok=True)


def iter_blocks(
    plan: BlockPlan,
    n_rows: int,
    write: Callable[[int, np.ndarray, np.ndarray], None],
    *,
    n_workers: int = 1,
    buffer_dir: Path | None = None,
) -> None:
    """Build every block of rows and pass it to ``write(r0, data_block, flag_block)`` in order.

    Parameters
    ----------
    plan : BlockPlan
        Sources, gaps, polarization order, w-terms and block size.
    n_rows : int
        Rows of the group.
    write : callable
        Called in this process, in row order, with the first row and the block's arrays
        (views into a reused buffer: consume them before returning).
    n_workers : int
        Processes building blocks (1: in-process).
    buffer_dir : Path, optional
        Directory for the shared slot ring (tmpfs preferred); required when ``n_workers > 1``.

    Raises
    ------
    CorruptFileError
        A file cannot be read (names it).
    """
    starts = list(range(0, n_rows, plan.block_rows))
    n_pol = len(plan.pol_order)
    shape = (plan.block_rows, plan.n_chan, n_pol)
    if n_workers <= 1 or buffer_dir is None or len(starts) <= 1:
        files = _Files()
        data = np.empty(shape, dtype=np.complex64)
        flag = np.empty(shape, dtype=np.bool_)
        try:
            for r0 in starts:
                r1 = min(n_rows, r0 + plan.block_rows)
                _fill_block(plan, r0, r1, data, flag, files)
                write(r0, data[: r1 - r0], flag[: r1 - r0])
        finally:
            files.close()
        return
    n_slots = n_workers + 1
    ring_shape = (n_slots, *shape)
    # fork: workers start in milliseconds with the modules already imported; they never
    # touch casacore, so forking a parent that loaded it is safe.
    ctx = get_context("fork" if os.name == "posix" else None)
    with ExitStack() as stack:
        ring = stack.enter_context(_ring(buffer_dir, n_slots, shape))
        pool = stack.enter_context(ProcessPoolExecutor(max_workers=n_workers, mp_context=ctx))
        data = np.memmap(ring + ".data", dtype=np.complex64, mode="r+", shape=ring_shape)
        flag = np.memmap(ring + ".flag", dtype=np.bool_, mode="r+", shape=ring_shape)
        pending: list[tuple[int, Future[int]]] = []
        free = list(range(n_slots))
        next_block = 0
        try:
            while next_block < len(starts) or pending:
                while free and next_block < len(starts):
                    r0 = starts[next_block]
                    r1 = min(n_rows, r0 + plan.block_rows)
                    slot = free.pop(0)
                    fut = pool.submit(_worker_block, plan, r0, r1, ring, slot, ring_shape)
                    pending.append((r0, fut))
                    next_block += 1
                r0, fut = pending.pop(0)
                slot = fut.result()
                r1 = min(n_rows, r0 + plan.block_rows)
                write(r0, data[slot, : r1 - r0], flag[slot, : r1 - r0])
                free.append(slot)
        except BaseException:
            for _, f in pending:
                f.cancel()
            raise
        finally:
            del data, flag
