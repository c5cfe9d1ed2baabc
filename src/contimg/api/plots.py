"""PNG plots rendered on request: caltable solutions and light curves.

Figures are built on matplotlib's object API with the Agg canvas (no pyplot
state), so requests in different threads never share a figure. casacore is not
thread-safe: table reads hold one lock.
"""

from __future__ import annotations

import io
import threading
from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

__all__ = ["PlotError", "caltable_png", "lightcurve_png"]

_CASACORE_LOCK = threading.Lock()
_MAX_ANTENNAS_SHOWN = 24


class PlotError(ValueError):
    """The data cannot be plotted (unknown table layout, nothing unflagged...)."""


def _png(fig: Figure) -> bytes:
    FigureCanvasAgg(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90)
    return buf.getvalue()


def _read_caltable(path: Path) -> dict[str, Any]:
    from casacore import tables  # heavy; only when a plot is asked for

    with _CASACORE_LOCK:
        with tables.table(str(path), ack=False, readonly=True) as tab:
            cols = set(tab.colnames())
            param = "CPARAM" if "CPARAM" in cols else "FPARAM" if "FPARAM" in cols else None
            if param is None:
                raise PlotError(f"{path.name}: no CPARAM or FPARAM column")
            out = {
                "param": param,
                "values": tab.getcol(param),
                "flags": tab.getcol("FLAG"),
                "time": tab.getcol("TIME"),
                "antenna": tab.getcol("ANTENNA1"),
            }
        with tables.table(f"{path}::SPECTRAL_WINDOW", ack=False, readonly=True) as spw:
            out["freq"] = np.concatenate([np.ravel(f) for f in spw.getcol("CHAN_FREQ")])
    return out


def caltable_png(path: str | Path, kind: str = "") -> bytes:
    """Plot a CASA caltable: amplitude and phase per antenna, against frequency or time.

    Parameters
    ----------
    path : str or Path
        The caltable directory.
    kind : str
        Its kind as registered (``B``, ``G``, ``K`` ...), for the title.

    Returns
    -------
    bytes
        The PNG.

    Raises
    ------
    FileNotFoundError
        The table does not exist.
    PlotError
        It is not a caltable this function understands, or everything is flagged.
    """
    path = Path(path)
    if not path.is_dir():
        raise FileNotFoundError(path)
    data = _read_caltable(path)
    values = np.asarray(data["values"])  # (row, chan, corr)
    flags = np.asarray(data["flags"], dtype=bool)
    if values.ndim != 3 or flags.all():
        raise PlotError(f"{path.name}: nothing unflagged to plot")
    masked = np.ma.masked_array(values, mask=flags)
    antennas = np.asarray(data["antenna"])
    with_data = [a for a in np.unique(antennas) if not flags[antennas == a].all()]
    shown = np.asarray(with_data[:_MAX_ANTENNAS_SHOWN])
    n_chan = values.shape[1]
    fig = Figure(figsize=(9, 5.5), layout="constrained")
    if data["param"] == "FPARAM":
        ax = fig.add_subplot()
        for corr in range(values.shape[2]):
            per_ant = [masked[antennas == a, :, corr].mean() for a in shown]
            ax.plot(shown, per_ant, "o", label=f"corr {corr}")
        ax.set_xlabel("antenna")
        ax.set_ylabel(f"{kind or 'solution'} value")
        ax.legend()
    else:
        amp_ax, ph_ax = fig.subplots(2, 1, sharex=True)
        times = np.asarray(data["time"])
        if n_chan > 1:  # bandpass: one line per antenna and feed against frequency
            freq_ghz = np.asarray(data["freq"])[:n_chan] / 1e9
            for a in shown:
                for corr, style in zip(range(values.shape[2]), ("-", "--"), strict=False):
                    y = masked[antennas == a, :, corr].mean(axis=0)
                    amp_ax.plot(freq_ghz, np.ma.abs(y), style, lw=0.8)
                    ph_ax.plot(freq_ghz, np.degrees(np.ma.angle(y)), style, lw=0.8)
            ph_ax.set_xlabel("frequency (GHz)")
        elif np.unique(times).size == 1:  # one solution interval: values per antenna
            for corr, marker in zip(range(values.shape[2]), ("o", "s"), strict=False):
                y = np.ma.array([masked[antennas == a, 0, corr].mean() for a in shown])
                amp_ax.plot(shown, np.ma.abs(y), marker, ms=4, mfc="none" if corr else None)
                ph_ax.plot(
                    shown, np.degrees(np.ma.angle(y)), marker, ms=4, mfc="none" if corr else None
                )
            ph_ax.set_xlabel("antenna (one solution interval)")
        else:  # gains against time
            t0 = float(np.min(times))
            for a in shown:
                rows = antennas == a
                order = np.argsort(times[rows])
                x = (times[rows][order] - t0) / 60.0
                for corr, style in zip(range(values.shape[2]), ("o-", "s--"), strict=False):
                    y = masked[rows, 0, corr][order]
                    amp_ax.plot(x, np.ma.abs(y), style, lw=0.8, ms=3)
                    ph_ax.plot(x, np.degrees(np.ma.angle(y)), style, lw=0.8, ms=3)
            ph_ax.set_xlabel("time (min from first solution)")
        amp_ax.set_ylabel("amplitude")
        ph_ax.set_ylabel("phase (deg)")
    fig.suptitle(
        f"{path.name}  [{kind or data['param']}]  {len(shown)} antennas with data "
        "(X solid/filled, Y dashed/open)"
    )
    return _png(fig)


