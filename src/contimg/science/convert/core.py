"""Convert one group of subband files to one Measurement Set."""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from astropy.time import Time

from contimg.config.settings import ConversionSettings
from contimg.science.convert._group import plan_group
from contimg.science.convert._request import WriteRequest
from contimg.science.convert.errors import ConversionError
from contimg.science.convert.layout import MsTelescope, dsa110_telescope
from contimg.science.convert.phasing import meridian_phasing
from contimg.science.ingest import DEFAULT_N_SUBBANDS, SubbandFile, group_id_for

__all__ = ["WRITERS", "ConvertedMS", "Writer", "convert_group"]

Writer = Callable[[WriteRequest], None]


def _fast(req: WriteRequest) -> None:
    from contimg.science.convert._fast import write_fast

    write_fast(req)


def _pyuvdata(req: WriteRequest) -> None:
    from contimg.science.convert._reference import write_pyuvdata

    write_pyuvdata(req)


#: MS writers by name (``conversion.writer``); heavy imports happen inside each.
WRITERS: dict[str, Writer] = {"fast": _fast, "pyuvdata": _pyuvdata}


@dataclass(frozen=True)
class ConvertedMS:
    """A Measurement Set made from one group.

    Attributes
    ----------
    path : Path
        The MS (absolute), ``<out_dir>/<group_id>.ms``.
    group_id : str
        The group.
    writer : str
        Writer that made it.
    start_mjd, mid_mjd, end_mjd : float
        Start of the first integration, middle, end of the last (MJD UTC).
    dec_deg : float
        Pointing declination (field declination), degrees.
    ra_mid_deg : float
        ICRS RA of the middle field, degrees.
    n_fields : int
        Fields (one per integration).
    n_rows : int
        Main-table rows.
    n_antennas : int
        Antennas carrying data.
    n_channels : int
        Channels (ascending, contiguous).
    freq_min_hz, freq_max_hz : float
        First and last channel centre.
    missing_subbands : tuple of int
        Subbands written flagged (``missing_subbands = "flag"``).
    field_names : tuple of str
        Field names (they carry the integration times).
    visibility_bytes : int
        Bytes of complex64 visibilities written.
    seconds : float
        Wall time of the conversion.
    """

    path: Path
    group_id: str
    writer: str
    start_mjd: float
    mid_mjd: float
    end_mjd: float
    dec_deg: float
    ra_mid_deg: float
    n_fields: int
    n_rows: int
    n_antennas: int
    n_channels: int
    freq_min_hz: float
    freq_max_hz: float
    missing_subbands: tuple[int, ...]
    field_names: tuple[str, ...]
    visibility_bytes: int
    seconds: float


def _as_mapping(files: Sequence[Path | str] | Mapping[int, Path]) -> tuple[dict[int, Path], str]:
    if isinstance(files, Mapping):
        members = [SubbandFile.from_path(p) for p in files.values()]
    else:
        members = [SubbandFile.from_path(p) for p in files]
    by_sb: dict[int, Path] = {}
    for m in members:
        if m.subband in by_sb:
            raise ConversionError(
                f"subband sb{m.subband:02d} given twice: {by_sb[m.subband]} and {m.path}"
            )
        by_sb[m.subband] = m.path
    return by_sb, group_id_for(members)


def _buffer_dir(settings: ConversionSettings, fallback: Path) -> Path:
    """Where the shared read buffer lives: tmpfs (configured, else /dev/shm), else scratch.

    The buffer is written once and read once; on a disk it would be written back for nothing
    (and deleting it would wait for that).
    """
    for candidate in (settings.tmpfs_dir, Path("/dev/shm")):
        if candidate is not None and Path(candidate).is_dir() and os.access(candidate, os.W_OK):
            return Path(candidate)
    return fallback


