"""Writing one group's subband files in the DSA-110 UVH5 form.

Files are written in parts: pyuvdata writes the header and creates the datasets, then
the visibilities are written time-chunk by time-chunk with h5py, so memory stays
bounded at full scale. Each file is written under a hidden temporary name and renamed
when whole (an indexer never sees half a file unless one is truncated on purpose).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import h5py
import numpy as np
from pyuvdata import Telescope, UVData

from contimg import __version__
from contimg.instrument.model import Instrument
from contimg.instrument.naming import format_subband_filename, format_timestamp

__all__ = ["SubbandWriter", "file_names", "history_line", "truncate", "uvdata_template"]


def uvdata_template(
    instrument: Instrument,
    antenna_numbers: np.ndarray,
    times_jd: np.ndarray,
    freqs_hz: np.ndarray,
    pointing_dec_rad: float,
    history: str,
) -> UVData:
    """Metadata-only UVData of one subband file (all stations in the telescope tables).

    Baselines are every pair ``ant_1 <= ant_2`` of the data antennas, autos included,
    in the same order at every time (time-major blt order).
    """
    layout = instrument.layout
    telescope = Telescope.new(
        name=instrument.site.telescope_name,
        location=instrument.site.earth_location(),
        antenna_positions=instrument.antenna_positions(),
        antenna_names=list(layout.names),
        antenna_numbers=layout.numbers.astype(int),
        instrument="DSA-110",
        antenna_diameters=np.full(len(layout), instrument.dish_diameter_m),
        feeds=["x", "y"],
        x_orientation="east",
        mount_type="alt-az",
        update_from_known=False,
    )
    ants = np.sort(np.asarray(antenna_numbers, dtype=int))
    i, j = np.triu_indices(len(ants))
    return UVData.new(
        freq_array=np.asarray(freqs_hz, dtype=float),
        polarization_array=instrument.polarization_array,
        times=np.asarray(times_jd, dtype=float),
        telescope=telescope,
        antpairs=np.stack([ants[i], ants[j]], axis=1),
        do_blt_outer=True,
        time_axis_faster_than_bls=False,
        integration_time=instrument.integration_time_s,
        channel_width=float(freqs_hz[1] - freqs_hz[0]) if len(freqs_hz) > 1 else None,
        vis_units="uncalib",
        history=history,
        extra_keywords={"phase_center_dec": float(pointing_dec_rad)},
    )


def file_names(
    start: datetime, subbands: range, jitter_s: float, rng: np.random.Generator
) -> dict[int, str]:
    """File names of one group: sb00 carries the group id, the others jitter by +-jitter_s."""
    names = {}
    for k in subbands:
        offset = 0.0 if k == 0 else float(rng.uniform(-jitter_s, jitter_s))
        names[k] = format_subband_filename(start + timedelta(seconds=offset), k)
    return names


@dataclass
class _Open:
    final: Path
    tmp: Path
    h5: h5py.File


class SubbandWriter:
    """The open files of one group; write time chunks, then ``close()`` renames them.

    Parameters
    ----------
    template : UVData
        Metadata of the group (its frequencies are replaced per subband).
    outdir : Path
        Directory the files go to.
    names : dict of int to str
        File name per subband to write (subbands left out are not written).
    freqs_by_subband : dict of int to numpy.ndarray
        Ascending channel centres of each subband.
    """

    def __init__(
        self,
        template: UVData,
        outdir: Path,
        names: dict[int, str],
        freqs_by_subband: dict[int, np.ndarray],
    ) -> None:
        self._files: dict[int, _Open] = {}
        try:
            for k, name in names.items():
                final = outdir / name
                tmp = outdir / f".{name}.partial"
                tmp.unlink(missing_ok=True)
                freqs = freqs_by_subband[k]
                template.freq_array = freqs
                template.channel_width = np.full(len(freqs), freqs[1] - freqs[0])
                # one integration per HDF5 chunk, as a correlator writing integration by
                # integration would: whole-file reads are ~5x faster than with h5py's
                # automatic chunks (3 channels x 1 polarization each at full scale)
                chunk = (template.Nbls, len(freqs), template.Npols)
                template.initialize_uvh5_file(str(tmp), data_write_dtype="c8", chunks=chunk)
                h5 = h5py.File(tmp, "r+")
                # nsamples 1 everywhere: a fill value costs nothing on disk or in time
                old = h5["Data/nsamples"]
                shape, chunks = old.shape, old.chunks
                del h5["Data/nsamples"]
                h5["Data"].create_dataset(
                    "nsamples", shape, dtype="f4", chunks=chunks, compression="lzf", fillvalue=1.0
                )
                self._files[k] = _Open(final, tmp, h5)
        except BaseException:
            self.abort()
            raise

    @property
    def subbands(self) -> list[int]:
        """Subbands being written."""
        return sorted(self._files)

    def write(self, subband: int, blt_start: int, data: np.ndarray) -> None:
        """Write visibilities ``(n_blt_chunk, n_chan, n_pol)`` starting at blt ``blt_start``."""
        dset = self._files[subband].h5["Data/visdata"]
        dset[blt_start : blt_start + data.shape[0]] = data

    def close(self) -> dict[int, Path]:
        """Close and rename every file; return the final paths by subband."""
        out = {}
        for k, f in self._files.items():
            f.h5.close()
            os.replace(f.tmp, f.final)
            out[k] = f.final
        self._files = {}
        return out

    def abort(self) -> None:
        """Close and delete every partial file (after an error)."""
        for f in self._files.values():
            try:
                f.h5.close()
            finally:
                f.tmp.unlink(missing_ok=True)
        self._files = {}


def truncate(path: Path, keep_fraction: float) -> tuple[int, int]:
    """Cut a file to ``keep_fraction`` of its bytes; return (kept, original) sizes."""
    size = path.stat().st_size
    kept = int(size * keep_fraction)
    os.truncate(path, kept)
    return kept, size


def history_line(scale: str, seed: int, group_start: datetime) -> str:
    """History string written into each file."""
    return (
        f"Simulated by contimg {__version__} (scale={scale}, seed={seed}, "
        f"group {format_timestamp(group_start)})."
    )
