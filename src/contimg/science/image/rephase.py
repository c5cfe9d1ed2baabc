"""Re-phase a multi-field (drift-scan) Measurement Set to one common phase centre.

A converted DSA-110 group has one FIELD per integration, each phased to the meridian at its own
time. Imagers grid one phase centre, so the whole group is first re-phased to the group's
mid-time meridian: for every row the baseline vector is rotated from its field's (u, v, w) frame
into the new centre's frame and the visibilities are multiplied by the geometric phase of the
change in w. Relabelling the centre and recomputing UVW alone would image wrongly.

Conventions (verified by the closed-loop test against pyuvdata's own phasing, which agrees to
1e-4): the MS stores ``V = sum S exp(-2 pi i (u l + v m + w (n - 1)) / lambda)`` against its UVW
column (CASA's convention), so moving the phase centre multiplies ``V`` by
``exp(-2 pi i (w_new - w_old) / lambda)``.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import structlog

__all__ = ["FieldCentres", "Rephaser", "field_centres", "group_centre", "rephase_ms"]

_C = 299_792_458.0
_CHUNK_ROWS = 50_000
log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class FieldCentres:
    """Phase centres of an MS's fields and the mean time each is observed.

    Attributes
    ----------
    ra_rad, dec_rad : numpy.ndarray
        J2000 phase centre of each FIELD row, radians.
    time_mjd_s : numpy.ndarray
        Mean TIME (MJD seconds) of the rows of each field; NaN for fields without rows.
    rows : numpy.ndarray
        Number of rows per field.
    """

    ra_rad: np.ndarray
    dec_rad: np.ndarray
    time_mjd_s: np.ndarray
    rows: np.ndarray

    @property
    def used(self) -> np.ndarray:
        """Indices of fields that have rows."""
        return np.flatnonzero(self.rows > 0)


def field_centres(ms: Path) -> FieldCentres:
    """Read each field's phase centre and mean observing time.

    Parameters
    ----------
    ms : Path
        Measurement Set.

    Returns
    -------
    FieldCentres
        Centres, times and row counts per field.
    """
    from casacore.tables import table

    with table(str(Path(ms) / "FIELD"), ack=False) as ft:
        phase_dir = np.asarray(ft.getcol("PHASE_DIR"))[:, 0, :]
    with table(str(ms), ack=False) as t:
        field_id = np.asarray(t.getcol("FIELD_ID"))
        time = np.asarray(t.getcol("TIME"))
    nfield = phase_dir.shape[0]
    rows = np.bincount(field_id, minlength=nfield)
    tsum = np.bincount(field_id, weights=time, minlength=nfield)
    with np.errstate(invalid="ignore", divide="ignore"):
        tmean = np.where(rows > 0, tsum / np.maximum(rows, 1), np.nan)
    return FieldCentres(phase_dir[:, 0], phase_dir[:, 1], tmean, rows)


def group_centre(centres: FieldCentres) -> tuple[float, float]:
    """Return the group's mid-time phase centre (RA, Dec in radians).

    For a drift scan the field RAs follow the meridian (linear in time): the centre is that line
    evaluated at the middle of the observed time range. A single field is its own centre.

    Parameters
    ----------
    centres : FieldCentres
        From :func:`field_centres`.

    Returns
    -------
    tuple of float
        (ra, dec) in radians, ra in [0, 2 pi).
    """
    used = centres.used
    if used.size == 0:
        raise ValueError("MS has no rows")
    ra = np.unwrap(centres.ra_rad[used])
    t = centres.time_mjd_s[used]
    dec = float(np.average(centres.dec_rad[used], weights=centres.rows[used]))
    if used.size == 1 or np.ptp(t) == 0:
        return float(ra[0] % (2 * np.pi)), dec
    slope, intercept = np.polyfit(t - t.mean(), ra, 1)
    t_mid = 0.5 * (t.min() + t.max()) - t.mean()
    return float((intercept + slope * t_mid) % (2 * np.pi)), dec


def _uvw_frame(ra: float, dec: float) -> np.ndarray:
    """Rows: unit vectors u, v, w of a phase centre in equatorial XYZ."""
    sa, ca, sd, cd = np.sin(ra), np.cos(ra), np.sin(dec), np.cos(dec)
    return np.array([[-sa, ca, 0.0], [-sd * ca, -sd * sa, cd], [cd * ca, cd * sa, sd]])


class Rephaser:
    """Moves rows of an MS to a new phase centre: rotated UVW and the visibility phasors.

    Parameters
    ----------
    ms : Path
        The Measurement Set whose rows will be re-phased (its FIELD, SPECTRAL_WINDOW and
        DATA_DESCRIPTION tables are read once).
    centre : tuple of float
        New phase centre (RA, Dec), radians, J2000.
    """

    def __init__(self, ms: Path, centre: tuple[float, float]) -> None:
        from casacore.tables import table

        self.centre = centre
        self.centres = field_centres(ms)
        new_frame = _uvw_frame(*centre)
        self._rotation = {
            int(f): new_frame @ _uvw_frame(self.centres.ra_rad[f], self.centres.dec_rad[f]).T
            for f in self.centres.used
        }
        with table(str(Path(ms) / "SPECTRAL_WINDOW"), ack=False) as spw:
            self._chan_freq = np.asarray(spw.getcol("CHAN_FREQ"))
        with table(str(Path(ms) / "DATA_DESCRIPTION"), ack=False) as dd:
            self._spw_of_ddid = np.asarray(dd.getcol("SPECTRAL_WINDOW_ID"))

    def rows(
        self, field_id: np.ndarray, ddid: np.ndarray, uvw: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Return the rows' UVW in the new frame and their complex64 phasors, (row, channel, 1).

        Multiplying a row's visibilities by its phasor, ``exp(-2 pi i (w_new - w_old) / lambda)``
        per channel, moves them to the new centre.
        """
        new_uvw = np.empty_like(uvw)
        for f in np.unique(field_id):
            sel = field_id == f
            new_uvw[sel] = uvw[sel] @ self._rotation[int(f)].T
        dw_c = (uvw[:, 2] - new_uvw[:, 2]) / _C
        phasor = np.empty((len(uvw), self._chan_freq.shape[1]), np.complex64)
        spws = self._spw_of_ddid[ddid]
        unique = np.unique(spws)
        for spw in unique:
            sel = slice(None) if unique.size == 1 else spws == spw
            # the phase in turns, reduced to [-0.5, 0.5] in double precision, one spectral
            # window's channels at a time (no per-row copy of the frequencies); its sine and
            # cosine in single precision, written straight into the phasors
            turns = np.multiply.outer(dw_c[sel], self._chan_freq[spw])
            turns -= np.rint(turns)
            angle = turns.astype(np.float32)
            angle *= np.float32(2 * np.pi)
            block = phasor[sel]
            np.cos(angle, out=block.real)
            np.sin(angle, out=block.imag)
            if not isinstance(sel, slice):
                phasor[sel] = block
        return new_uvw, phasor[:, :, None]

    def finish(self, target: Path, field_name: str = "group_centre") -> None:
        """Leave ``target`` (whose rows are re-phased) with one FIELD at the new centre."""
        from casacore.tables import table, taql

        centre = self.centre
        with table(str(target / "FIELD"), ack=False, readonly=False) as ft:
            if ft.nrows() > 1:
                ft.removerows(list(range(1, ft.nrows())))
            direction = np.array([[list(centre)]])
            for col in ("PHASE_DIR", "DELAY_DIR", "REFERENCE_DIR"):
                ft.putcol(col, direction)
            ft.putcell("NAME", 0, field_name)
        if "SOURCE" in _subtables(target):
            # Keep SOURCE consistent with the single field (imagers ignore it; listobs reads it).
            taql(f"UPDATE {target}/SOURCE SET DIRECTION=[{centre[0]}, {centre[1]}]")