def convert_group(
    files: Sequence[Path | str] | Mapping[int, Path],
    out_dir: Path | str,
    scratch_dir: Path | str,
    settings: ConversionSettings,
    *,
    group_id: str | None = None,
    telescope: MsTelescope | None = None,
    n_subbands: int = DEFAULT_N_SUBBANDS,
) -> ConvertedMS:
    """Convert a group's subband files into ``<out_dir>/<group_id>.ms``.

    The MS is assembled under a temporary name in ``scratch_dir`` (or ``settings.tmpfs_dir``)
    and renamed into ``out_dir`` only when complete, so a crash never leaves a half MS there.

    Parameters
    ----------
    files : sequence of path, or mapping subband -> path
        The group's files (names ``YYYY-MM-DDTHH:MM:SS_sbNN.hdf5``).
    out_dir : path
        Directory of finished MSs (``<workdir>/ms``).
    scratch_dir : path
        Scratch directory for the temporary MS and buffers.
    settings : ConversionSettings
        ``writer``, ``missing_subbands``, ``n_workers``, ``tmpfs_dir``.
    group_id : str, optional
        Group id (default: sb00's timestamp, else the earliest timestamp).
    telescope : MsTelescope, optional
        Identity and stations to stamp (default: DSA-110 from the instrument model).
    n_subbands : int
        Subbands of a whole group.

    Returns
    -------
    ConvertedMS
        The finished MS and what it contains.

    Raises
    ------
    MissingSubbandsError
        Subbands are absent and ``settings.missing_subbands == "fail"``.
    CorruptFileError
        A file is truncated or unreadable (the error names it).
    InconsistentGroupError
        A file does not match the others of its group.
    ConversionError
        Any other reason the group cannot be converted (e.g. the MS already exists).
    """
    t_start = time.perf_counter()
    by_sb, default_id = _as_mapping(files)
    gid = group_id or default_id
    if settings.writer not in WRITERS:
        raise ConversionError(
            f"unknown conversion.writer {settings.writer!r}; one of {sorted(WRITERS)}"
        )
    out_dir = Path(out_dir).absolute()
    final = out_dir / f"{gid}.ms"
    if final.exists():
        raise ConversionError(f"{final} already exists; remove it to convert group {gid} again")
    plan = plan_group(gid, by_sb, n_subbands=n_subbands, missing_subbands=settings.missing_subbands)
    tel = telescope or dsa110_telescope()
    lut = tel.ids_for(plan.antenna_numbers, plan.antenna_names)
    ant1, ant2 = lut[plan.ant1], lut[plan.ant2]
    phasing = meridian_phasing(
        time_jd=plan.time_jd,
        ant1=ant1,
        ant2=ant2,
        dec_rad=plan.dec_rad,
        location=tel.location,
        antenna_numbers=tel.numbers,
        antenna_positions=tel.positions,
    )
    work_root = Path(settings.tmpfs_dir or scratch_dir)
    work_root.mkdir(parents=True, exist_ok=True)
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f".convert-{gid}-", dir=work_root) as tmp:
        tmp_ms = Path(tmp) / f"{gid}.ms"
        req = WriteRequest(
            plan=plan,
            phasing=phasing,
            layout=tel,
            ant1=ant1,
            ant2=ant2,
            out_path=tmp_ms,
            n_workers=settings.n_workers,
            buffer_dir=_buffer_dir(settings, Path(tmp)),
            history=f"contimg convert group {gid} writer={settings.writer}",
        )
        WRITERS[settings.writer](req)
        if tmp_ms.stat().st_dev == out_dir.stat().st_dev:
            os.rename(tmp_ms, final)
        else:  # tmpfs: copy next to the target, then rename atomically
            staging = out_dir / f".{gid}.ms.partial"
            shutil.rmtree(staging, ignore_errors=True)
            shutil.copytree(tmp_ms, staging)
            os.rename(staging, final)
    half = float(plan.integration_s[0]) / 2 / 86400.0
    mjd = Time(phasing.times_jd, format="jd", scale="utc").mjd
    mid = len(phasing.times_jd) // 2
    return ConvertedMS(
        path=final,
        group_id=gid,
        writer=settings.writer,
        start_mjd=float(mjd.min() - half),
        mid_mjd=float((mjd.min() + mjd.max()) / 2),
        end_mjd=float(mjd.max() + half),
        dec_deg=float(np.rad2deg(plan.dec_rad)),
        ra_mid_deg=float(np.rad2deg(phasing.ra_icrs[mid])),
        n_fields=len(phasing.names),
        n_rows=plan.n_blt,
        n_antennas=int(np.unique(np.concatenate([ant1, ant2])).size),
        n_channels=plan.n_chan,
        freq_min_hz=float(plan.freqs_hz[0]),
        freq_max_hz=float(plan.freqs_hz[-1]),
        missing_subbands=plan.missing,
        field_names=phasing.names,
        visibility_bytes=plan.n_blt * plan.n_chan * plan.n_pol * 8,
        seconds=time.perf_counter() - t_start,
    )
