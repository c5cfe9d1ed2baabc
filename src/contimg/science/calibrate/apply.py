"""Choose the calibration set for a target MS and apply it: in the imaging pass, or with CASA.

Selection is a pure function over the candidate sets (the state store supplies them), so the
workflow can act on a typed :class:`ApplyDecision`: ``apply``, or the configured
``when_missing`` behaviour (``fail``, ``wait``, ``uncalibrated``) with the reason stated.

Applying a bandpass-and-gain set to a target costs CASA ``applycal`` 11-13 s on a full group
(2 cores): it writes a full-resolution CORRECTED_DATA that imaging then reads only to average.
With ``apply_to="imaging"`` the set is checked and loaded here and divided out of DATA while
the imaging copy is averaged (:mod:`contimg.science.calibrate.gains`); sets that pass cannot
express exactly (delays, several solution times) still go through ``applycal``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Literal

import structlog

from contimg.science.calibrate._types import ApplyAction, ApplyDecision, ApplyResult, CalSet
from contimg.science.calibrate.gains import NotInPassError, load_gains
from contimg.science.calibrate.msinfo import flag_fraction
from contimg.science.calibrate.qa import CalTableError, check_caltable

__all__ = ["RejectedSetError", "apply_calibration", "choose_cal_set"]

log = structlog.get_logger(__name__)


class RejectedSetError(ValueError):
    """An attempt to apply a set that did not pass QA."""


def choose_cal_set(
    target_time: datetime,
    candidates: Sequence[CalSet],
    *,
    when_missing: Literal["fail", "wait", "uncalibrated"] = "wait",
) -> ApplyDecision:
    """Pick the nearest valid set whose window covers ``target_time``.

    Nearest in time either side of the target (by the set's transit time); ties go to the newer
    set. Rejected sets are never chosen. Other covering valid sets are reported as overlaps.

    Parameters
    ----------
    target_time : datetime
        Time of the target observation (aware, UTC).
    candidates : sequence of CalSet
        Sets to choose from (any status).
    when_missing : {"fail", "wait", "uncalibrated"}
        Action when no valid set covers the target.

    Returns
    -------
    ApplyDecision
        The decision, with the chosen set or the reason none qualified.
    """
    covering = [s for s in candidates if s.valid and s.covers(target_time)]
    if not covering:
        n_rejected = sum(1 for s in candidates if not s.valid and s.covers(target_time))
        reason = f"no valid calibration set covers {target_time.isoformat()}"
        if n_rejected:
            reason += f" ({n_rejected} rejected set(s) do, and are never applied)"
        return ApplyDecision(ApplyAction(when_missing), None, reason + f": {when_missing}")
    ranked = sorted(
        covering,
        key=lambda s: (
            abs((s.transit_time - target_time).total_seconds()),
            -s.transit_time.timestamp(),
        ),
    )
    best = ranked[0]
    offset_h = (target_time - best.transit_time).total_seconds() / 3600.0
    if len(ranked) > 1:
        log.info(
            "calibration.sets_overlap",
            target_time=target_time.isoformat(),
            chosen=best.set_id,
            also_covering=[s.set_id for s in ranked[1:]],
        )
    return ApplyDecision(
        ApplyAction.APPLY,
        best,
        f"set {best.set_id} ({best.calibrator}), transit {offset_h:+.2f} h from the target",
        overlapping=tuple(s.set_id for s in ranked[1:]),
    )


def apply_calibration(
    ms: Path,
    cal_set: CalSet,
    *,
    log_dir: Path | None = None,
    scratch_dir: Path | None = None,
    apply_to: Literal["imaging", "ms"] = "ms",
) -> ApplyResult:
    """Apply a valid set to an MS: ``applycal`` into CORRECTED_DATA, or in the imaging pass.

    Bandpass and delay tables are interpolated ``nearest``, gains ``linear`` (as stored in the
    set), solutions from any field of the tables are used, weights are left alone.

    Parameters
    ----------
    ms : Path
        Target MS (modified in place: CORRECTED_DATA and FLAG).
    cal_set : CalSet
        The set to apply; must be ``valid``.
    log_dir : Path, optional
        Where CASA's log goes.
    scratch_dir : Path, optional
        Parent of the scratch directory for CASA's temporaries.
    apply_to : {"ms", "imaging"}
        ``ms``: CASA writes CORRECTED_DATA. ``imaging``: the set is checked and loaded, the
        flags it adds are counted, and the MS is left as it is; the imaging pass applies it
        (``ApplyResult.applied_in == "imaging"``). A set the pass cannot apply exactly goes
        through CASA (logged with the reason).

    Returns
    -------
    ApplyResult
        What was applied, where, and the flagged fractions before and after.

    Raises
    ------
    RejectedSetError
        When the set is not ``valid``.
    CalTableError
        When a table is missing or unreadable; the message names its path. Nothing is applied.
    """
    if not cal_set.valid:
        raise RejectedSetError(
            f"set {cal_set.set_id} is {cal_set.status.value} and is never applied: "
            + "; ".join(cal_set.reasons)
        )
    if not cal_set.tables:
        raise CalTableError(f"set {cal_set.set_id} has no tables")
    for table in cal_set.tables:
        check_caltable(table.path)
    ms = Path(ms).absolute()
    if apply_to == "imaging":
        try:
            gains = load_gains([t.path for t in cal_set.tables], ms)
        except NotInPassError as exc:
            log.info("calibration.applied_with_casa", ms=str(ms), reason=str(exc))
        else:
            before, after = gains.flagged_fractions(ms)
            return _applied(ms, cal_set, before, after, "imaging")
    before = flag_fraction(ms)

    from contimg.science.casa_env import casa_scratch, ensure_casa_environment

    ensure_casa_environment(log_dir=log_dir)
    with casa_scratch(scratch_dir):
        import casatasks

        try:
            casatasks.applycal(
                vis=str(ms),
                gaintable=[str(t.path) for t in cal_set.tables],
                interp=[t.interp for t in cal_set.tables],
                gainfield=["" for _ in cal_set.tables],
                calwt=False,
                applymode="calflag",
                flagbackup=False,
            )
        except Exception as exc:  # CASA reports damaged tables only when it reads them
            names = ", ".join(str(t.path) for t in cal_set.tables)
            raise CalTableError(f"applycal of {names} to {ms} failed: {exc}") from exc
    return _applied(ms, cal_set, before, flag_fraction(ms), "CORRECTED_DATA")


def _applied(
    ms: Path,
    cal_set: CalSet,
    before: float,
    after: float,
    applied_in: Literal["CORRECTED_DATA", "imaging"],
) -> ApplyResult:
    log.info(
        "calibration.applied",
        ms=str(ms),
        set_id=cal_set.set_id,
        applied_in=applied_in,
        flagged_before=round(before, 4),
        flagged_after=round(after, 4),
    )
    return ApplyResult(
        ms=ms,
        set_id=cal_set.set_id,
        tables=tuple(t.path for t in cal_set.tables),
        flagged_before=before,
        flagged_after=after,
        applied_in=applied_in,
    )
