"""Seeded corruptions: antenna gains with slow drift, bandpass, thermal noise, RFI.

Gains and bandpasses depend only on the seed and on absolute time, so groups simulated
one at a time with the same seed share one consistent set of antenna gains. Noise,
RFI, file-name jitter and the like are drawn per group from ``(seed, group index)``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = ["Corruptions", "bandpass", "gains", "rng_for"]

#: Integer tags of the independent random streams drawn from the seed.
_STREAMS = {"gains": 1, "bandpass": 2, "noise": 3, "rfi": 4, "jitter": 5, "sky": 6}
_J2000_JD = 2451545.0


def rng_for(seed: int, stream: str, group_index: int = 0) -> np.random.Generator:
    """Independent, reproducible random stream for one purpose (and group)."""
    return np.random.default_rng(np.random.SeedSequence([seed, _STREAMS[stream], group_index]))


@dataclass(frozen=True)
class Corruptions:
    """What to corrupt the sky visibilities with; every part is off by default.

    Attributes
    ----------
    gains : bool
        Per-antenna, per-feed complex gains with a slow sinusoidal drift.
    gain_amp_rms : float
        Fractional rms of antenna gain amplitudes about 1.
    gain_phase_rms_deg : float
        Rms of antenna gain phases, degrees.
    gain_amp_drift : float
        Fractional amplitude of the slow amplitude drift.
    gain_phase_drift_deg : float
        Amplitude of the slow phase drift, degrees.
    gain_drift_period_h : tuple of float
        Range of drift periods, hours (drawn per antenna and feed).
    bandpass : bool
        Per-antenna, per-feed bandpass: delay, ripple, slope and subband edge roll-off.
    bandpass_delay_rms_ns : float
        Rms of antenna delays, ns.
    bandpass_ripple : float
        Fractional amplitude ripple.
    bandpass_ripple_period_mhz : float
        Ripple period, MHz.
    bandpass_slope_rms : float
        Rms of the fractional amplitude change across the band.
    bandpass_rolloff : float
        Fractional amplitude drop at the subband edges (digital filter shape).
    noise : bool
        Thermal noise (before the gains, so it is in Jy on the sky scale).
    sefd_jy : float or None
        SEFD for the radiometer equation; None: the instrument's.
    noise_sigma_jy : float or None
        Per-visibility sigma (each of real and imaginary) overriding the SEFD.
    rfi : bool
        Strong RFI: single spikes, a persistent channel and a broadband burst.
    n_rfi : int
        RFI events per group.
    rfi_amplitude_jy : float
        Typical RFI amplitude per visibility, Jy.
    missing_subbands : tuple of (int, int)
        ``(group index, subband)`` files not written.
    truncated_files : tuple of (int, int)
        ``(group index, subband)`` files cut short after writing.
    truncate_fraction : float
        Fraction of its bytes a truncated file keeps.
    """

    gains: bool = False
    gain_amp_rms: float = 0.1
    gain_phase_rms_deg: float = 30.0
    gain_amp_drift: float = 0.02
    gain_phase_drift_deg: float = 5.0
    gain_drift_period_h: tuple[float, float] = (2.0, 6.0)
    bandpass: bool = False
    bandpass_delay_rms_ns: float = 2.0
    bandpass_ripple: float = 0.05
    bandpass_ripple_period_mhz: float = 25.0
    bandpass_slope_rms: float = 0.1
    bandpass_rolloff: float = 0.1
    noise: bool = False
    sefd_jy: float | None = None
    noise_sigma_jy: float | None = None
    rfi: bool = False
    n_rfi: int = 6
    rfi_amplitude_jy: float = 200.0
    missing_subbands: tuple[tuple[int, int], ...] = field(default_factory=tuple)
    truncated_files: tuple[tuple[int, int], ...] = field(default_factory=tuple)
    truncate_fraction: float = 0.5

    def __post_init__(self) -> None:
        for key in ("missing_subbands", "truncated_files"):
            pairs = tuple((int(g), int(s)) for g, s in getattr(self, key))
            object.__setattr__(self, key, pairs)
        if not 0.0 <= self.truncate_fraction < 1.0:
            raise ValueError(f"truncate_fraction must be in [0, 1), got {self.truncate_fraction}")
        if self.noise_sigma_jy is not None and self.noise_sigma_jy < 0:
            raise ValueError(f"noise_sigma_jy must be >= 0, got {self.noise_sigma_jy}")


def gains(corr: Corruptions, seed: int, n_antennas: int, times_jd: np.ndarray) -> np.ndarray:
    """Antenna gains g(t), shape (n_times, n_antennas, 2 feeds), complex128.

    ``g = a (1 + d_a sin(2 pi t / P_a + psi_a)) exp(i (phi + d_phi sin(2 pi t / P_phi + psi_phi)))``
    with t in hours since J2000, so the same seed gives the same gains for any group.
    Antenna ``i`` is the i-th data antenna of the simulation (same order for any
    group as long as the antenna set is the same).
    """
    rng = rng_for(seed, "gains")
    shape = (n_antennas, 2)
    amp = np.clip(1.0 + corr.gain_amp_rms * rng.standard_normal(shape), 0.2, None)
    phase = np.deg2rad(corr.gain_phase_rms_deg) * rng.standard_normal(shape)
    lo, hi = corr.gain_drift_period_h
    period_a = rng.uniform(lo, hi, shape)
    period_p = rng.uniform(lo, hi, shape)
    psi_a = rng.uniform(0, 2 * np.pi, shape)
    psi_p = rng.uniform(0, 2 * np.pi, shape)
    t_h = ((np.asarray(times_jd, dtype=float) - _J2000_JD) * 24.0)[:, None, None]
    a_t = amp * (1.0 + corr.gain_amp_drift * np.sin(2 * np.pi * t_h / period_a + psi_a))
    p_t = phase + np.deg2rad(corr.gain_phase_drift_deg) * np.sin(2 * np.pi * t_h / period_p + psi_p)
    return a_t * np.exp(1j * p_t)


def bandpass(
    corr: Corruptions,
    seed: int,
    n_antennas: int,
    freqs_hz: np.ndarray,
    subband_edges_hz: np.ndarray,
) -> np.ndarray:
    """Antenna bandpasses b(nu), shape (n_antennas, n_freqs, 2 feeds), complex128.

    Parameters
    ----------
    corr : Corruptions
        Bandpass parameters.
    seed : int
        Random seed (the bandpass does not change between groups).
    n_antennas : int
        Number of data antennas.
    freqs_hz : numpy.ndarray
        Channel centres (ascending).
    subband_edges_hz : numpy.ndarray
        ``(low, high)`` edges of the subband containing each channel, shape (n_freqs, 2).
    """
    rng = rng_for(seed, "bandpass")
    shape = (n_antennas, 1, 2)
    f = np.asarray(freqs_hz, dtype=float)[None, :, None]
    f_mid = 0.5 * (freqs_hz.min() + freqs_hz.max())
    span = max(float(freqs_hz.max() - freqs_hz.min()), 1.0)
    delay = 1e-9 * corr.bandpass_delay_rms_ns * rng.standard_normal(shape)
    ripple_phase = rng.uniform(0, 2 * np.pi, shape)
    ripple_amp = corr.bandpass_ripple * rng.uniform(0.5, 1.5, shape)
    slope = corr.bandpass_slope_rms * rng.standard_normal(shape)
    period = corr.bandpass_ripple_period_mhz * 1e6
    lo = subband_edges_hz[:, 0][None, :, None]
    hi = subband_edges_hz[:, 1][None, :, None]
    x = 2.0 * (f - lo) / (hi - lo) - 1.0  # -1..1 across each subband
    amplitude = (
        (1.0 + ripple_amp * np.sin(2 * np.pi * f / period + ripple_phase))
        * (1.0 + slope * (f - f_mid) / span)
        * (1.0 - corr.bandpass_rolloff * x**8)
    )
    phase = 2 * np.pi * delay * (f - f_mid) + 0.5 * ripple_amp * np.cos(
        2 * np.pi * f / period + ripple_phase
    )
    return np.clip(amplitude, 0.05, None) * np.exp(1j * phase)
