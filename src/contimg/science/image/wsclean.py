"""WSClean backend: the Debian ``wsclean`` binary driven as a subprocess.

Its output is streamed line by line into structured log events (``wsclean.output``), so a long
clean is visible while it runs and lands in the run's log records.

WSClean runs with glibc's malloc asked to back its heap with transparent huge pages
(``GLIBC_TUNABLES=glibc.malloc.hugetlb=1``, glibc 2.35 and later; older ones ignore it): on a
full group its page faults fell from 2.2 million to 0.16 million and the run took 4 % less time
(25.6 s -> 24.5 s, two runs each), with the same images to WSClean's own run-to-run spread.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
from pathlib import Path

import structlog

from contimg.science.image.plan import BackendImages, ImagingPlan
from contimg.science.image.products import ImagingError

__all__ = ["run_wsclean", "wsclean_command", "wsclean_version"]

log = structlog.get_logger(__name__)


def _binary(ms: Path | None = None) -> str:
    path = shutil.which("wsclean")
    if path is None:
        raise ImagingError(
            ms or Path("."),
            "the wsclean binary is not on PATH (install it: apt-get install wsclean)",
        )
    return path


@functools.cache
def wsclean_version() -> str:
    """Return WSClean's version line, e.g. ``WSClean 3.1.0 (2022-04-01)``."""
    out = subprocess.run(
        [_binary(), "--version"], capture_output=True, text=True, check=False, timeout=60
    ).stdout
    for line in out.splitlines():
        if "version" in line.lower():
            return line.strip().replace("WSClean version", "WSClean")
    return "WSClean unknown"


def wsclean_command(plan: ImagingPlan) -> list[str]:
    """Return the WSClean command line for ``plan``.

    Parameters
    ----------
    plan : ImagingPlan
        Resolved imaging choices.

    Returns
    -------
    list of str
        Arguments, ``wsclean`` first. ``-no-update-model-required`` keeps the MS read-only.
    """
    cmd = [
        _binary(plan.ms),
        "-name", str(plan.prefix),
        "-size", str(plan.size), str(plan.size),
        "-scale", f"{plan.cell_arcsec:.4f}asec",
        "-weight", "briggs", f"{plan.robust:g}",
        "-pol", "I",
        "-data-column", plan.data_column,
        "-niter", str(plan.niter),
        "-mgain", f"{plan.mgain:g}",
        "-auto-threshold", f"{plan.auto_threshold:g}",
        "-j", str(plan.threads),
        "-abs-mem", f"{plan.memory_gb:g}",
        "-temp-dir", str(plan.scratch),
        "-padding", f"{plan.padding:g}",
        "-no-update-model-required",
    ]  # fmt: skip
    if plan.gridder == "wgridder":
        cmd.append("-use-wgridder")
        if plan.wgridder_accuracy is not None:
            cmd += ["-wgridder-accuracy", f"{plan.wgridder_accuracy:g}"]
    if plan.baseline_averaging is not None:
        cmd += ["-baseline-averaging", f"{plan.baseline_averaging:g}"]
    if plan.restoring_beam is not None:
        bmaj, bmin, bpa = plan.restoring_beam
        cmd += ["-beam-shape", f"{bmaj:g}asec", f"{bmin:g}asec", f"{bpa:g}deg"]
    if plan.niter > 0 and plan.auto_mask > plan.auto_threshold:
        cmd += ["-auto-mask", f"{plan.auto_mask:g}"]
    cmd.append(str(plan.ms))
    return cmd


def _hugepage_environment() -> dict[str, str]:
    """Return the environment for WSClean: this one, and glibc's malloc on huge pages."""
    env = dict(os.environ)
    tunables = env.get("GLIBC_TUNABLES", "")
    if "glibc.malloc.hugetlb" not in tunables:
        env["GLIBC_TUNABLES"] = ":".join(t for t in (tunables, "glibc.malloc.hugetlb=1") if t)
    return env


def run_wsclean(plan: ImagingPlan) -> BackendImages:
    """Image ``plan.ms`` with WSClean.

    Parameters
    ----------
    plan : ImagingPlan
        Resolved imaging choices.

    Returns
    -------
    BackendImages
        The FITS images WSClean wrote.
    """
    cmd = wsclean_command(plan)
    log.info("wsclean.started", command=" ".join(cmd))
    tail: list[str] = []
    with subprocess.Popen(
        cmd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        bufsize=1,
        cwd=plan.scratch,
        env=_hugepage_environment(),
    ) as proc:
        assert proc.stdout is not None
        for raw in proc.stdout:
            line = raw.rstrip()
            if line:
                log.debug("wsclean.output", line=line)
                tail = [*tail[-19:], line]
        rc = proc.wait()
    if rc != 0:
        raise ImagingError(plan.ms, f"wsclean exited with {rc}: " + " | ".join(tail[-5:]))
    prefix = str(plan.prefix)
    images = BackendImages(
        image=Path(prefix + "-image.fits"),
        psf=Path(prefix + "-psf.fits"),
        residual=Path(prefix + "-residual.fits"),
        model=Path(prefix + "-model.fits"),
        software=wsclean_version(),
    )
    if plan.niter == 0:
        # Without cleaning WSClean writes only the dirty image: it is the image and residual.
        dirty = Path(prefix + "-dirty.fits")
        for target in (images.image, images.residual):
            if not target.exists():
                shutil.copyfile(dirty, target)
        if not images.model.exists():
            _zero_like(dirty, images.model)
    for path in (images.image, images.psf, images.residual, images.model):
        if not path.exists():
            raise ImagingError(plan.ms, f"wsclean did not write {path.name}")
    log.info("wsclean.finished", image=str(images.image))
    return images


def _zero_like(template: Path, out: Path) -> None:
    from astropy.io import fits

    with fits.open(template) as hdul:
        fits.PrimaryHDU(hdul[0].data * 0, hdul[0].header).writeto(out, overwrite=True)
