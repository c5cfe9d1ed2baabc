"""Subband frequencies: subband 0 is the HIGHEST, channels ascend within a subband.

Subband ``k`` covers ``[f_top - (k+1) B, f_top - k B)`` with ``B`` the subband width
(channels per subband times channel width). A simulation may use fewer, wider
channels covering the same subband (``n_channels``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["Band"]


@dataclass(frozen=True)
class Band:
    """The correlator band.

    Attributes
    ----------
    f_top_hz : float
        Upper edge of subband 0 (the highest-frequency subband), Hz.
    n_subbands : int
        Number of subbands (files) per observation.
    channels_per_subband : int
        Correlator channels per subband.
    channel_width_hz : float
        Correlator channel width, Hz.
    """

    f_top_hz: float
    n_subbands: int
    channels_per_subband: int
    channel_width_hz: float

    @property
    def subband_width_hz(self) -> float:
        """Width of one subband, Hz."""
        return self.channels_per_subband * self.channel_width_hz

    @property
    def f_bottom_hz(self) -> float:
        """Lower edge of the lowest subband, Hz."""
        return self.f_top_hz - self.n_subbands * self.subband_width_hz

    def _check(self, subband: int) -> None:
        if not 0 <= subband < self.n_subbands:
            raise ValueError(f"subband {subband} outside 0..{self.n_subbands - 1}")

    def subband_edges(self, subband: int) -> tuple[float, float]:
        """Return ``(low, high)`` edges of a subband, Hz."""
        self._check(subband)
        high = self.f_top_hz - subband * self.subband_width_hz
        return high - self.subband_width_hz, high

    def channel_width(self, n_channels: int | None = None) -> float:
        """Channel width when a subband is split into ``n_channels`` (default: native)."""
        n = self.channels_per_subband if n_channels is None else n_channels
        if n < 1:
            raise ValueError(f"n_channels must be >= 1, got {n}")
        return self.subband_width_hz / n

    def channel_frequencies(self, subband: int, n_channels: int | None = None) -> np.ndarray:
        """Channel centres of one subband in ascending order, Hz.

        Parameters
        ----------
        subband : int
            Subband number (0 = highest frequencies).
        n_channels : int, optional
            Channels covering the subband (default: the correlator's).
        """
        low, _ = self.subband_edges(subband)
        width = self.channel_width(n_channels)
        n = round(self.subband_width_hz / width)
        return low + (np.arange(n) + 0.5) * width

    def subbands_ascending(self) -> tuple[int, ...]:
        """Subband numbers in ascending frequency order (highest number first)."""
        return tuple(range(self.n_subbands - 1, -1, -1))

    def band_frequencies(self, n_channels: int | None = None) -> np.ndarray:
        """Channel centres of the whole band in ascending order, Hz."""
        return np.concatenate(
            [self.channel_frequencies(k, n_channels) for k in self.subbands_ascending()]
        )

    def subband_of(self, freq_hz: float | np.ndarray) -> np.ndarray:
        """Return the subband number containing each frequency (-1 outside the band)."""
        f = np.asarray(freq_hz, dtype=float)
        k = np.floor((self.f_top_hz - f) / self.subband_width_hz).astype(int)
        inside = (f < self.f_top_hz) & (f >= self.f_bottom_hz)
        return np.where(inside, k, -1)
