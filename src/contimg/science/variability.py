r"""Light-curve variability metrics η and V, batch and incremental, and light-curve plots.

Definitions follow the VAST pipeline (Murphy et al. 2021, PASA 38, e054; metrics from
Rowlinson et al. 2019, A&C 27, 111; code ``vast_pipeline.pipeline.utils``), for ``N``
measurements :math:`S_i` with errors :math:`\sigma_i`, :math:`w_i = 1/\sigma_i^2`:

.. math::

    \eta = \frac{N}{N-1}\left(\overline{w S^2}
           - \frac{\overline{w S}^2}{\overline{w}}\right),
    \qquad
    V = \frac{s}{\overline{S}},

with overlines plain means over the measurements and :math:`s` the sample standard
deviation (``ddof=1``, as pandas' ``std``). Both are 0 for a single measurement, as in
the VAST pipeline. :math:`\eta` is the weighted reduced :math:`\chi^2` about the weighted
mean: :math:`\eta = \sum_i w_i (S_i - \bar S_w)^2 / (N-1)`.

Forced measurements flagged as upper limits enter the metrics with their fitted flux and
error (a forced fit is a measurement, not a limit), as the VAST pipeline does with its
forced extractions.

Incremental update: :class:`RunningStats` keeps, per source, ``n``, the weighted and
unweighted means and the sums of squared deviations (West 1979, CACM 22, 532; Welford
1962), so one new measurement updates the metrics in O(1) without the earlier epochs,
and two partial states merge exactly (Chan, Golub & LeVeque 1979). This avoids the
cancellation of raw sums :math:`\sum w S^2 - (\sum w S)^2/\sum w` for bright, precise
sources.

Examples
--------
>>> from contimg.science.variability import RunningStats, eta_metric
>>> stats = RunningStats().add(1.0, 0.1).add(1.2, 0.1).add(0.8, 0.1)
>>> round(stats.eta, 6), round(eta_metric([1.0, 1.2, 0.8], [0.1, 0.1, 0.1]), 6)
(4.0, 4.0)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Protocol

import numpy as np

from contimg.config.settings import PhotometrySettings
from contimg.science._fitsplane import atomic_write

__all__ = [
    "LightCurveAccumulator",
    "LightCurvePoint",
    "RunningStats",
    "SourceState",
    "VariabilityMetrics",
    "eta_metric",
    "is_candidate",
    "plot_lightcurve",
    "v_metric",
    "variability_metrics",
]


def eta_metric(fluxes: Sequence[float], errors: Sequence[float]) -> float:
    """Return η exactly as the VAST pipeline computes it (batch).

    Parameters
    ----------
    fluxes, errors : sequence of float
        Flux densities and their one-sigma errors (errors > 0).

    Returns
    -------
    float
        η; 0 for fewer than two measurements.
    """
    f = np.asarray(fluxes, dtype=np.float64)
    n = f.size
    if n < 2:
        return 0.0
    w = 1.0 / np.asarray(errors, dtype=np.float64) ** 2
    return float(n / (n - 1) * ((w * f**2).mean() - (w * f).mean() ** 2 / w.mean()))


def v_metric(fluxes: Sequence[float]) -> float:
    """Return V (modulation index) as the VAST pipeline computes it (batch).

    Parameters
    ----------
    fluxes : sequence of float
        Flux densities.

    Returns
    -------
    float
        ``std(ddof=1) / mean``; 0 for fewer than two measurements, NaN when the mean is 0.
    """
    f = np.asarray(fluxes, dtype=np.float64)
    if f.size < 2:
        return 0.0
    mean = f.mean()
    if mean == 0:
        return math.nan
    return float(f.std(ddof=1) / mean)


@dataclass(frozen=True)
class RunningStats:
    r"""Mergeable running state of one light curve (what the ``sources`` table stores).

    Attributes
    ----------
    n : int
        Number of measurements.
    sum_w : float
        :math:`\sum w_i`.
    wmean : float
        Weighted mean flux :math:`\sum w_i S_i / \sum w_i`.
    wm2 : float
        :math:`\sum w_i (S_i - \bar S_w)^2`.
    mean : float
        Unweighted mean flux.
    m2 : float
        :math:`\sum (S_i - \bar S)^2`.
    """

    n: int = 0
    sum_w: float = 0.0
    wmean: float = 0.0
    wm2: float = 0.0
    mean: float = 0.0
    m2: float = 0.0

    def add(self, flux: float, error: float) -> RunningStats:
        """Return the state with one more measurement (West 1979 weighted update)."""
        if not error > 0:
            raise ValueError(f"flux error must be > 0, got {error!r}")
        w = 1.0 / error**2
        n = self.n + 1
        sum_w = self.sum_w + w
        d_w = flux - self.wmean
        wmean = self.wmean + d_w * w / sum_w
        wm2 = self.wm2 + w * d_w * (flux - wmean)
        d = flux - self.mean
        mean = self.mean + d / n
        m2 = self.m2 + d * (flux - mean)
        return RunningStats(n, sum_w, wmean, wm2, mean, m2)

    def merge(self, other: RunningStats) -> RunningStats:
        """Return the state of both sets of measurements (Chan et al. 1979)."""
        if other.n == 0:
            return self
        if self.n == 0:
            return other
        n = self.n + other.n
        sum_w = self.sum_w + other.sum_w
        d_w = other.wmean - self.wmean
        wmean = self.wmean + d_w * other.sum_w / sum_w
        wm2 = self.wm2 + other.wm2 + d_w**2 * self.sum_w * other.sum_w / sum_w
        d = other.mean - self.mean
        mean = self.mean + d * other.n / n
        m2 = self.m2 + other.m2 + d**2 * self.n * other.n / n
        return RunningStats(n, sum_w, wmean, wm2, mean, m2)

    @classmethod
    def from_measurements(cls, fluxes: Sequence[float], errors: Sequence[float]) -> RunningStats:
        """Build the state of a whole light curve."""
        state = cls()
        for flux, error in zip(fluxes, errors, strict=True):
            state = state.add(float(flux), float(error))
        return state

    @property
    def eta(self) -> float:
        """η (weighted reduced χ² about the weighted mean); 0 below two measurements."""
        if self.n < 2:
            return 0.0
        return max(self.wm2, 0.0) / (self.n - 1)

    @property
    def v(self) -> float:
        """V = sample std / mean; 0 below two measurements, NaN for a zero mean."""
        if self.n < 2:
            return 0.0
        if self.mean == 0:
            return math.nan
        return math.sqrt(max(self.m2, 0.0) / (self.n - 1)) / self.mean


@dataclass(frozen=True)
class VariabilityMetrics:
    """The metrics of one light curve and whether they make it a candidate."""

    n: int
    eta: float
    v: float
    mean_flux_jy: float
    weighted_mean_flux_jy: float
    candidate: bool


def is_candidate(
    eta: float, v: float, n: int, *, eta_threshold: float, v_threshold: float, min_measurements: int
) -> bool:
    """Return whether a light curve is a variability candidate.

    A candidate has at least ``min_measurements`` measurements, ``eta > eta_threshold``
    and ``|V| > v_threshold`` (|V| because a faint source's forced mean can be negative).
    """
    if n < min_measurements or not (math.isfinite(eta) and math.isfinite(v)):
        return False
    return eta > eta_threshold and abs(v) > v_threshold


def variability_metrics(
    stats: RunningStats, *, eta_threshold: float, v_threshold: float, min_measurements: int
) -> VariabilityMetrics:
    """Evaluate η, V and the candidate flag of a running state."""
    eta, v = stats.eta, stats.v
    return VariabilityMetrics(
        n=stats.n,
        eta=eta,
        v=v,
        mean_flux_jy=stats.mean,
        weighted_mean_flux_jy=stats.wmean,
        candidate=is_candidate(
            eta,
            v,
            stats.n,
            eta_threshold=eta_threshold,
            v_threshold=v_threshold,
            min_measurements=min_measurements,
        ),
    )


class _RunningFields(Protocol):
    """The six running numbers of a light curve, wherever they are stored."""

    @property
    def n(self) -> int: ...

    @property
    def sum_w(self) -> float: ...

    @property
    def wmean(self) -> float: ...

    @property
    def wm2(self) -> float: ...

    @property
    def mean(self) -> float: ...

    @property
    def m2(self) -> float: ...


@dataclass(frozen=True)
class SourceState:
    """Running state plus metrics of one source after an update (what gets stored)."""

    n: int
    sum_w: float
    wmean: float
    wm2: float
    mean: float
    m2: float
    eta: float
    v: float
    candidate: bool


@dataclass(frozen=True)
class LightCurveAccumulator:
    """Add one measurement to a stored light-curve state and re-evaluate its metrics.

    Callable as ``accumulate(current, flux_jy, flux_err_jy) -> SourceState``, where
    ``current`` is anything with the six :class:`RunningStats` fields (the ``sources``
    row of the state store). The store calls it inside its write transaction, so
    concurrent images never lose an update; the arithmetic stays defined here, once.
    """

    eta_threshold: float
    v_threshold: float
    min_measurements: int

    @classmethod
    def from_settings(cls, settings: PhotometrySettings) -> LightCurveAccumulator:
        """Build from the ``photometry`` configuration section."""
        return cls(settings.eta_threshold, settings.v_threshold, settings.min_measurements)

    def __call__(self, current: _RunningFields, flux_jy: float, flux_err_jy: float) -> SourceState:
        """Return the state after adding one measurement."""
        stats = RunningStats(
            current.n, current.sum_w, current.wmean, current.wm2, current.mean, current.m2
        ).add(flux_jy, flux_err_jy)
        metrics = variability_metrics(
            stats,
            eta_threshold=self.eta_threshold,
            v_threshold=self.v_threshold,
            min_measurements=self.min_measurements,
        )
        return SourceState(
            stats.n,
            stats.sum_w,
            stats.wmean,
            stats.wm2,
            stats.mean,
            stats.m2,
            metrics.eta,
            metrics.v,
            metrics.candidate,
        )


@dataclass(frozen=True)
class LightCurvePoint:
    """One point of a light curve."""

    time: datetime
    flux_jy: float
    flux_err_jy: float
    upper_limit: bool = False
    limit_jy: float | None = None


def plot_lightcurve(
    points: Sequence[LightCurvePoint],
    path: Path,
    *,
    title: str = "",
    metrics: VariabilityMetrics | None = None,
) -> Path:
    """Write a light-curve PNG: detections with error bars, upper limits as arrows.

    Parameters
    ----------
    points : sequence of LightCurvePoint
        The measurements, any order.
    path : Path
        PNG to write (atomically).
    title : str
        Plot title (the source name).
    metrics : VariabilityMetrics, optional
        Shown in the title when given.

    Returns
    -------
    Path
        The absolute path written.
    """
    from matplotlib.figure import Figure  # lazy: heavy, and no pyplot global state

    pts = sorted(points, key=lambda p: p.time)
    fig = Figure(figsize=(7.0, 3.5), dpi=100)
    ax = fig.add_subplot()
    det = [p for p in pts if not p.upper_limit]
    lim = [p for p in pts if p.upper_limit]
    if det:
        ax.errorbar(
            [p.time for p in det],
            [1e3 * p.flux_jy for p in det],
            yerr=[1e3 * p.flux_err_jy for p in det],
            fmt="o",
            color="C0",
            label="forced flux",
        )
    if lim:
        ax.errorbar(
            [p.time for p in lim],
            [1e3 * (p.limit_jy if p.limit_jy is not None else p.flux_jy) for p in lim],
            yerr=[1e3 * 0.15 * abs(p.limit_jy or p.flux_jy) for p in lim],
            uplims=True,
            fmt="v",
            color="C3",
            label="upper limit",
        )
    ax.set_ylabel("peak flux density (mJy/beam)")
    ax.set_xlabel("time (UTC)")
    label = title
    if metrics is not None:
        flag = " candidate" if metrics.candidate else ""
        label = f"{title}  η={metrics.eta:.2f}  V={metrics.v:.3f}{flag}"
    ax.set_title(label)
    if det or lim:
        ax.legend(loc="best", fontsize="small")
    fig.autofmt_xdate()
    fig.tight_layout()
    return atomic_write(Path(path), lambda tmp: fig.savefig(tmp, format="png"))
