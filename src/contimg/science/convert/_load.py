"""Read subband visibilities straight into their channels of one combined buffer.

Each subband is read, phased and conjugated by one task; tasks run in worker processes
(h5py and casacore are not thread-safe) that write into a file-backed shared buffer, or
in-process when there is one worker. The result is the DATA column, ready to write.
"""

from __future__ import annotations

import os
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path

import h5py
import numpy as np

from contimg.science.convert.errors import CorruptFileError

__all__ = ["LoadTask", "SharedArrays", "load_subbands"]


@dataclass(frozen=True)
class SharedArrays:
    """Paths and shape of the file-backed DATA and FLAG buffers (visible to workers)."""

    data_path: str
    flag_path: str
    shape: tuple[int, int, int]

    def open(self, mode: str = "r+") -> tuple[np.ndarray, np.ndarray]:
        """Map both buffers."""
        data = np.memmap(self.data_path, dtype=np.complex64, mode=mode, shape=self.shape)
        flag = np.memmap(self.flag_path, dtype=np.bool_, mode=mode, shape=self.shape)
        return data, flag

    @classmethod
    def create(cls, directory: Path, shape: tuple[int, int, int]) -> SharedArrays:
        """Create zeroed (sparse) buffers in ``directory``."""
        directory.mkdir(parents=True, exist_ok=True)
        n = int(np.prod(shape))
        paths = []
        for name, itemsize in (("data", 8), ("flag", 1)):
            path = directory / f"{name}.buf"
            with path.open("wb") as fh:
                fh.truncate(n * itemsize)
            paths.append(str(path))
        return cls(paths[0], paths[1], shape)


@dataclass(frozen=True)
class LoadTask:
    """One subband: where to read it from and where its channels go."""

    path: str
    chan_start: int
    n_chan: int
    reverse: bool
    freqs_hz: np.ndarray
    pol_order: tuple[int, ...]
    delta_w: np.ndarray
    rows_per_chunk: int = 8192


def _block_rows(dataset: h5py.Dataset, target: int) -> int:
    """Rows per read: a multiple of the file's chunk rows near ``target`` (whole chunks only)."""
    if dataset.chunks is None:
        return target
    step = dataset.chunks[0]
    return max(step, (target // step) * step)


def _run(task: LoadTask, data: np.ndarray, flag: np.ndarray) -> int:
    # Read row blocks into a small contiguous buffer, phase and conjugate there (cache-sized,
    # unit stride), then copy into this subband's channels of the combined buffer. Reading
    # straight into the strided destination makes HDF5 scatter element by element (6x slower).
    from contimg.science.convert.phasing import rotate_and_conjugate

    c0, c1 = task.chan_start, task.chan_start + task.n_chan
    pol = list(task.pol_order)
    reorder = pol != list(range(len(pol))) or task.reverse
    try:
        with h5py.File(task.path, "r") as fh:
            vis, flg = fh["Data/visdata"], fh["Data/flags"]
            squeeze = vis.ndim == 4  # pre-3.0 UVH5 carries a length-1 spw axis
            n_blt = vis.shape[0]
            step = _block_rows(vis, task.rows_per_chunk)
            vbuf = np.empty((step, task.n_chan, len(pol)), dtype=np.complex64)
            fbuf = np.empty((step, task.n_chan, len(pol)), dtype=np.bool_)
            for r0 in range(0, n_blt, step):
                r1 = min(n_blt, r0 + step)
                n = r1 - r0
                src = np.s_[r0:r1, 0] if squeeze else np.s_[r0:r1]
                vis.read_direct(vbuf, source_sel=src, dest_sel=np.s_[:n])
                flg.read_direct(fbuf, source_sel=src, dest_sel=np.s_[:n])
                v, f = vbuf[:n], fbuf[:n]
                if reorder:
                    v, f = v[..., pol], f[..., pol]
                    if task.reverse:
                        v, f = v[:, ::-1], f[:, ::-1]
                    v = np.ascontiguousarray(v)
                rotate_and_conjugate(v, task.delta_w[r0:r1], task.freqs_hz)
                data[r0:r1, c0:c1, :] = v
                flag[r0:r1, c0:c1, :] = f
    except OSError as exc:
        raise CorruptFileError(task.path, f"{type(exc).__name__}: {exc}") from None
    except (KeyError, ValueError, TypeError) as exc:
        raise CorruptFileError(task.path, f"{type(exc).__name__}: {exc}") from None
    return n_blt


def _worker(task: LoadTask, shared: SharedArrays) -> int:
    data, flag = shared.open()
    try:
        return _run(task, data, flag)
    finally:
        # MAP_SHARED pages are visible to the parent at once: no flush (msync) needed
        del data, flag


def load_subbands(
    tasks: list[LoadTask],
    data: np.ndarray,
    flag: np.ndarray,
    *,
    shared: SharedArrays | None = None,
    n_workers: int = 1,
) -> None:
    """Fill ``data``/``flag`` from every task, in worker processes when ``n_workers > 1``.

    Parameters
    ----------
    tasks : list of LoadTask
        One per present subband.
    data, flag : numpy.ndarray
        The destination buffers (``shared``'s mappings when workers are used).
    shared : SharedArrays, optional
        The file-backed buffers; required when ``n_workers > 1``.
    n_workers : int
        Worker processes.

    Raises
    ------
    CorruptFileError
        A file cannot be read (the first such file, named).
    """
    if n_workers <= 1 or shared is None or len(tasks) <= 1:
        for task in tasks:
            _run(task, data, flag)
        return
    # fork: workers inherit the imported modules and start in milliseconds; they never touch
    # casacore, so forking a parent that has loaded it is safe.
    method = "fork" if os.name == "posix" else None
    ctx = get_context(method)
    with ProcessPoolExecutor(max_workers=min(n_workers, len(tasks)), mp_context=ctx) as pool:
        futures = [pool.submit(_worker, task, shared) for task in tasks]
        for fut in futures:
            fut.result()