def rephase_ms(
    ms: Path,
    centre: tuple[float, float],
    out: Path | None = None,
    *,
    field_name: str = "group_centre",
) -> Path:
    """Re-phase every row of ``ms`` to ``centre`` and leave one FIELD.

    Parameters
    ----------
    ms : Path
        Input Measurement Set (any number of fields).
    centre : tuple of float
        New phase centre (RA, Dec), radians, J2000.
    out : Path, optional
        Write a re-phased deep copy here (the input is untouched). Default: re-phase ``ms`` in
        place (DATA, CORRECTED_DATA and MODEL_DATA rotated, UVW recomputed, FIELD reduced to one
        row, FIELD_ID set to 0).
    field_name : str
        Name of the remaining field.

    Returns
    -------
    Path
        The re-phased Measurement Set.
    """
    from casacore.tables import table

    ms = Path(ms)
    if out is not None:
        out = Path(out)
        if out.exists():
            shutil.rmtree(out)
        out.parent.mkdir(parents=True, exist_ok=True)
        with table(str(ms), ack=False) as t:
            t.copy(str(out), deep=True, valuecopy=True)
        target = out
    else:
        target = ms
    rephaser = Rephaser(target, centre)
    with table(str(target), ack=False, readonly=False) as t:
        columns = [c for c in ("DATA", "CORRECTED_DATA", "MODEL_DATA") if c in t.colnames()]
        nrow = t.nrows()
        for start in range(0, nrow, _CHUNK_ROWS):
            n = min(_CHUNK_ROWS, nrow - start)
            new_uvw, phasor = rephaser.rows(
                t.getcol("FIELD_ID", start, n),
                t.getcol("DATA_DESC_ID", start, n),
                t.getcol("UVW", start, n),
            )
            t.putcol("UVW", new_uvw, start, n)
            for col in columns:
                data = t.getcol(col, start, n)
                t.putcol(col, (data * phasor).astype(data.dtype), start, n)
            t.putcol("FIELD_ID", np.zeros(n, dtype=np.int32), start, n)
    rephaser.finish(target, field_name)
    log.info(
        "image.rephased",
        ms=str(ms),
        out=str(target),
        fields=int(rephaser.centres.used.size),
        ra_deg=float(np.rad2deg(centre[0])),
        dec_deg=float(np.rad2deg(centre[1])),
    )
    return target


def _subtables(ms: Path) -> set[str]:
    return {p.name for p in Path(ms).iterdir() if p.is_dir()}
