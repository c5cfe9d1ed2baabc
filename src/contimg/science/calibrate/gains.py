"""Antenna gains of a calibration set, applied while the imaging copy of a group is written.

CASA ``applycal`` writes a full-resolution CORRECTED_DATA column into the group MS (11-13 s
for a full group on 2 cores) that the imager then reads again only to average it. A set made
of one bandpass (``B Jones``) and one gain solution per antenna (``G Jones``, solint ``inf``)
is, per antenna, feed and channel, one complex number: it can be divided out of the raw
visibilities in the same pass that averages them for imaging, with CASA's own conventions:

* a visibility on baseline (i, j) for feeds (p, q) is corrected as ``V / (g_ip * conj(g_jq))``,
  with ``g`` the product of the set's tables (``applymode="calflag"``, ``calwt=False``);
* a flagged gain, or an antenna without a solution or without one good bandpass channel,
  flags the visibilities it would correct; a bandpass's flagged channels are interpolated
  (amplitude and phase, linearly in frequency) from its good ones, as applycal does.

Sets this cannot express exactly (delays, several solution times, other channelizations or
spectral-window layouts) are reported by :func:`in_pass_blocker`, and :func:`load_gains` refuses
them with :class:`NotInPassError`; they go through CASA.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np

from contimg.science.calibrate.qa import CalTableError, check_caltable

__all__ = ["AntennaGains", "NotInPassError", "in_pass_blocker", "load_gains"]

#: Jones types the imaging pass applies; anything else goes through CASA applycal.
_SUPPORTED = {"B Jones", "G Jones"}
_FREQ_MATCH_HZ = 1.0


class NotInPassError(CalTableError):
    """A set the imaging pass cannot apply exactly (the message says why); use applycal."""


@dataclass(frozen=True)
class AntennaGains:
    """The combined gains of a set for one MS, indexed by the MS's antenna rows.

    Attributes
    ----------
    tables : tuple of Path
        The tables combined, in order.
    gains : numpy.ndarray
        complex128, (antenna, channel, feed): the product of every table's solution.
    flags : numpy.ndarray
        bool, same shape: no usable solution (flagged in a table, or absent).
    corr_feeds : numpy.ndarray
        int, (correlation, 2): the feeds (p, q) of each of the MS's correlations.
    """

    tables: tuple[Path, ...]
    gains: np.ndarray
    flags: np.ndarray
    corr_feeds: np.ndarray

    @cached_property
    def _by_correlation(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Per-correlation lookups, each (antenna, channel, correlation).

        ``1/g_p`` and ``conj(1/g_q)`` in complex64 (0 where flagged), and the flags of p and
        q: a row's factor is then two lookups and one product, in single precision like the
        data (a full group calibrates in 1.5 s more than it averages).
        """
        p, q = self.corr_feeds[:, 0], self.corr_feeds[:, 1]
        with np.errstate(divide="ignore", invalid="ignore"):
            inverse = np.where(self.flags, 0.0, 1.0 / self.gains)
        return (
            inverse[:, :, p].astype(np.complex64),
            np.conj(inverse[:, :, q]).astype(np.complex64),
            self.flags[:, :, p],
            self.flags[:, :, q],
        )

    def solution_flags(self, ant1: np.ndarray, ant2: np.ndarray) -> np.ndarray:
        """Return where the set has no usable solution: bool (row, channel, correlation)."""
        _, _, flags_p, flags_q = self._by_correlation
        return flags_p[ant1] | flags_q[ant2]

    def correction(self, ant1: np.ndarray, ant2: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Factors that calibrate rows of visibilities, and the flags the solutions add.

        Parameters
        ----------
        ant1, ant2 : numpy.ndarray
            ANTENNA1 and ANTENNA2 of the rows.

        Returns
        -------
        tuple of numpy.ndarray
            complex64 factors ``1 / (g_ip conj(g_jq))`` and bool flags, both (row, channel,
            correlation); a flagged factor is 0.
        """
        inverse_p, inverse_q_conj, _, _ = self._by_correlation
        factor = inverse_p[ant1]
        factor *= inverse_q_conj[ant2]
        return factor, self.solution_flags(ant1, ant2)

    def flagged_fractions(self, ms: Path) -> tuple[float, float]:
        """Return the flagged fraction of the cross-correlations before and after the set.

        The set's flags are looked up only for the rows they can change: those of antennas
        with a flagged solution whose data are not wholly flagged already (a full group:
        1.0 s -> 0.2 s when those are few).
        """
        from contimg.science.calibrate.msinfo import cross_flags

        a1, a2, flags = cross_flags(ms)
        cross = a1 != a2
        if not cross.any():
            return 1.0, 1.0
        cells = int(np.count_nonzero(cross)) * flags[0].size
        before = int(np.count_nonzero(flags)) - int(np.count_nonzero(flags[~cross]))
        _, _, flags_p, flags_q = self._by_correlation
        rows = cross & (flags_p.any(axis=(1, 2))[a1] | flags_q.any(axis=(1, 2))[a2])
        if rows.any():
            rows[rows] = ~flags[rows].reshape(int(np.count_nonzero(rows)), -1).all(axis=1)
        added = 0
        if rows.any():
            added = int(np.count_nonzero(self.solution_flags(a1[rows], a2[rows]) & ~flags[rows]))
        return before / cells, (before + added) / cells


def _jones_type(path: Path) -> str:
    from casacore.tables import table

    with table(str(path), ack=False) as t:
        return str(t.getkeywords().get("VisCal", "unknown"))


def _ms_layout(ms: Path) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Antenna names, channel frequencies (one spectral window) and correlation feeds."""
    from casacore.tables import table

    with table(str(ms / "ANTENNA"), ack=False) as t:
        names = [str(n) for n in t.getcol("NAME")]
    with table(str(ms / "SPECTRAL_WINDOW"), ack=False) as t:
        freqs = np.asarray(t.getcol("CHAN_FREQ"))
    with table(str(ms / "POLARIZATION"), ack=False) as t:
        products = np.asarray(t.getcell("CORR_PRODUCT", 0)).reshape(-1, 2)
    return names, freqs, products.astype(int)


def in_pass_blocker(tables: Sequence[Path], ms: Path) -> str | None:
    """Why the set's ``tables`` cannot be applied in the imaging pass to ``ms``; None if they can.

    Parameters
    ----------
    tables : sequence of Path
        The set's tables, in application order.
    ms : Path
        The target MS.

    Returns
    -------
    str or None
        A short reason naming the table, or None.
    """
    from casacore.tables import table

    _names, freqs, _feeds = _ms_layout(ms)
    if freqs.shape[0] != 1:
        return f"{ms.name} has {freqs.shape[0]} spectral windows"
    nchan = freqs.shape[1]
    for path in tables:
        kind = _jones_type(path)
        if kind not in _SUPPORTED:
            return f"{path.name} is a {kind} table"
        with table(str(path), ack=False) as t:
            n_times = np.unique(t.getcol("TIME")).size
            spws = np.unique(t.getcol("SPECTRAL_WINDOW_ID"))
            antennas = np.asarray(t.getcol("ANTENNA1"))
        if n_times > 1:
            return f"{path.name} holds {n_times} solution times"
        if np.unique(antennas).size != antennas.size:
            return f"{path.name} holds several solutions per antenna"
        if spws.size != 1 or spws[0] != 0:
            return f"{path.name} has solutions for spectral windows {spws.tolist()}"
        with table(str(path / "SPECTRAL_WINDOW"), ack=False) as t:
            table_freqs = np.asarray(t.getcell("CHAN_FREQ", 0))
        if kind == "B Jones" and (
            table_freqs.size != nchan or np.max(np.abs(table_freqs - freqs[0])) > _FREQ_MATCH_HZ
        ):
            return f"the {table_freqs.size} channels of {path.name} are not the MS's {nchan}"
        if kind == "G Jones" and table_freqs.size != 1:
            return f"{path.name} has {table_freqs.size} channels per gain solution"
    return None


def load_gains(tables: Sequence[Path], ms: Path) -> AntennaGains:
    """Combine a set's tables into per-antenna gains for ``ms``.

    Parameters
    ----------
    tables : sequence of Path
        Bandpass and gain tables (see :func:`in_pass_blocker`).
    ms : Path
        The target MS; its antennas are matched to the tables' by name.

    Returns
    -------
    AntennaGains
        The product of the tables, with their flags.

    Raises
    ------
    NotInPassError
        The set is of a kind the imaging pass cannot apply exactly; the message names the table.
    CalTableError
        A table is missing or unreadable; the message names it.
    """
    from casacore.tables import table

    names, freqs, corr_feeds = _ms_layout(ms)
    blocker = in_pass_blocker(tables, ms)
    if blocker is not None:
        raise NotInPassError(f"cannot apply in the imaging pass: {blocker}")
    nfeed = int(corr_feeds.max()) + 1
    gains = np.ones((len(names), freqs.shape[1], nfeed), np.complex128)
    flags = np.zeros(gains.shape, bool)
    for path in tables:
        check_caltable(path)
        with table(str(path / "ANTENNA"), ack=False) as t:
            table_names = [str(n) for n in t.getcol("NAME")]
        with table(str(path), ack=False) as t:
            values = np.asarray(t.getcol("CPARAM"))  # (row, channel, feed)
            bad = np.asarray(t.getcol("FLAG"))
            ants = np.asarray(t.getcol("ANTENNA1"))
        if values.shape[2] < nfeed:
            raise CalTableError(f"{path} has {values.shape[2]} feeds; the MS needs {nfeed}")
        row_of = {table_names[a]: r for r, a in enumerate(ants)}
        missing = np.ones(len(names), bool)
        for m, name in enumerate(names):
            r = row_of.get(name)
            if r is None:
                continue
            missing[m] = False
            solution, solution_flags = values[r, :, :nfeed], bad[r, :, :nfeed]
            if solution.shape[0] > 1:
                solution, solution_flags = _fill_flagged_channels(solution, solution_flags)
            gains[m] *= solution  # one channel (G) broadcasts over the band
            flags[m] |= solution_flags
        flags[missing] = True
    return AntennaGains(tuple(Path(p) for p in tables), gains, flags, corr_feeds)


def _fill_flagged_channels(
    solution: np.ndarray, flags: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Interpolate a bandpass over its flagged channels from its good ones, as applycal does.

    CASA interpolates a bandpass linearly across flagged channels (amplitude and phase; the
    channels of a spectral window are evenly spaced in frequency) instead of flagging the data
    there; only a feed with no good channel at all flags its visibilities.
    """
    filled = solution.astype(np.complex128)
    still = flags.copy()
    channels = np.arange(solution.shape[0])
    for feed in range(solution.shape[1]):
        good = ~flags[:, feed]
        if good.all() or not good.any():
            continue
        known = solution[good, feed]
        amp = np.interp(channels, channels[good], np.abs(known))
        phase = np.interp(channels, channels[good], np.unwrap(np.angle(known)))
        filled[:, feed] = amp * np.exp(1j * phase)
        still[:, feed] = False
    return filled, still