def lightcurve_png(
    name: str,
    times: Sequence[datetime | None],
    flux_jy: Sequence[float],
    err_jy: Sequence[float],
    upper_limit: Sequence[bool],
    limit_jy: Sequence[float],
) -> bytes:
    """Plot a light curve: detections with error bars, upper limits as down-arrows.

    Parameters
    ----------
    name : str
        Source name (title).
    times : sequence of datetime or None
        Measurement times (points without a time are placed by index).
    flux_jy, err_jy : sequence of float
        Forced-photometry flux and 1-sigma error.
    upper_limit : sequence of bool
        Whether each point is an upper limit.
    limit_jy : sequence of float
        The limit of each upper-limit point.

    Returns
    -------
    bytes
        The PNG.
    """
    fig = Figure(figsize=(8, 3.6), layout="constrained")
    ax = fig.add_subplot()
    use_time = bool(times) and all(t is not None for t in times)
    x = list(times) if use_time else list(range(len(flux_jy)))
    flux = np.asarray(flux_jy, dtype=float) * 1e3
    err = np.asarray(err_jy, dtype=float) * 1e3
    lim = np.asarray(limit_jy, dtype=float) * 1e3
    ul = np.asarray(upper_limit, dtype=bool)
    det = ~ul
    if det.any():
        ax.errorbar(
            [x[i] for i in np.flatnonzero(det)],
            flux[det],
            yerr=err[det],
            fmt="o",
            color="#1f5fa8",
            ms=4,
            capsize=2,
            label="detection",
        )
        ax.axhline(float(np.average(flux[det])), color="#999", lw=0.8, ls=":")
    if ul.any():
        ax.plot(
            [x[i] for i in np.flatnonzero(ul)], lim[ul], "v", color="#c0392b", label="upper limit"
        )
    ax.set_ylabel("flux density (mJy)")
    ax.set_xlabel("time (UTC)" if use_time else "measurement")
    ax.set_title(name)
    if len(flux):
        ax.legend(loc="best", fontsize="small")
    else:
        ax.text(0.5, 0.5, "no measurements yet", ha="center", va="center", transform=ax.transAxes)
    if use_time:
        if len(set(x)) == 1:  # one epoch: a readable window around it, not matplotlib's years
            ax.set_xlim(x[0] - timedelta(hours=1), x[0] + timedelta(hours=1))
        fig.autofmt_xdate()
    return _png(fig)
