"""Simulation scales: how many antennas, channels and integrations a group has."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["SCALES", "SimulationScale", "get_scale"]


@dataclass(frozen=True)
class SimulationScale:
    """Size of a simulated group.

    Attributes
    ----------
    name : str
        ``test``, ``small`` or ``full`` (or a custom name).
    n_antennas : int
        Antennas carrying data (all stations when larger than the layout).
    required_stations : tuple of int
        Stations always included when present (reference-antenna outriggers first).
    channels_per_subband : int or None
        Channels covering each subband; None: the instrument's (48 for DSA-110).
    n_integrations : int or None
        Integrations per group; None: the instrument's (24 for DSA-110). Group start
        times keep the full-scale spacing whatever this is, so the sky drifts between
        groups as it does in real data.
    """

    name: str
    n_antennas: int
    required_stations: tuple[int, ...]
    channels_per_subband: int | None
    n_integrations: int | None


#: Built-in scales. ``full`` is what the correlator writes: 96 antennas (all 15
#: outriggers and 81 core stations spread along both arms), 48 channels, 24 integrations.
SCALES: dict[str, SimulationScale] = {
    "test": SimulationScale("test", 24, (103, 104, 106, 110, 114, 116), 4, 4),
    "small": SimulationScale(
        "small", 48, (103, 104, 105, 106, 108, 110, 112, 114, 116, 117), 12, 12
    ),
    "full": SimulationScale("full", 96, tuple(range(103, 118)), None, None),
}


def get_scale(scale: str | SimulationScale) -> SimulationScale:
    """Return a scale by name (or the scale itself).

    Raises
    ------
    ValueError
        If the name is unknown; the message lists the known ones.
    """
    if isinstance(scale, SimulationScale):
        return scale
    try:
        return SCALES[scale]
    except KeyError:
        raise ValueError(f"unknown scale {scale!r} (known: {', '.join(SCALES)})") from None
