"""Flag a Measurement Set before calibration and imaging: autocorrelations, exact zeros, RFI.

The RFI flagger is chosen from :data:`RFI_BACKENDS` (``flagging.backend``):

- ``aoflagger``: the ``aoflagger`` binary with the DSA-110 Lua strategy shipped in
  ``contimg/science/data/aoflagger_dsa110.lua`` (< 2 % flagged on clean simulated data, where
  the generic strategy flags 19 %), or a strategy file from ``flagging.aoflagger_strategy``;
- ``casa``: CASA ``flagdata`` in ``tfcrop`` or ``rflag`` mode (``flagging.casa_mode``);
- ``none``: no RFI flagging.

Each step's newly flagged fraction is recorded in :class:`FlagResult`.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import numpy as np
import structlog

from contimg.config.settings import FlaggingSettings

__all__ = [
    "RFI_BACKENDS",
    "FlagResult",
    "FlaggingError",
    "default_strategy",
    "flag_ms",
    "flagged_fraction",
]


log = structlog.get_logger(__name__)


class FlaggingError(RuntimeError):
    """A flagger is missing or failed, or too much data is flagged."""


@dataclass(frozen=True)
class FlagResult:
    """Flag fractions of one flagging pass.

    Attributes
    ----------
    ms : Path
        The MS (flags written in place).
    backend : str
        RFI backend used.
    before, after : float
        Flagged fraction of all visibilities before and after.
    by_reason : Mapping of str to float
        Fraction of all visibilities newly flagged by each step
        (``autocorrelations``, ``zeros``, ``rfi``).
    cross_after : float
        Flagged fraction of the cross-correlations afterwards (what calibration and imaging see).
    """

    ms: Path
    backend: str
    before: float
    after: float
    by_reason: Mapping[str, float] = field(default_factory=dict)
    cross_after: float = 0.0


def default_strategy() -> Path:
    """Return the path of the DSA-110 AOFlagger strategy shipped with the package."""
    return Path(str(resources.files("contimg.science") / "data" / "aoflagger_dsa110.lua"))


def flagged_fraction(ms: Path, *, cross_only: bool = False) -> float:
    """Return the flagged fraction of an MS (all rows, or cross-correlations only)."""
    from casacore.tables import table

    with table(str(ms), ack=False) as tb:
        flags = tb.getcol("FLAG") | tb.getcol("FLAG_ROW")[:, None, None]
        if cross_only:
            flags = flags[tb.getcol("ANTENNA1") != tb.getcol("ANTENNA2")]
    return float(np.mean(flags)) if flags.size else 1.0


def _flag_basic(ms: Path, *, autos: bool, zeros: bool) -> None:
    from casacore.tables import table

    with table(str(ms), readonly=False, ack=False) as tb:
        flags = tb.getcol("FLAG")
        if autos:
            flags[tb.getcol("ANTENNA1") == tb.getcol("ANTENNA2")] = True
        if zeros:
            flags |= tb.getcol("DATA") == 0
        tb.putcol("FLAG", flags)


def _aoflagger(
    ms: Path, settings: FlaggingSettings, log_dir: Path | None, scratch: Path | None
) -> None:
    binary = shutil.which("aoflagger")
    if binary is None:
        raise FlaggingError(
            "the 'aoflagger' binary is not installed (apt-get install aoflagger), "
            "or set flagging.backend = 'casa'"
        )
    strategy = Path(settings.aoflagger_strategy or default_strategy())
    if not strategy.is_file():
        raise FlaggingError(f"AOFlagger strategy {strategy} does not exist")
    # -direct-read: AOFlagger's default (auto) reads the whole MS into memory when it thinks
    # there is room, ~13x the visibility size (18 GB for a full group, measured): too much on
    # a machine shared with other workers.
    cmd = [
        binary,
        "-strategy",
        str(strategy),
        "-column",
        "DATA",
        "-direct-read",
        "-j",
        "1",
        str(ms),
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if log_dir is not None:
        Path(log_dir).mkdir(parents=True, exist_ok=True)
        with (Path(log_dir) / "aoflagger.log").open("a") as fh:
            fh.write(f"$ {' '.join(cmd)}\n{proc.stdout}{proc.stderr}\n")
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
        raise FlaggingError(
            f"aoflagger failed on {ms} (exit {proc.returncode}): {' / '.join(tail)}"
        )


def _casa(ms: Path, settings: FlaggingSettings, log_dir: Path | None, scratch: Path | None) -> None:
    from contimg.science.casa_env import casa_scratch, ensure_casa_environment

    ensure_casa_environment(log_dir=log_dir)
    with casa_scratch(scratch):
        import casatasks

        casatasks.flagdata(
            vis=str(ms),
            mode=settings.casa_mode,
            datacolumn="data",
            action="apply",
            flagbackup=False,
            autocorr=False,
        )


def _none(ms: Path, settings: FlaggingSettings, log_dir: Path | None, scratch: Path | None) -> None:
    return None


#: RFI backends by name: callables ``(ms, settings, log_dir, scratch_dir) -> None``.
RFI_BACKENDS: dict[str, Callable[[Path, FlaggingSettings, Path | None, Path | None], None]] = {
    "aoflagger": _aoflagger,
    "casa": _casa,
    "none": _none,
}


def flag_ms(
    ms: Path,
    settings: FlaggingSettings,
    *,
    log_dir: Path | None = None,
    scratch_dir: Path | None = None,
    enforce_limit: bool = True,
) -> FlagResult:
    """Flag autocorrelations, exact zeros and RFI in place, and report the fractions.

    Parameters
    ----------
    ms : Path
        Measurement Set (FLAG column modified).
    settings : FlaggingSettings
        The ``flagging`` section.
    log_dir : Path, optional
        Where flagger logs go.
    scratch_dir : Path, optional
        Parent of scratch directories (CASA backend).
    enforce_limit : bool
        Raise when more than ``settings.max_flag_fraction`` is flagged. A calibrator group
        passes ``False``: the solve then records a ``rejected`` set with the reason.

    Returns
    -------
    FlagResult
        Fractions before, after and per reason.

    Raises
    ------
    FlaggingError
        Unknown or missing backend, a flagger failure, or more than
        ``settings.max_flag_fraction`` of the cross-correlations flagged afterwards (unless
        ``enforce_limit`` is false).
    """
    ms = Path(ms).absolute()
    try:
        backend = RFI_BACKENDS[settings.backend]
    except KeyError:
        known = ", ".join(sorted(RFI_BACKENDS))
        raise FlaggingError(
            f"unknown flagging.backend {settings.backend!r} (known: {known})"
        ) from None
    before = flagged_fraction(ms)
    reasons: dict[str, float] = {}
    current = before
    if settings.flag_autocorrelations:
        _flag_basic(ms, autos=True, zeros=False)
        now = flagged_fraction(ms)
        reasons["autocorrelations"], current = now - current, now
    if settings.flag_zeros:
        _flag_basic(ms, autos=False, zeros=True)
        now = flagged_fraction(ms)
        reasons["zeros"], current = now - current, now
    backend(ms, settings, log_dir, scratch_dir)
    after = flagged_fraction(ms)
    reasons["rfi"] = after - current
    cross = flagged_fraction(ms, cross_only=True)
    result = FlagResult(ms, settings.backend, before, after, reasons, cross)
    log.info(
        "flagging.done",
        ms=str(ms),
        backend=settings.backend,
        before=round(before, 4),
        after=round(after, 4),
        cross_after=round(cross, 4),
        **{f"by_{k}": round(v, 4) for k, v in reasons.items()},
    )
    if enforce_limit and cross > settings.max_flag_fraction:
        raise FlaggingError(
            f"{cross:.1%} of the cross-correlations of {ms} are flagged "
            f"(flagging.max_flag_fraction = {settings.max_flag_fraction:g})"
        )
    return result
