"""Incoming UVH5 files: names, cheap headers, wholeness, and grouping into observations.

A group is the set of subband files of one ~5-minute observation. The correlator stamps each
file with its own time, jittered by up to tens of seconds, so groups are found by clustering
timestamps: files are sorted by time and a new group starts wherever the gap to the previous
file exceeds the tolerance (single linkage). A group's id is the timestamp of its sb00 file.

A group without sb00 (the file is lost or not yet written) is identified by its *earliest*
timestamp instead: sb00 is written first by the correlator, so the earliest stamp is the best
stand-in, and :func:`group_id_for` marks such an id as provisional so a store can re-key the
group when sb00 arrives later (see ``GroupStore.index_file``).
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import h5py
import numpy as np

from contimg.instrument.naming import (
    FileNameError,
    SubbandFileName,
    format_timestamp,
    parse_subband_filename,
)

__all__ = [
    "DEFAULT_N_SUBBANDS",
    "FileGroup",
    "FileHeader",
    "FileNameError",
    "SubbandFile",
    "cluster_files",
    "group_id_for",
    "is_stable",
    "probe_file",
    "read_header",
    "scan_directory",
    "select_groups",
    "stable_subset",
]

#: Subband files in a whole DSA-110 group.
DEFAULT_N_SUBBANDS = 16


@dataclass(frozen=True)
class FileHeader:
    """What indexing needs from a UVH5 header.

    Attributes
    ----------
    times_jd : numpy.ndarray
        Unique integration centres, JD UTC.
    freqs_hz : numpy.ndarray
        Channel centres as stored.
    dec_rad : float
        Pointing declination (``extra_keywords['phase_center_dec']``), radians.
    """

    times_jd: np.ndarray = field(repr=False)
    freqs_hz: np.ndarray = field(repr=False)
    dec_rad: float

    @property
    def dec_deg(self) -> float:
        """Pointing declination, degrees."""
        return float(np.rad2deg(self.dec_rad))


@dataclass(frozen=True)
class SubbandFile:
    """One whole, indexed subband file.

    Attributes
    ----------
    path : Path
        Absolute path.
    subband : int
        Subband number from the name.
    timestamp : datetime.datetime
        UTC time from the name.
    size : int
        Bytes.
    dec_deg : float or None
        Pointing declination from the header (``None`` when only the name was read).
    """

    path: Path
    subband: int
    timestamp: datetime
    size: int = 0
    dec_deg: float | None = None

    @property
    def timestamp_str(self) -> str:
        """The name's timestamp, ``YYYY-MM-DDTHH:MM:SS``."""
        return format_timestamp(self.timestamp)

    @classmethod
    def from_path(cls, path: Path | str) -> SubbandFile:
        """Build from the file name only (no I/O).

        Raises
        ------
        FileNameError
            If the name is not ``YYYY-MM-DDTHH:MM:SS_sbNN.hdf5``.
        """
        parsed: SubbandFileName = parse_subband_filename(path)
        return cls(Path(path).absolute(), parsed.subband, parsed.timestamp)


@dataclass(frozen=True)
class FileGroup:
    """Subband files clustered into one observation.

    Attributes
    ----------
    group_id : str
        sb00's timestamp (or the earliest timestamp when sb00 is absent).
    files : tuple of SubbandFile
        Members, by subband.
    n_subbands : int
        Subbands a whole group has.
    """

    group_id: str
    files: tuple[SubbandFile, ...]
    n_subbands: int = DEFAULT_N_SUBBANDS

    @property
    def by_subband(self) -> dict[int, Path]:
        """Subband number to path."""
        return {f.subband: f.path for f in self.files}

    @property
    def missing(self) -> tuple[int, ...]:
        """Absent subband numbers."""
        have = {f.subband for f in self.files}
        return tuple(k for k in range(self.n_subbands) if k not in have)

    @property
    def complete(self) -> bool:
        """Whether every subband is present."""
        return not self.missing

    @property
    def has_sb00(self) -> bool:
        """Whether the id is sb00's timestamp (not provisional)."""
        return any(f.subband == 0 for f in self.files)

    @property
    def first_timestamp(self) -> datetime:
        """Earliest member timestamp."""
        return min(f.timestamp for f in self.files)

    @property
    def last_timestamp(self) -> datetime:
        """Latest member timestamp."""
        return max(f.timestamp for f in self.files)


def read_header(path: Path | str) -> FileHeader:
    """Read times, frequencies and pointing declination from a UVH5 header (h5py, no data).

    Raises
    ------
    CorruptFileError
        The file cannot be opened or lacks a needed header item (names the file).
    """
    try:
        with h5py.File(path, "r") as fh:
            hdr = fh["Header"]
            times = np.unique(np.asarray(hdr["time_array"][()], dtype=np.float64))
            freqs = np.asarray(hdr["freq_array"][()], dtype=np.float64).ravel()
            dec = float(hdr["extra_keywords/phase_center_dec"][()])
            if "visdata" not in fh.get("Data", {}):
                raise KeyError("Data/visdata")
    except (OSError, KeyError, ValueError, TypeError) as exc:
        # imported here: the convert package imports this module, so a top-level import
        # would make `import contimg.science.ingest` fail when it comes first
        from contimg.science.convert.errors import CorruptFileError

        raise CorruptFileError(path, f"{type(exc).__name__}: {exc}") from exc
    return FileHeader(times, freqs, dec)


