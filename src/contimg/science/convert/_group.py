"""Plan a group: read every subband's header, check they agree, lay channels out ascending.

Only metadata is read here (h5py, no pyuvdata): the data arrays are read later, by the writer,
straight into their place in the combined band.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np

from contimg.science.convert.errors import (
    CorruptFileError,
    InconsistentGroupError,
    MissingSubbandsError,
)

__all__ = ["GroupPlan", "SubbandSlot", "plan_group"]


@dataclass(frozen=True)
class SubbandSlot:
    """Where one subband's channels go in the combined (ascending) band.

    Attributes
    ----------
    subband : int
        Subband number (sb00 is the highest frequency).
    path : Path or None
        The file, or ``None`` for a missing subband written flagged.
    chan_start : int
        First channel of this subband in the combined band.
    n_chan : int
        Channels in this subband.
    reverse : bool
        Whether the file stores its channels in descending order.
    """

    subband: int
    path: Path | None
    chan_start: int
    n_chan: int
    reverse: bool = False


@dataclass(frozen=True, eq=False)
class GroupPlan:
    """Everything the writers need that is not visibility data.

    Attributes
    ----------
    group_id : str
        The group (sb00's timestamp).
    slots : tuple of SubbandSlot
        Subbands in ascending frequency order (missing ones included, ``path=None``).
    freqs_hz : numpy.ndarray
        Channel centres of the combined band, ascending, shape (n_chan,).
    chan_width_hz : float
        Channel width (positive).
    time_jd : numpy.ndarray
        Integration centre of each row, JD UTC, shape (n_blt,).
    ant1, ant2 : numpy.ndarray
        Station numbers of each row (as in the files).
    uvw_m : numpy.ndarray
        The files' unprojected uvw (ENU, w to zenith), shape (n_blt, 3).
    pols : numpy.ndarray
        pyuvdata polarization numbers.
    integration_s : numpy.ndarray
        Integration time of each row, seconds.
    dec_rad : float
        Pointing declination from the header, radians.
    vis_units : str
        Units string from the files.
    antenna_numbers : numpy.ndarray
        The files' antenna numbers.
    antenna_names : tuple of str
        The files' antenna names (same order).
    """

    group_id: str
    slots: tuple[SubbandSlot, ...]
    freqs_hz: np.ndarray
    chan_width_hz: float
    time_jd: np.ndarray
    ant1: np.ndarray
    ant2: np.ndarray
    uvw_m: np.ndarray
    pols: np.ndarray
    integration_s: np.ndarray
    dec_rad: float
    vis_units: str
    antenna_numbers: np.ndarray
    antenna_names: tuple[str, ...]

    @property
    def n_blt(self) -> int:
        """Number of baseline-times (MS rows)."""
        return int(self.time_jd.size)

    @property
    def n_chan(self) -> int:
        """Channels of the combined band."""
        return int(self.freqs_hz.size)

    @property
    def n_pol(self) -> int:
        """Correlations."""
        return int(self.pols.size)

    @property
    def missing(self) -> tuple[int, ...]:
        """Subbands written flagged because their file is absent."""
        return tuple(sorted(s.subband for s in self.slots if s.path is None))

    @property
    def present(self) -> tuple[SubbandSlot, ...]:
        """Slots that have a file."""
        return tuple(s for s in self.slots if s.path is not None)


@dataclass(frozen=True)
class _Header:
    path: Path
    freqs: np.ndarray
    chan_width: float
    n_blt: int
    pols: np.ndarray


def _scalar(h: h5py.Group, name: str):
    value = h[name][()]
    return value.decode() if isinstance(value, bytes) else value


def _read_header(path: Path, *, full: bool) -> tuple[_Header, dict[str, object]]:
    """Read one file's header; ``full`` also returns the per-row arrays."""
    try:
        with h5py.File(path, "r") as fh:
            hdr = fh["Header"]
            freqs = np.asarray(hdr["freq_array"][()], dtype=np.float64).ravel()
            widths = np.atleast_1d(np.asarray(hdr["channel_width"][()], dtype=np.float64)).ravel()
            n_blt = int(_scalar(hdr, "Nblts"))
            pols = np.asarray(hdr["polarization_array"][()]).ravel()
            vis = fh["Data/visdata"]
            if vis.shape[0] != n_blt or vis.shape[-2] != freqs.size or vis.shape[-1] != pols.size:
                raise CorruptFileError(path, f"visdata shape {vis.shape} disagrees with the header")
            extra: dict[str, object] = {}
            if full:
                extra = {
                    "time": np.asarray(hdr["time_array"][()], dtype=np.float64),
                    "ant1": np.asarray(hdr["ant_1_array"][()], dtype=np.int64),
                    "ant2": np.asarray(hdr["ant_2_array"][()], dtype=np.int64),
                    "uvw": np.asarray(hdr["uvw_array"][()], dtype=np.float64),
                    "inttime": np.asarray(hdr["integration_time"][()], dtype=np.float64),
                    "dec": float(hdr["extra_keywords/phase_center_dec"][()]),
                    "vis_units": str(_scalar(hdr, "vis_units")),
                    "ant_numbers": np.asarray(hdr["antenna_numbers"][()], dtype=np.int64),
                    "ant_names": tuple(
                        n.decode() if isinstance(n, bytes) else str(n)
                        for n in hdr["antenna_names"][()]
                    ),
                }
            else:
                extra = {
                    "time": np.asarray(hdr["time_array"][()], dtype=np.float64),
                    "ant1": np.asarray(hdr["ant_1_array"][()], dtype=np.int64),
                    "ant2": np.asarray(hdr["ant_2_array"][()], dtype=np.int64),
                }
    except CorruptFileError:
        raise
    except (OSError, KeyError, ValueError, TypeError) as exc:
        raise CorruptFileError(path, f"{type(exc).__name__}: {exc}") from exc
    if widths.size not in (1, freqs.size) or freqs.size == 0:
        raise CorruptFileError(path, "channel_width/freq_array sizes disagree")
    width = float(abs(widths[0]))
    return _Header(path, freqs, width, n_blt, pols), extra


def plan_group(
    group_id: str,
    files: Mapping[int, Path],
    *,
    n_subbands: int,
    missing_subbands: str = "fail",
) -> GroupPlan:
    """Read the headers of one group's files and lay their channels out in ascending order.

    Parameters
    ----------
    group_id : str
        The group id (used in errors and the result).
    files : Mapping[int, Path]
        Subband number to file.
    n_subbands : int
        Subbands a whole group has (numbered ``0 .. n_subbands-1``).
    missing_subbands : {"fail", "flag"}
        What to do about absent subbands.

    Returns
    -------
    GroupPlan
        The plan; missing subbands (``flag`` mode) get ``path=None`` slots with frequencies
        continued from their neighbours.

    Raises
    ------
    MissingSubbandsError
        Subbands are absent and ``missing_subbands == "fail"`` (or none is present).
    CorruptFileError
        A header cannot be read (names the file).
    InconsistentGroupError
        A file's times, baselines, polarizations or channel layout differ from the first file's.
    """
    missing = tuple(k for k in range(n_subbands) if k not in files)
    if not files or (missing and missing_subbands != "flag"):
        raise MissingSubbandsError(group_id, missing or tuple(range(n_subbands)))
    order = sorted(files)
    ref_hdr, ref = _read_header(files[order[0]], full=True)
    headers = {order[0]: ref_hdr}
    for k in order[1:]:
        hdr, extra = _read_header(files[k], full=False)
        if hdr.n_blt != ref_hdr.n_blt or not np.array_equal(extra["time"], ref["time"]):
            raise InconsistentGroupError(files[k], "integration times or row count differ")
        if not (
            np.array_equal(extra["ant1"], ref["ant1"])
            and np.array_equal(extra["ant2"], ref["ant2"])
        ):
            raise InconsistentGroupError(files[k], "baselines or their order differ")
        if not np.array_equal(hdr.pols, ref_hdr.pols):
            raise InconsistentGroupError(files[k], "polarizations differ")
        if hdr.freqs.size != ref_hdr.freqs.size or not np.isclose(
            hdr.chan_width, ref_hdr.chan_width
        ):
            raise InconsistentGroupError(files[k], "channel count or width differs")
        headers[k] = hdr
    width = ref_hdr.chan_width
    n_sb_chan = ref_hdr.freqs.size
    sb_span = n_sb_chan * width
    # Each subband's lowest channel centre; a missing one is continued from sb `order[0]`
    # (subbands step down in frequency by one subband span per number).
    ref_low = float(ref_hdr.freqs.min())
    lows = {
        k: (float(headers[k].freqs.min()) if k in headers else ref_low - (k - order[0]) * sb_span)
        for k in range(n_subbands)
        if k in headers or k in missing
    }
    ascending = sorted(lows, key=lambda k: lows[k])
    slots, freqs = [], []
    for i, k in enumerate(ascending):
        if k in headers:
            f = headers[k].freqs
            reverse = bool(f.size > 1 and f[0] > f[-1])
            f = f[::-1] if reverse else f
            if f.size > 1 and not np.allclose(np.diff(f), width, rtol=1e-6):
                raise InconsistentGroupError(files[k], "channels are not evenly spaced")
        else:
            f, reverse = lows[k] + width * np.arange(n_sb_chan), False
        slots.append(SubbandSlot(k, files.get(k), i * n_sb_chan, n_sb_chan, reverse))
        freqs.append(f)
    all_freqs = np.concatenate(freqs)
    for i in range(1, len(slots)):
        if not np.isclose(freqs[i][0] - freqs[i - 1][-1], width, rtol=1e-6):
            bad = slots[i] if slots[i].path is not None else slots[i - 1]
            raise InconsistentGroupError(
                bad.path or files[order[0]],
                f"subband sb{bad.subband:02d} is not contiguous with its neighbour",
            )
    return GroupPlan(
        group_id=group_id,
        slots=tuple(slots),
        freqs_hz=all_freqs,
        chan_width_hz=width,
        time_jd=ref["time"],  # type: ignore[arg-type]
        ant1=ref["ant1"],  # type: ignore[arg-type]
        ant2=ref["ant2"],  # type: ignore[arg-type]
        uvw_m=ref["uvw"],  # type: ignore[arg-type]
        pols=ref_hdr.pols,
        integration_s=np.broadcast_to(ref["inttime"], ref["time"].shape).copy(),  # type: ignore[arg-type]
        dec_rad=float(ref["dec"]),  # type: ignore[arg-type]
        vis_units=str(ref["vis_units"]),
        antenna_numbers=ref["ant_numbers"],  # type: ignore[arg-type]
        antenna_names=ref["ant_names"],  # type: ignore[arg-type]
    )
