"""Reference-antenna choice: the configured outrigger, then a fall-back chain, by flag fraction."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

__all__ = ["DEFAULT_REFANT_CHAIN", "RefantError", "choose_refant"]

#: DSA-110 practice: outrigger 103, then 104-116, then 117.
DEFAULT_REFANT_CHAIN: tuple[int, ...] = (103, *range(104, 117), 117)


class RefantError(ValueError):
    """No antenna carries usable data."""


def choose_refant(
    stations: Mapping[int, str],
    flag_fractions: Mapping[int, float],
    *,
    preferred: Sequence[int] = DEFAULT_REFANT_CHAIN,
    max_flag_fraction: float = 0.5,
) -> tuple[str, str]:
    """Pick the reference antenna.

    The first station of ``preferred`` that carries data with a flagged fraction at most
    ``max_flag_fraction`` wins; when none qualifies, the least-flagged antenna of the array.

    Parameters
    ----------
    stations : Mapping of int to str
        Station number to antenna name, for antennas that carry data.
    flag_fractions : Mapping of int to float
        Station number to flagged fraction of its cross-correlations.
    preferred : sequence of int
        Station numbers in order of preference.
    max_flag_fraction : float
        Largest acceptable flagged fraction.

    Returns
    -------
    tuple of (str, str)
        The antenna name and a note saying why it was chosen.

    Raises
    ------
    RefantError
        When every antenna is fully flagged.
    """
    for number in preferred:
        if number in stations and flag_fractions.get(number, 1.0) <= max_flag_fraction:
            frac = flag_fractions.get(number, 1.0)
            return stations[
                number
            ], f"station {number} from the preference chain ({frac:.1%} flagged)"
    usable = {n: f for n, f in flag_fractions.items() if n in stations and f < 1.0}
    if not usable:
        raise RefantError("every antenna is fully flagged: no reference antenna")
    best = min(usable, key=lambda n: (usable[n], n))
    return stations[best], (
        f"no station of the preference chain has <= {max_flag_fraction:.0%} flagged; "
        f"least-flagged station {best} ({usable[best]:.1%})"
    )