def is_stable(path: Path | str, wait_s: float) -> bool:
    """Whether a file's size (and mtime) stay unchanged over ``wait_s`` seconds.

    A writer still appending to the file changes its size; one that has finished does not.
    """
    try:
        before = os.stat(path)
        if wait_s > 0:
            time.sleep(wait_s)
        after = os.stat(path)
    except FileNotFoundError:
        return False
    return (before.st_size, before.st_mtime_ns) == (
        after.st_size,
        after.st_mtime_ns,
    ) and after.st_size > 0


def stable_subset(paths: Sequence[Path], wait_s: float) -> list[Path]:
    """Return the paths whose size and mtime stay unchanged over one shared ``wait_s`` wait.

    The batch form of :func:`is_stable`: a directory of files costs one wait, not one each.
    """

    def _sig(p: Path) -> tuple[int, int] | None:
        try:
            st = os.stat(p)
        except FileNotFoundError:
            return None
        return (st.st_size, st.st_mtime_ns) if st.st_size > 0 else None

    before = {p: _sig(p) for p in paths}
    if wait_s > 0 and paths:
        time.sleep(wait_s)
    return [p for p in paths if before[p] is not None and _sig(p) == before[p]]


def probe_file(path: Path | str, *, stable_wait_s: float = 0.0) -> SubbandFile | None:
    """Return the indexed file when it is whole, ``None`` while it is still being written.

    Whole means: a valid name, a size stable over ``stable_wait_s``, and a readable header.

    Raises
    ------
    FileNameError
        The name is not a subband file name.
    CorruptFileError
        The size is stable but the header cannot be read: a truncated or corrupt file.
    """
    base = SubbandFile.from_path(path)
    if not is_stable(base.path, stable_wait_s):
        return None
    header = read_header(base.path)
    return SubbandFile(
        base.path, base.subband, base.timestamp, os.stat(base.path).st_size, header.dec_deg
    )


def group_id_for(files: Iterable[SubbandFile]) -> str:
    """Return the id of a group: sb00's timestamp, else the earliest member timestamp.

    Raises
    ------
    ValueError
        If ``files`` is empty.
    """
    members = list(files)
    if not members:
        raise ValueError("a group needs at least one file")
    sb00 = [f for f in members if f.subband == 0]
    return format_timestamp(min(sb00 or members, key=lambda f: f.timestamp).timestamp)


def cluster_files(
    files: Iterable[SubbandFile], *, tolerance_s: float = 60.0, n_subbands: int = DEFAULT_N_SUBBANDS
) -> list[FileGroup]:
    """Cluster files into groups by timestamp (single linkage with ``tolerance_s``).

    A file whose subband is already in the current cluster starts a new one even within the
    tolerance (two observations can never share a subband), so a too-large tolerance cannot
    merge consecutive groups silently.

    Parameters
    ----------
    files : iterable of SubbandFile
        Files in any order.
    tolerance_s : float
        Largest gap between consecutive timestamps within one group, seconds.
    n_subbands : int
        Subbands of a whole group.

    Returns
    -------
    list of FileGroup
        Groups in time order.
    """
    ordered = sorted(files, key=lambda f: (f.timestamp, f.subband))
    clusters: list[list[SubbandFile]] = []
    for f in ordered:
        cur = clusters[-1] if clusters else None
        if (
            cur is not None
            and (f.timestamp - cur[-1].timestamp).total_seconds() <= tolerance_s
            and all(g.subband != f.subband for g in cur)
        ):
            cur.append(f)
        else:
            clusters.append([f])
    return [
        FileGroup(group_id_for(c), tuple(sorted(c, key=lambda f: f.subband)), n_subbands)
        for c in clusters
    ]


def scan_directory(directory: Path | str) -> tuple[list[SubbandFile], list[Path]]:
    """List subband files in a directory by name (no I/O beyond the listing).

    Returns
    -------
    files : list of SubbandFile
        Files with valid names.
    ignored : list of Path
        ``*.hdf5`` files whose names do not parse.
    """
    found: list[SubbandFile] = []
    ignored: list[Path] = []
    for path in sorted(Path(directory).glob("*.hdf5")):
        try:
            found.append(SubbandFile.from_path(path))
        except FileNameError:
            ignored.append(path.absolute())
    return found, ignored


def select_groups(
    groups: Sequence[FileGroup],
    *,
    start: datetime | None = None,
    end: datetime | None = None,
    group_id: str | None = None,
) -> list[FileGroup]:
    """Return the groups whose id matches, or whose first timestamp lies in ``[start, end]``."""
    out = []
    for g in groups:
        if group_id is not None and g.group_id != group_id:
            continue
        if start is not None and g.first_timestamp < start:
            continue
        if end is not None and g.first_timestamp > end:
            continue
        out.append(g)
    return out
