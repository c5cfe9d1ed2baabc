"""Source finding (PyBDSF) and cross-matching against a reference catalogue.

Detection runs on the restored image, whose noise is flat across the field; fluxes and their
errors are then divided by the primary beam at each source (docs/decisions/0002-source-finder.md
says why PyBDSF).
"""

from __future__ import annotations

import contextlib
import csv
import gc
import io
import shutil
import tempfile
import warnings
from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np
import structlog
from astropy.io import fits
from astropy.wcs import WCS, FITSFixedWarning

__all__ = [
    "CrossMatch",
    "FoundSource",
    "ReferenceSource",
    "crossmatch",
    "find_sources",
    "read_catalogue_csv",
    "read_reference_catalogue",
    "write_catalogue_csv",
]

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class FoundSource:
    """One source fitted by the finder (fluxes primary-beam corrected when a beam is given).

    Attributes
    ----------
    ra_deg, dec_deg : float
        Position (J2000), degrees.
    ra_err_arcsec, dec_err_arcsec : float
        1-sigma position errors, arcsec.
    peak_jy, peak_err_jy : float
        Peak brightness and error, Jy/beam.
    flux_jy, flux_err_jy : float
        Integrated flux density and error, Jy.
    maj_arcsec, min_arcsec, pa_deg : float
        Fitted Gaussian FWHM axes (not deconvolved) and position angle.
    rms_jy : float
        Local background rms at the source, Jy/beam (before beam correction).
    pb : float
        Primary-beam level at the source used for the correction (1 when none).
    """

    ra_deg: float
    dec_deg: float
    ra_err_arcsec: float
    dec_err_arcsec: float
    peak_jy: float
    peak_err_jy: float
    flux_jy: float
    flux_err_jy: float
    maj_arcsec: float
    min_arcsec: float
    pa_deg: float
    rms_jy: float
    pb: float = 1.0

    @property
    def snr(self) -> float:
        """Peak over local rms (as detected, before beam correction)."""
        return self.peak_jy * self.pb / self.rms_jy if self.rms_jy > 0 else float("inf")


@dataclass(frozen=True)
class ReferenceSource:
    """A reference-catalogue entry (INTERFACE.md sky-model CSV columns)."""

    name: str
    ra_deg: float
    dec_deg: float
    flux_jy: float
    spectral_index: float = 0.0

    def flux_at(self, freq_hz: float) -> float:
        """Stokes I at ``freq_hz``: flux_jy (at 1.4 GHz) times (nu / 1.4 GHz)^alpha."""
        return float(self.flux_jy * (freq_hz / 1.4e9) ** self.spectral_index)


@dataclass(frozen=True)
class CrossMatch:
    """Result of matching found sources to a reference catalogue.

    Attributes
    ----------
    n_matched : int
        Found sources with a reference counterpart within the radius.
    n_reference_in_field : int
        Reference sources inside the searched area (``None`` area: all).
    median_flux_ratio : float or None
        Median of found / reference integrated flux (reference at the image frequency).
    median_ra_offset_arcsec, median_dec_offset_arcsec : float or None
        Median (found - reference) offsets; RA offset includes cos(dec).
    pairs : tuple of (int, int, float)
        (found index, reference index, separation arcsec) per match.
    """

    n_matched: int
    n_reference_in_field: int
    median_flux_ratio: float | None
    median_ra_offset_arcsec: float | None
    median_dec_offset_arcsec: float | None
    pairs: tuple[tuple[int, int, float], ...]


def read_reference_catalogue(path: Path) -> list[ReferenceSource]:
    """Read a sky-model / reference CSV (``name,ra_deg,dec_deg,flux_jy,spectral_index``).

    Parameters
    ----------
    path : Path
        CSV file, read with :func:`contimg.science.skymodel.read_sky_model` (extra columns
        ignored, ``spectral_index`` defaults to 0; malformed rows raise ``SkyModelError``).

    Returns
    -------
    list of ReferenceSource
        The entries.
    """
    from contimg.science.skymodel import read_sky_model

    return [
        ReferenceSource(s.name, s.ra_deg, s.dec_deg, s.flux_jy, s.spectral_index)
        for s in read_sky_model(Path(path))
    ]


