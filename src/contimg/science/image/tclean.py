"""CASA tclean backend (casatasks, imported lazily after the offline CASA set-up).

Run it in a process of its own (the pipeline's process executor): casacore is not thread-safe
and CASA changes the working directory while it runs.
"""

from __future__ import annotations

from pathlib import Path

import structlog

from contimg.science.casa_env import casa_scratch, ensure_casa_environment
from contimg.science.image.plan import BackendImages, ImagingPlan
from contimg.science.image.products import ImagingError

__all__ = ["run_tclean"]

log = structlog.get_logger(__name__)

# Field of view beyond which the w-term matters for DSA-110 baselines (a few km, phased to the
# meridian 17 deg from zenith at +54 deg): use w-projection with automatic plane count.
_COLUMN = {"DATA": "data", "CORRECTED_DATA": "corrected", "MODEL_DATA": "model"}


def run_tclean(plan: ImagingPlan) -> BackendImages:
    """Image ``plan.ms`` with CASA tclean (MFS, Stokes I, w-projection, auto-multithresh).

    Parameters
    ----------
    plan : ImagingPlan
        Resolved imaging choices.

    Returns
    -------
    BackendImages
        FITS exports of tclean's image, psf, residual and model.
    """
    ensure_casa_environment()
    try:
        import casatasks
        import casatools
    except ImportError as exc:  # pragma: no cover - depends on the installation
        raise ImagingError(
            plan.ms, "tclean needs casatasks/casatools (pip install casatasks)"
        ) from exc

    ms = str(Path(plan.ms).resolve())
    beam = plan.restoring_beam
    restoring = [] if beam is None else [f"{beam[0]}arcsec", f"{beam[1]}arcsec", f"{beam[2]}deg"]
    with casa_scratch(plan.scratch) as scratch:
        base = str(scratch / "tclean")
        log.info("tclean.started", ms=ms, size=plan.size, cell_arcsec=plan.cell_arcsec)
        casatasks.tclean(
            vis=ms,
            imagename=base,
            datacolumn=_COLUMN[plan.data_column],
            imsize=[plan.size, plan.size],
            cell=f"{plan.cell_arcsec:.4f}arcsec",
            stokes="I",
            specmode="mfs",
            gridder="widefield",
            wprojplanes=-1,
            weighting="briggs",
            robust=plan.robust,
            niter=plan.niter,
            gain=0.1,
            nsigma=plan.auto_threshold,
            usemask="auto-multithresh" if plan.niter > 0 else "user",
            noisethreshold=plan.auto_mask,
            # DSA-110 snapshot PSFs have high sidelobes: CASA's default sidelobethreshold (3 x
            # the largest sidelobe) masks nothing and tclean then does not clean at all.
            sidelobethreshold=1.25,
            minbeamfrac=0.1,
            pblimit=-1e-6,
            restoration=True,
            restoringbeam=restoring,
            pbcor=False,
            parallel=False,
        )
        prefix = str(plan.prefix)
        out = BackendImages(
            image=Path(prefix + "-image.fits"),
            psf=Path(prefix + "-psf.fits"),
            residual=Path(prefix + "-residual.fits"),
            model=Path(prefix + "-model.fits"),
            software=f"CASA tclean {casatools.version_string()}",
        )
        for ext, target in (
            ("image", out.image),
            ("psf", out.psf),
            ("residual", out.residual),
            ("model", out.model),
        ):
            if not Path(f"{base}.{ext}").exists():
                raise ImagingError(plan.ms, f"tclean did not write {ext}")
            casatasks.exportfits(
                imagename=f"{base}.{ext}", fitsimage=str(target), overwrite=True, velocity=False
            )
    log.info("tclean.finished", image=str(out.image))
    return out
