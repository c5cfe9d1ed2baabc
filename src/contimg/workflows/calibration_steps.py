"""Calibration steps where science meets the state store (for stage adapters and the CLI).

Science (:mod:`contimg.science.calibrate`, :mod:`contimg.science.catalog`) works on paths and
typed values; the store (:mod:`contimg.state._calibration`) keeps records. This module converts
between them and offers the few composite steps a workflow needs:

- :func:`catalogue`: calibrators from the database (seeded with the built-in list when empty);
- :func:`resolve_model`: the sky model for a solve (named calibrator, sky-model CSV, or the
  calibrator that transits the MS);
- :func:`register_set`: store a solved set (valid or rejected);
- :func:`decide_for_ms`: the typed apply decision for a target MS;
- :func:`record_application`: remember which set went into which MS.

Solving and applying themselves are the science functions
:func:`contimg.science.calibrate.solve_calibration` and
:func:`contimg.science.calibrate.apply.apply_calibration` (run them in the process executor).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import structlog

from contimg.config.settings import CalibrationSettings
from contimg.science.calibrate import (
    ApplyDecision,
    ApplyResult,
    CalSet,
    CalSetStatus,
    CalTable,
    CalTableKind,
    ModelSource,
    TableQA,
    read_model_csv,
)
from contimg.science.calibrate.apply import choose_cal_set
from contimg.science.calibrate.model import angular_separation_deg
from contimg.science.calibrate.msinfo import mjd_seconds_to_datetime, read_ms_summary
from contimg.science.catalog import Calibrator, load_calibrators
from contimg.science.catalog.transit import GroupCalibrator, calibrator_for_group
from contimg.state._calibration import (
    CalApplicationRecord,
    CalibrationStore,
    CalibratorRecord,
    CalSetRecord,
    CalTableRecord,
)

__all__ = [
    "NoCalibratorError",
    "cal_set_from_record",
    "cal_set_to_record",
    "calibrator_from_record",
    "calibrator_to_record",
    "catalogue",
    "decide_for_ms",
    "find_group_calibrator",
    "record_application",
    "register_set",
    "resolve_model",
]

log = structlog.get_logger(__name__)


class NoCalibratorError(LookupError):
    """No calibrator was named and none transits the MS (the message says why)."""


def calibrator_to_record(cal: Calibrator, origin: str) -> CalibratorRecord:
    """Convert a catalogue calibrator to a store record."""
    return CalibratorRecord(
        name=cal.name,
        j2000_name=cal.j2000_name,
        ra_deg=cal.ra_deg,
        dec_deg=cal.dec_deg,
        flux_jy=cal.flux_jy,
        spectral_index=cal.spectral_index,
        reference=cal.reference,
        origin=origin,
        aliases=tuple(cal.aliases),
    )


def calibrator_from_record(rec: CalibratorRecord) -> Calibrator:
    """Convert a store record to a catalogue calibrator."""
    return Calibrator(
        name=rec.name,
        j2000_name=rec.j2000_name,
        aliases=tuple(rec.aliases),
        ra_deg=rec.ra_deg,
        dec_deg=rec.dec_deg,
        flux_jy=rec.flux_jy,
        spectral_index=rec.spectral_index,
        strip_dec_deg=None,
        reference=rec.reference,
    )


def catalogue(store: CalibrationStore) -> list[Calibrator]:
    """Return the calibrators in the database, seeding it with the built-in list when empty."""
    rows = store.list_calibrators()
    if not rows:
        store.upsert_calibrators([calibrator_to_record(c, "builtin") for c in load_calibrators()])
        rows = store.list_calibrators()
    return [calibrator_from_record(r) for r in rows]


def cal_set_to_record(
    cal_set: CalSet, *, group_id: str | None = None, run_id: int | None = None
) -> CalSetRecord:
    """Convert a solved set to a store record."""
    return CalSetRecord(
        set_id=cal_set.set_id,
        calibrator=cal_set.calibrator,
        refant=cal_set.refant,
        status=cal_set.status.value,
        transit_time=cal_set.transit_time,
        valid_from=cal_set.valid_from,
        valid_to=cal_set.valid_to,
        tables=tuple(
            CalTableRecord(
                kind=t.kind.value,
                path=str(t.path),
                interp=t.interp,
                qa={k: _finite(v) for k, v in (t.qa.__dict__ if t.qa else {}).items()},
            )
            for t in cal_set.tables
        ),
        reasons=tuple(cal_set.reasons),
        source_ms=str(cal_set.source_ms) if cal_set.source_ms else None,
        group_id=group_id,
        run_id=run_id,
        provenance=dict(cal_set.provenance),
    )


def _finite(value: float) -> float | None:
    # JSON columns refuse NaN: an undefined metric is stored as null
    return float(value) if np.isfinite(value) else None


def cal_set_from_record(rec: CalSetRecord) -> CalSet:
    """Convert a store record back to the science value."""
    tables = []
    for t in rec.tables:
        qa = None
        if t.qa:
            qa = TableQA(**{k: (float("nan") if v is None else v) for k, v in t.qa.items()})
        tables.append(CalTable(CalTableKind(t.kind), Path(t.path), t.interp, qa))
    return CalSet(
        set_id=rec.set_id,
        calibrator=rec.calibrator,
        refant=rec.refant,
        transit_time=rec.transit_time,
        valid_from=rec.valid_from,
        valid_to=rec.valid_to,
        tables=tuple(tables),
        status=CalSetStatus(rec.status),
        reasons=tuple(rec.reasons),
        source_ms=Path(rec.source_ms) if rec.source_ms else None,
        provenance=dict(rec.provenance),
    )


def find_group_calibrator(
    ms: Path, calibrators: Sequence[Calibrator], settings: CalibrationSettings
) -> GroupCalibrator:
    """Find the calibrator transiting an MS (pointing = median field declination)."""
    summary = read_ms_summary(ms)
    used = np.isfinite(summary.field_times)
    times = [mjd_seconds_to_datetime(t) for t in summary.field_times[used]]
    dec = float(np.median(summary.field_dec_deg[used]))
    return calibrator_for_group(
        calibrators,
        dec,
        times,
        max_dec_offset_deg=settings.max_dec_offset_deg,
        min_flux_jy=settings.min_calibrator_flux_jy,
    )


def resolve_model(
    store: CalibrationStore,
    ms: Path,
    settings: CalibrationSettings,
    *,
    calibrator: str | None = None,
    model_csv: Path | None = None,
) -> tuple[str, list[ModelSource], GroupCalibrator | None]:
    """Return the name and sky model to solve with, and the transit when one was searched for.

    Parameters
    ----------
    store : CalibrationStore
        Calibrator catalogue.
    ms : Path
        The calibrator MS.
    settings : CalibrationSettings
        Selection limits.
    calibrator : str, optional
        A catalogue calibrator by name or alias.
    model_csv : Path, optional
        A sky-model CSV instead (any array, any band).

    Returns
    -------
    tuple
        ``(name, sources, transit)``; ``transit`` is set only when the calibrator was found
        by its transit through the MS.

    Raises
    ------
    NoCalibratorError
        Unknown calibrator name, or none transits the MS.
    contimg.science.calibrate.ModelError
        Unreadable sky-model CSV.
    """
    if model_csv is not None:
        sources = read_model_csv(model_csv)
        return f"model:{Path(model_csv).name}", sources, None
    cals = catalogue(store)
    if calibrator is not None:
        rec = store.get_calibrator(calibrator)
        if rec is None:
            names = ", ".join(c.name for c in cals)
            raise NoCalibratorError(f"unknown calibrator {calibrator!r} (catalogue: {names})")
        cal = calibrator_from_record(rec)
        return cal.name, _with_field(cal, settings), None
    found = find_group_calibrator(ms, cals, settings)
    if found.transit is None:
        raise NoCalibratorError(f"{ms}: {found.reason}")
    cal = found.transit.calibrator
    return cal.name, _with_field(cal, settings), found


#: A field source this close to the calibrator is the calibrator itself (listed twice).
_SAME_SOURCE_ARCSEC = 30.0


def _with_field(cal: Calibrator, settings: CalibrationSettings) -> list[ModelSource]:
    """Return the calibrator first (the phase-shift target), then the field sources around it."""
    model = [ModelSource(cal.name, cal.ra_deg, cal.dec_deg, cal.flux_jy, cal.spectral_index)]
    if settings.field_sources is None:
        return model
    field = read_model_csv(settings.field_sources)
    sep = angular_separation_deg(
        cal.ra_deg, cal.dec_deg, [s.ra_deg for s in field], [s.dec_deg for s in field]
    )
    keep = (sep <= settings.field_radius_deg) & (sep * 3600.0 > _SAME_SOURCE_ARCSEC)
    model += [s for s, k in zip(field, keep, strict=True) if k]
    log.info(
        "calibration.model_field_sources",
        calibrator=cal.name,
        catalogue=str(settings.field_sources),
        added=len(model) - 1,
    )
    return model


def register_set(
    store: CalibrationStore,
    cal_set: CalSet,
    *,
    group_id: str | None = None,
    run_id: int | None = None,
) -> CalSetRecord:
    """Store a solved set (valid or rejected) with its tables, QA and provenance."""
    return store.add_set(cal_set_to_record(cal_set, group_id=group_id, run_id=run_id))


def decide_for_ms(
    store: CalibrationStore, ms: Path, settings: CalibrationSettings
) -> ApplyDecision:
    """Choose the set for a target MS (nearest valid covering set, else ``when_missing``)."""
    t = read_ms_summary(ms).mid_time
    candidates = [cal_set_from_record(r) for r in store.list_sets(covering=t)]
    return choose_cal_set(t, candidates, when_missing=settings.when_missing)


def record_application(
    store: CalibrationStore, result: ApplyResult, *, run_id: int | None = None
) -> CalApplicationRecord:
    """Record which set went into which MS."""
    return store.record_application(
        result.set_id,
        str(result.ms),
        run_id=run_id,
        details={
            "tables": [str(p) for p in result.tables],
            "flagged_before": result.flagged_before,
            "flagged_after": result.flagged_after,
            "applied_in": result.applied_in,
        },
    )
