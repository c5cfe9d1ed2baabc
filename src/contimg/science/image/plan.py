"""The resolved imaging plan handed to a backend (every choice already made)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

__all__ = ["BackendImages", "ImagingPlan"]


@dataclass(frozen=True)
class ImagingPlan:
    """One imaging run, fully resolved (no "auto" left).

    Attributes
    ----------
    ms : Path
        Measurement Set to grid (single phase centre).
    prefix : Path
        Output prefix; backends write ``<prefix>-image.fits`` etc.
    size : int
        Image width = height, pixels.
    cell_arcsec : float
        Pixel size.
    robust : float
        Briggs robust.
    niter : int
        Maximum clean iterations.
    mgain : float
        Major-cycle gain.
    auto_mask, auto_threshold : float
        Auto-masking and stopping thresholds (sigma).
    threads : int
        Threads the imager may use.
    memory_gb : float
        Memory limit.
    data_column : str
        Visibility column.
    scratch : Path
        Directory for the imager's temporary files.
    restoring_beam : tuple of float, optional
        Fixed restoring beam (major, minor FWHM arcsec; PA deg); None: fitted to the PSF.
    padding : float
        Gridded image size over kept image size (WSClean ``-padding``).
    gridder : str
        ``wgridder`` or ``wstacking`` (WSClean).
    wgridder_accuracy : float, optional
        Requested wgridder accuracy (``-wgridder-accuracy``); None: WSClean's default.
    baseline_averaging : float, optional
        WSClean baseline-dependent time averaging, wavelengths; None: none.
    """

    ms: Path
    prefix: Path
    size: int
    cell_arcsec: float
    robust: float
    niter: int
    mgain: float
    auto_mask: float
    auto_threshold: float
    threads: int
    memory_gb: float
    data_column: str
    scratch: Path
    restoring_beam: tuple[float, float, float] | None = None
    padding: float = 1.2
    gridder: str = "wgridder"
    wgridder_accuracy: float | None = None
    baseline_averaging: float | None = None


@dataclass(frozen=True)
class BackendImages:
    """FITS files a backend made (Stokes I, one plane)."""

    image: Path
    psf: Path
    residual: Path
    model: Path
    software: str