def _beam_at(pb_image: Path, ra: np.ndarray, dec: np.ndarray) -> np.ndarray:
    with fits.open(pb_image) as hdul:
        header = hdul[0].header
        pb = np.squeeze(np.asarray(hdul[0].data, dtype=float))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FITSFixedWarning)
        wcs = WCS(header).celestial
    x, y = wcs.wcs_world2pix(ra, dec, 0)
    ix = np.clip(np.round(x).astype(int), 0, pb.shape[1] - 1)
    iy = np.clip(np.round(y).astype(int), 0, pb.shape[0] - 1)
    return pb[iy, ix]


def find_sources(
    image: Path,
    *,
    pb_image: Path | None = None,
    snr: float = 5.0,
    island_snr: float = 3.0,
    pb_limit: float = 0.0,
    scratch_dir: Path | None = None,
    rms_box_beams: float | None = None,
) -> list[FoundSource]:
    """Find and fit sources in ``image`` with PyBDSF.

    Parameters
    ----------
    image : Path
        Restored image (flat noise), FITS with beam keywords.
    pb_image : Path, optional
        Primary-beam image on the same grid: fluxes and errors are divided by its value at
        each source, and sources where it is below ``pb_limit`` are dropped.
    snr : float
        Peak detection threshold (PyBDSF ``thresh_pix``), sigma.
    island_snr : float
        Island boundary threshold (``thresh_isl``), sigma.
    pb_limit : float
        Drop sources where the beam is below this.
    scratch_dir : Path, optional
        PyBDSF writes a log beside its input: it runs on a link in a scratch directory that is
        removed afterwards.
    rms_box_beams : float, optional
        Local-noise box (PyBDSF ``rms_box``) in beam major axes, step a third of it; at most
        half the image. None: PyBDSF chooses.

    Returns
    -------
    list of FoundSource
        One entry per PyBDSF source (Gaussians of a source combined), brightest first.
    """
    import bdsf

    image = Path(image).resolve()
    scratch = Path(tempfile.mkdtemp(prefix="bdsf-", dir=scratch_dir))
    try:
        link = scratch / image.name
        link.symlink_to(image)
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            # PyBDSF casts fit results with overflow and uses deprecated numpy paths; the
            # warnings concern its internals, not the catalogue.
            warnings.simplefilter("ignore")
            result = bdsf.process_image(
                str(link),
                thresh_pix=snr,
                thresh_isl=island_snr,
                quiet=True,
                mean_map="zero",
                rms_map=True,
                rms_box=_rms_box(image, rms_box_beams),
                ncores=1,
            )
        sources = list(getattr(result, "sources", []))
        del result
        with warnings.catch_warnings():
            # PyBDSF leaves its input FITS open; collect it here rather than at a random later
            # point where the ResourceWarning would surface as someone else's error.
            warnings.simplefilter("ignore", ResourceWarning)
            gc.collect()
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    if not sources:
        log.info("sources.found", image=str(image), count=0)
        return []
    ra = np.array([s.posn_sky_centroid[0] for s in sources])
    dec = np.array([s.posn_sky_centroid[1] for s in sources])
    pb = _beam_at(pb_image, ra, dec) if pb_image is not None else np.ones(ra.size)
    out = []
    for s, b in zip(sources, pb, strict=True):
        if pb_image is not None and not (b > max(pb_limit, 1e-6)):
            continue
        out.append(
            FoundSource(
                ra_deg=float(s.posn_sky_centroid[0]),
                dec_deg=float(s.posn_sky_centroid[1]),
                ra_err_arcsec=float(s.posn_sky_centroidE[0]) * 3600.0,
                dec_err_arcsec=float(s.posn_sky_centroidE[1]) * 3600.0,
                peak_jy=float(s.peak_flux_max) / b,
                peak_err_jy=float(s.peak_flux_maxE) / b,
                flux_jy=float(s.total_flux) / b,
                flux_err_jy=float(s.total_fluxE) / b,
                maj_arcsec=float(s.size_sky[0]) * 3600.0,
                min_arcsec=float(s.size_sky[1]) * 3600.0,
                pa_deg=float(s.size_sky[2]),
                rms_jy=float(s.rms_isl),
                pb=float(b),
            )
        )
    out.sort(key=lambda s: -s.peak_jy)
    log.info("sources.found", image=str(image), count=len(out))
    return out


