"""QA of calibration tables and the gate that marks a set valid or rejected."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from contimg.science.calibrate._types import CalTable, CalTableKind, TableQA

__all__ = ["CalTableError", "QAThresholds", "check_caltable", "gate", "measure_table"]


class CalTableError(RuntimeError):
    """A caltable that cannot be read or is not a calibration table; the message names its path."""


@dataclass(frozen=True)
class QAThresholds:
    """Limits a set must meet to be ``valid``.

    Attributes
    ----------
    max_flagged_fraction : float
        Largest flagged fraction of solutions per table.
    min_snr : float
        Smallest median SNR of the solutions per table.
    max_amp_scatter : float
        Largest relative amplitude scatter of the solutions.
    max_phase_scatter_deg : float
        Largest phase scatter of the solutions, degrees.
    """

    max_flagged_fraction: float = 0.3
    min_snr: float = 5.0
    max_amp_scatter: float = 0.2
    max_phase_scatter_deg: float = 20.0


def _robust_std(x: np.ndarray) -> float:
    x = x[np.isfinite(x)]
    if x.size == 0:
        return float("nan")
    return float(1.4826 * np.median(np.abs(x - np.median(x))))


def check_caltable(path: Path) -> None:
    """Open a caltable and check it is a readable calibration table with solutions.

    Parameters
    ----------
    path : Path
        The table.

    Raises
    ------
    CalTableError
        Missing, unreadable, not a caltable, or without rows; the message names ``path``.
    """
    from casacore.tables import table

    path = Path(path)
    if not path.is_dir():
        raise CalTableError(f"caltable {path} does not exist")
    try:
        with table(str(path), ack=False) as tb:
            cols = set(tb.colnames())
            if not {"FLAG", "ANTENNA1", "TIME"} <= cols or not ({"CPARAM", "FPARAM"} & cols):
                raise CalTableError(f"caltable {path} is not a calibration table")
            if tb.nrows() == 0:
                raise CalTableError(f"caltable {path} holds no solutions")
            col = "CPARAM" if "CPARAM" in cols else "FPARAM"
            values = tb.getcol(col)
            flags = tb.getcol("FLAG")
            if values.shape != flags.shape:
                raise CalTableError(f"caltable {path}: {col} and FLAG shapes differ")
            good = values[~flags]
            # a damaged value file can still parse: refuse what no solver writes
            if not np.all(np.isfinite(good)) or (col == "CPARAM" and np.any(good == 0)):
                raise CalTableError(f"caltable {path} holds non-finite or zero solutions")
    except CalTableError:
        raise
    except Exception as exc:  # casacore raises plain RuntimeError on any table damage
        raise CalTableError(f"caltable {path} is unreadable: {exc}") from exc


def measure_table(path: Path, kind: CalTableKind, antennas: Sequence[int] | None = None) -> TableQA:
    """Measure flagged fraction, SNR and solution scatter of one caltable.

    Scatter is measured between neighbouring channels (bandpass) or consecutive solutions
    (gains), so it reflects noise in the solutions rather than the true spread of gains.

    Parameters
    ----------
    path : Path
        The caltable.
    kind : CalTableKind
        Its type.
    antennas : sequence of int, optional
        ANTENNA rows that carry data; rows of other antennas (absent from the MS) are ignored.

    Returns
    -------
    TableQA
        The metrics.
    """
    from casacore.tables import table

    check_caltable(path)
    with table(str(path), ack=False) as tb:
        cols = tb.colnames()
        values = tb.getcol("CPARAM") if "CPARAM" in cols else tb.getcol("FPARAM")
        flags = tb.getcol("FLAG")
        snr = tb.getcol("SNR") if "SNR" in cols else np.full(flags.shape, np.nan)
        ant = tb.getcol("ANTENNA1")
    if antennas is not None:
        keep = np.isin(ant, np.asarray(antennas))
        values, flags, snr, ant = values[keep], flags[keep], snr[keep], ant[keep]
    if flags.size == 0:
        return TableQA(1.0, float("nan"), float("nan"), float("nan"))
    with warnings.catch_warnings():
        # fully flagged antennas give all-NaN slices: their scatter is simply undefined
        warnings.simplefilter("ignore", RuntimeWarning)
        return _metrics(values, flags, snr, ant, kind)


def _metrics(
    values: np.ndarray, flags: np.ndarray, snr: np.ndarray, ant: np.ndarray, kind: CalTableKind
) -> TableQA:
    flagged = float(np.mean(flags))
    good = ~flags
    snr_med = float(np.median(snr[good])) if np.any(good) else float("nan")
    if kind is CalTableKind.DELAY and not np.any(snr[good] > 0):
        snr_med = float("nan")  # CASA's delay solver leaves SNR at 0: not measured, not bad
    if kind is CalTableKind.DELAY or not np.iscomplexobj(values):
        return TableQA(flagged, snr_med, 0.0, 0.0)
    vals = np.where(good, values, np.nan)
    amp_dev: list[np.ndarray] = []
    ph_dev: list[np.ndarray] = []
    if kind is CalTableKind.BANDPASS:
        # rows = (time, antenna); axis 1 = channel: differences between neighbouring channels
        med = np.nanmedian(np.abs(vals), axis=1, keepdims=True)
        amp_dev.append((np.diff(np.abs(vals), axis=1) / med / np.sqrt(2)).ravel())
        ph_dev.append(
            np.rad2deg(np.angle(vals[:, 1:] * np.conj(vals[:, :-1]))).ravel() / np.sqrt(2)
        )
    else:
        for a in np.unique(ant):
            series = vals[ant == a]  # (ntime, chan, pol)
            if series.shape[0] < 2:
                continue
            med = np.nanmedian(np.abs(series), axis=0, keepdims=True)
            amp_dev.append((np.diff(np.abs(series), axis=0) / med / np.sqrt(2)).ravel())
            ph_dev.append(
                np.rad2deg(np.angle(series[1:] * np.conj(series[:-1]))).ravel() / np.sqrt(2)
            )
    amp = _robust_std(np.concatenate(amp_dev)) if amp_dev else 0.0
    ph = _robust_std(np.concatenate(ph_dev)) if ph_dev else 0.0
    return TableQA(flagged, snr_med, amp, ph)


def gate(tables: Sequence[CalTable], thresholds: QAThresholds) -> tuple[str, ...]:
    """Return the reasons a set fails its thresholds (empty: it passes).

    Parameters
    ----------
    tables : sequence of CalTable
        Tables with ``qa`` measured.
    thresholds : QAThresholds
        Limits.

    Returns
    -------
    tuple of str
        One reason per failed check, naming the table kind, metric, value and limit.
    """
    reasons: list[str] = []
    if not tables:
        reasons.append("no calibration tables were produced")
    for t in tables:
        qa = t.qa
        if qa is None:
            reasons.append(f"{t.kind.value}: QA not measured")
            continue
        name = t.kind.value
        if qa.flagged_fraction > thresholds.max_flagged_fraction:
            reasons.append(
                f"{name}: {qa.flagged_fraction:.1%} of solutions flagged "
                f"(limit {thresholds.max_flagged_fraction:.1%})"
            )
        # nan SNR: no unflagged solutions (reported above) or a table without SNR
        if np.isfinite(qa.snr_median) and qa.snr_median < thresholds.min_snr:
            reasons.append(f"{name}: median SNR {qa.snr_median:.1f} (limit {thresholds.min_snr:g})")
        if np.isfinite(qa.amp_scatter) and qa.amp_scatter > thresholds.max_amp_scatter:
            reasons.append(
                f"{name}: amplitude scatter {qa.amp_scatter:.3f} "
                f"(limit {thresholds.max_amp_scatter:g})"
            )
        if (
            np.isfinite(qa.phase_scatter_deg)
            and qa.phase_scatter_deg > thresholds.max_phase_scatter_deg
        ):
            reasons.append(
                f"{name}: phase scatter {qa.phase_scatter_deg:.1f} deg "
                f"(limit {thresholds.max_phase_scatter_deg:g} deg)"
            )
    return tuple(reasons)
