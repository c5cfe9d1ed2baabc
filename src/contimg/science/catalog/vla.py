"""Read the VLA calibrator list (the NRAO plain-text format) into :class:`Calibrator` values.

Each source is a block::

    0834+555   J2000  A 08h34m54.903900s  55d34'21.070800"  Aug01  4C55.16
    0834+555   B1950  A 08h30m56.960000s  55d44'42.700000"
    -----------------------------------------------------
    BAND        A B C D    FLUX(Jy)    UVMIN(kL)  UVMAX(kL)
    =====================================================
     90cm    P  X  S  X  X      8.00
     20cm    L  P  P  P  P      8.30
      6cm    C  P  P  P  P      3.80

The J2000 line gives name, position-accuracy code, position and (optionally) an alternative
name; band rows give the configuration quality codes and the flux density. The 1.4 GHz flux is
the 20 cm row; the spectral index comes from the 20 cm and 6 cm rows when both exist (else the
90 cm row, else 0). Sources without a 20 cm flux are skipped (counted in the result).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path

from contimg.science.catalog.calibrators import Calibrator

__all__ = ["VlaListError", "VlaParseResult", "parse_vla_calibrator_list"]

_HEADER = re.compile(
    r"^(?P<name>\S+)\s+J2000\s+(?P<code>\S)\s+"
    r"(?P<ra>\d{1,2}h\d{1,2}m[\d.]+s)\s+(?P<dec>[+-]?\d{1,2}d\d{1,2}'[\d.]+\")"
    r"(?:\s+(?P<ref>\S+))?(?:\s+(?P<alt>\S.*?))?\s*$"
)
_BAND = re.compile(r"^\s*(?P<wl>[\d.]+)(?P<unit>cm|mm)\s+(?P<band>[A-Z]+)\s+(?P<rest>.*)$")
_RA = re.compile(r"(\d+)h(\d+)m([\d.]+)s")
_DEC = re.compile(r"([+-]?)(\d+)d(\d+)'([\d.]+)\"")
_C = 299_792_458.0


class VlaListError(ValueError):
    """The file is not in the VLA calibrator list format (the message names file and line)."""


@dataclass(frozen=True)
class VlaParseResult:
    """Calibrators read from a VLA list.

    Attributes
    ----------
    calibrators : tuple of Calibrator
        Sources with a 20 cm flux density.
    skipped : tuple of str
        Names of sources without one.
    """

    calibrators: tuple[Calibrator, ...]
    skipped: tuple[str, ...]


def _ra_deg(text: str) -> float:
    h, m, s = _RA.fullmatch(text).groups()  # type: ignore[union-attr]
    return 15.0 * (int(h) + int(m) / 60.0 + float(s) / 3600.0)


def _dec_deg(text: str) -> float:
    sign, d, m, s = _DEC.fullmatch(text).groups()  # type: ignore[union-attr]
    value = int(d) + int(m) / 60.0 + float(s) / 3600.0
    return -value if sign == "-" else value


def _flux(rest: str) -> float | None:
    """Return the first number after the configuration quality codes (the flux)."""
    for token in rest.split():
        try:
            return float(token)
        except ValueError:
            continue
    return None


def _j2000_name(ra_deg: float, dec_deg: float) -> str:
    ra_h = ra_deg / 15.0
    hh, mm = int(ra_h), int((ra_h % 1) * 60)
    sign = "-" if dec_deg < 0 else "+"
    dd, dm = int(abs(dec_deg)), int((abs(dec_deg) % 1) * 60)
    return f"J{hh:02d}{mm:02d}{sign}{dd:02d}{dm:02d}"


def parse_vla_calibrator_list(path: Path) -> VlaParseResult:
    """Parse a VLA calibrator list text file.

    Parameters
    ----------
    path : Path
        The text file.

    Returns
    -------
    VlaParseResult
        Calibrators (1.4 GHz flux from the 20 cm row) and the names of skipped sources.

    Raises
    ------
    VlaListError
        When the file cannot be read or holds no source block.
    """
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError as exc:
        raise VlaListError(f"{path}: {exc.strerror or exc}") from None
    blocks: list[tuple[re.Match[str], dict[float, float]]] = []
    for lineno, line in enumerate(lines, start=1):
        head = _HEADER.match(line.strip())
        if head:
            blocks.append((head, {}))
            continue
        band = _BAND.match(line)
        if band and blocks:
            wl_m = float(band["wl"]) * (0.01 if band["unit"] == "cm" else 0.001)
            flux = _flux(band["rest"])
            if flux is not None and flux > 0:
                blocks[-1][1][round(_C / wl_m / 1e9, 3)] = flux
        elif band and not blocks:
            raise VlaListError(f"{path}:{lineno}: band row before any J2000 source line")
    if not blocks:
        raise VlaListError(f"{path}: no 'NAME J2000 CODE RA DEC' source line found")
    out: list[Calibrator] = []
    skipped: list[str] = []
    for head, fluxes in blocks:
        by_wl = {round(_C / (f * 1e9) * 100): s for f, s in fluxes.items()}  # keyed by cm
        s20 = by_wl.get(20)
        if s20 is None:
            skipped.append(head["name"])
            continue
        alpha = 0.0
        for other_cm in (6, 90):
            if other_cm in by_wl:
                f_other = _C / (other_cm / 100.0)
                f20 = _C / 0.20
                alpha = math.log(by_wl[other_cm] / s20) / math.log(f_other / f20)
                break
        ra, dec = _ra_deg(head["ra"]), _dec_deg(head["dec"])
        alt = (head["alt"] or "").strip()
        out.append(
            Calibrator(
                name=head["name"],
                j2000_name=_j2000_name(ra, dec),
                aliases=(alt,) if alt else (),
                ra_deg=ra,
                dec_deg=dec,
                flux_jy=s20,
                spectral_index=round(alpha, 3),
                strip_dec_deg=None,
                reference=f"VLA calibrator list ({path.name}); position code {head['code']}",
            )
        )
    return VlaParseResult(tuple(out), tuple(skipped))