def _rms_box(image: Path, beams: float | None) -> tuple[int, int] | None:
    """PyBDSF ``rms_box`` (size, step) in pixels for a box ``beams`` beam major axes wide."""
    if beams is None:
        return None
    header = fits.getheader(image)
    bmaj, cell = header.get("BMAJ"), abs(float(header.get("CDELT2", 0.0)))
    if not bmaj or cell <= 0:
        return None
    half = min(int(header["NAXIS1"]), int(header["NAXIS2"])) // 2
    size = min(round(beams * float(bmaj) / cell), half)
    return (size, max(1, size // 3)) if size >= 6 else None


def crossmatch(
    found: Sequence[FoundSource],
    reference: Sequence[ReferenceSource],
    freq_hz: float,
    *,
    radius_arcsec: float = 30.0,
    footprint: tuple[float, float, float] | None = None,
) -> CrossMatch:
    """Match found sources to the nearest reference source within ``radius_arcsec``.

    Parameters
    ----------
    found : sequence of FoundSource
        Catalogue of the image.
    reference : sequence of ReferenceSource
        Reference catalogue.
    freq_hz : float
        Image frequency (reference fluxes are scaled to it with their spectral index).
    radius_arcsec : float
        Largest accepted separation.
    footprint : tuple of float, optional
        (ra_deg, dec_deg, radius_deg) of the searched area, to count reference sources in it.

    Returns
    -------
    CrossMatch
        Matches and the median flux ratio and offsets.
    """
    from astropy import units as u
    from astropy.coordinates import SkyCoord

    ref_ra = np.array([r.ra_deg for r in reference], dtype=float)
    ref_dec = np.array([r.dec_deg for r in reference], dtype=float)
    n_ref = len(reference)
    if footprint is not None and n_ref:
        centre = SkyCoord(footprint[0], footprint[1], unit="deg")
        inside = centre.separation(SkyCoord(ref_ra, ref_dec, unit="deg")).deg <= footprint[2]
        n_ref = int(np.count_nonzero(inside))
    if not found or not reference:
        return CrossMatch(0, n_ref, None, None, None, ())
    f_coord = SkyCoord([s.ra_deg for s in found], [s.dec_deg for s in found], unit="deg")
    r_coord = SkyCoord(ref_ra, ref_dec, unit="deg")
    idx, sep, _ = f_coord.match_to_catalog_sky(r_coord)
    ok = sep.arcsec <= radius_arcsec
    # One reference source matches at most one found source: keep the closest.
    best: dict[int, tuple[int, float]] = {}
    for i in np.flatnonzero(ok):
        j, d = int(idx[i]), float(sep[i].arcsec)
        if j not in best or d < best[j][1]:
            best[j] = (int(i), d)
    pairs = tuple(sorted((i, j, d) for j, (i, d) in best.items()))
    if not pairs:
        return CrossMatch(0, n_ref, None, None, None, ())
    fi = np.array([p[0] for p in pairs])
    rj = np.array([p[1] for p in pairs])
    ratio = np.array(
        [found[i].flux_jy / reference[j].flux_at(freq_hz) for i, j in zip(fi, rj, strict=True)]
    )
    dra, ddec = r_coord[rj].spherical_offsets_to(f_coord[fi])
    return CrossMatch(
        n_matched=len(pairs),
        n_reference_in_field=n_ref,
        median_flux_ratio=float(np.median(ratio)),
        median_ra_offset_arcsec=float(np.median(dra.to_value(u.arcsec))),
        median_dec_offset_arcsec=float(np.median(ddec.to_value(u.arcsec))),
        pairs=pairs,
    )


def write_catalogue_csv(found: Sequence[FoundSource], path: Path) -> Path:
    """Write the catalogue as CSV (one row per source, columns = FoundSource fields).

    Parameters
    ----------
    found : sequence of FoundSource
        Catalogue.
    path : Path
        Output; written to a temporary name and renamed.

    Returns
    -------
    Path
        ``path``.
    """
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    names = [f.name for f in fields(FoundSource)]
    with tmp.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=names)
        writer.writeheader()
        for s in found:
            writer.writerow(asdict(s))
    tmp.replace(path)
    return path


def read_catalogue_csv(path: Path) -> list[FoundSource]:
    """Read a catalogue written by :func:`write_catalogue_csv`.

    Parameters
    ----------
    path : Path
        CSV file.

    Returns
    -------
    list of FoundSource
        The sources.
    """
    with Path(path).open(newline="") as fh:
        return [FoundSource(**{k: float(v) for k, v in row.items()}) for row in csv.DictReader(fh)]
