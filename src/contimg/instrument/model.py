"""The instrument as one frozen value built from the ``instrument`` settings section."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from contimg.instrument.band import Band
from contimg.instrument.beam import airy_beam, airy_fwhm_rad
from contimg.instrument.site import Site
from contimg.instrument.stations import ArrayLayout, load_layout

if TYPE_CHECKING:
    from contimg.config.settings import InstrumentSettings

__all__ = [
    "POLARIZATION_NUMBERS",
    "Instrument",
    "polarization_numbers",
    "spread_selection",
]

#: AIPS/pyuvdata polarization numbers of the correlation products.
POLARIZATION_NUMBERS: dict[str, int] = {
    "RR": -1,
    "LL": -2,
    "RL": -3,
    "LR": -4,
    "XX": -5,
    "YY": -6,
    "XY": -7,
    "YX": -8,
}


def polarization_numbers(correlations: tuple[str, ...] | list[str]) -> np.ndarray:
    """Map correlation names (``"XX"``, ``"YY"``, ...) to pyuvdata polarization numbers."""
    try:
        return np.array([POLARIZATION_NUMBERS[c.upper()] for c in correlations], dtype=int)
    except KeyError as exc:
        raise ValueError(f"unknown correlation {exc.args[0]!r}") from None


def spread_selection(
    numbers: np.ndarray | list[int], n: int, required: tuple[int, ...] = ()
) -> tuple[int, ...]:
    """Choose ``n`` station numbers: all of ``required`` present, the rest evenly spread.

    Parameters
    ----------
    numbers : array_like of int
        Available station numbers, in layout order (spreading follows this order, so
        the chosen stations sample both arms of a T-shaped core evenly).
    n : int
        How many to choose (all when ``n >= len(numbers)``).
    required : tuple of int
        Stations always chosen when present (e.g. reference-antenna outriggers).

    Returns
    -------
    tuple of int
        Sorted station numbers.
    """
    avail = [int(x) for x in numbers]
    if n >= len(avail):
        return tuple(sorted(avail))
    keep = [r for r in dict.fromkeys(required) if r in set(avail)][:n]
    rest = [x for x in avail if x not in set(keep)]
    k = n - len(keep)
    if k > 0:
        picks = np.unique(np.round(np.linspace(0, len(rest) - 1, k)).astype(int))
        keep += [rest[i] for i in picks]
    return tuple(sorted(keep))


@dataclass(frozen=True, eq=False)
class Instrument:
    """Everything the pipeline assumes about the telescope and its correlator output.

    Attributes
    ----------
    site : Site
        Array reference position and telescope name.
    layout : ArrayLayout
        All stations of the station file.
    band : Band
        Subband frequencies.
    dish_diameter_m : float
        Dish diameter (Airy primary beam).
    integration_time_s : float
        Correlator integration time.
    integrations_per_group : int
        Integrations per file (one group).
    timestamp_jitter_s : float
        File-name timestamps of a group scatter up to this far from sb00's.
    correlations : tuple of str
        Correlation products (``("XX", "YY")``).
    sefd_jy : float
        System equivalent flux density per dish, Jy.
    """

    site: Site
    layout: ArrayLayout
    band: Band
    dish_diameter_m: float
    integration_time_s: float
    integrations_per_group: int
    timestamp_jitter_s: float
    correlations: tuple[str, ...]
    sefd_jy: float

    @classmethod
    def from_settings(cls, settings: InstrumentSettings | None = None) -> Instrument:
        """Build the instrument from the ``instrument`` settings section (default: DSA-110)."""
        if settings is None:
            from contimg.config.settings import InstrumentSettings

            settings = InstrumentSettings()
        return cls(
            site=Site.from_settings(settings),
            layout=load_layout(settings.station_file),
            band=Band(
                f_top_hz=settings.f_top_hz,
                n_subbands=settings.n_subbands,
                channels_per_subband=settings.channels_per_subband,
                channel_width_hz=settings.channel_width_hz,
            ),
            dish_diameter_m=settings.dish_diameter_m,
            integration_time_s=settings.integration_time_s,
            integrations_per_group=settings.integrations_per_group,
            timestamp_jitter_s=settings.timestamp_jitter_s,
            correlations=tuple(c.upper() for c in settings.correlations),
            sefd_jy=settings.sefd_jy,
        )

    @property
    def group_duration_s(self) -> float:
        """Duration of one group (integrations per group times integration time)."""
        return self.integrations_per_group * self.integration_time_s

    @property
    def polarization_array(self) -> np.ndarray:
        """Polarization numbers (pyuvdata/AIPS) of the correlations."""
        return polarization_numbers(self.correlations)

    def antenna_positions(self, numbers: np.ndarray | list[int] | None = None) -> np.ndarray:
        """Station positions relative to the site, ECEF axes (pyuvdata convention), metres."""
        layout = self.layout if numbers is None else self.layout.select(numbers)
        return layout.relative_itrf(self.site.itrf_m)

    def primary_beam(
        self, theta_rad: np.ndarray | float, freq_hz: np.ndarray | float
    ) -> np.ndarray:
        """Airy power beam of one dish at angle ``theta_rad`` from the pointing centre."""
        return airy_beam(theta_rad, freq_hz, self.dish_diameter_m)

    def beam_fwhm_rad(self, freq_hz: float) -> float:
        """Primary-beam FWHM at ``freq_hz``, radians."""
        return airy_fwhm_rad(freq_hz, self.dish_diameter_m)
