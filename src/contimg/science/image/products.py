"""Typed values the imaging functions return, and the imaging error."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

__all__ = ["Beam", "ImageProducts", "ImagingError"]


class ImagingError(RuntimeError):
    """Imaging cannot produce a valid image of this MS (all data flagged, imager failed, ...).

    Parameters
    ----------
    ms : Path
        The Measurement Set concerned; it is named in the message.
    reason : str
        What went wrong.
    """

    def __init__(self, ms: Path | str, reason: str) -> None:
        self.ms = Path(ms)
        self.reason = reason
        super().__init__(f"cannot image {self.ms}: {reason}")

    def __reduce__(self) -> tuple[type[ImagingError], tuple[Path, str]]:
        # Picklable with its arguments (process and Dask executors send errors across).
        return (type(self), (self.ms, self.reason))


@dataclass(frozen=True)
class Beam:
    """Restoring (synthesized) beam: FWHM axes in arcsec, position angle in degrees E of N."""

    bmaj_arcsec: float
    bmin_arcsec: float
    bpa_deg: float


@dataclass(frozen=True)
class ImageProducts:
    """The files one imaging call made (absolute paths) and what describes the image.

    Attributes
    ----------
    image, psf, residual, model : Path
        Restored Stokes I image, point-spread function, residual and clean-component model.
    pb : Path
        Primary-beam (Airy, averaged over the group's fields) image on the same grid.
    pbcor : Path
        Primary-beam corrected image, NaN where the beam is below ``pb_limit``.
    png : Path
        Quicklook PNG of the image.
    beam : Beam
        Restoring beam.
    frequency_hz : float
        Reference (band-centre) frequency of the image.
    ms : Path
        The Measurement Set imaged (the original, not the re-phased scratch copy).
    backend : str
        Imager used (``wsclean`` or ``tclean``).
    group_id : str
        Group (or MS) identifier written to the FITS headers.
    cell_arcsec : float
        Pixel size used.
    size : int
        Image width = height, pixels.
    phase_centre_deg : tuple of float
        (RA, Dec) of the image centre, degrees.
    data_column : str
        Visibility column imaged.
    """

    image: Path
    psf: Path
    residual: Path
    model: Path
    pb: Path
    pbcor: Path
    png: Path
    beam: Beam
    frequency_hz: float
    ms: Path
    backend: str
    group_id: str
    cell_arcsec: float
    size: int
    phase_centre_deg: tuple[float, float]
    data_column: str

    def paths(self) -> dict[str, Path]:
        """Return every file made, by kind."""
        return {
            "image": self.image,
            "psf": self.psf,
            "residual": self.residual,
            "model": self.model,
            "pb": self.pb,
            "pbcor": self.pbcor,
            "png": self.png,
        }
