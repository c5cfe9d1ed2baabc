"""The demo night: simulate groups around a calibrator transit, feed them in, summarize.

``contimg demo`` uses this module with the streaming :class:`~contimg.service.Service`,
so the demo exercises exactly the code path of ``contimg watch``: files land in
``incoming/`` one by one, are indexed when whole, grouped, and processed by the
``calibrator`` and ``standard`` workflows; then the night is mosaicked.
"""

from __future__ import annotations

import random
import shutil
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
from astropy.coordinates import SkyCoord
from astropy.time import Time

from contimg.config.settings import Settings
from contimg.instrument import Instrument
from contimg.science.catalog import get_calibrator
from contimg.science.simulate import (
    Corruptions,
    SimulatedGroup,
    default_start,
    simulate_groups,
    strip_sky,
)
from contimg.science.skymodel import SkyModel, Source, write_sky_model
from contimg.state import SqlStateRepository

__all__ = [
    "DEMO_CALIBRATOR",
    "DEMO_DEC_DEG",
    "VARIABLE_SOURCE",
    "GroupReport",
    "NightPlan",
    "SourceReport",
    "demo_overrides",
    "feed_incoming",
    "night_range",
    "plan_night",
    "report_night",
    "simulate_night",
]

#: The +54.6 deg strip and the calibrator that transits it.
DEMO_DEC_DEG = 54.57
DEMO_CALIBRATOR = "0834+555"
#: Name of the source that brightens halfway through the night.
VARIABLE_SOURCE = "DEMO-VAR"

#: Settings the demo uses at each simulation scale (a user's ``--set`` still wins).
#: The test-scale array (24 antennas, 6 outriggers) has a beam of ~24" x 15" at robust 0
#: and ~50" x 25" at robust 1; robust 1 and 6" cells keep the images ~1,800 pixels wide.
_SCALE_OVERRIDES: dict[str, dict[str, Any]] = {
    "test": {
        "imaging.robust": 1.0,
        "imaging.cell_arcsec": 8.0,
        "imaging.fov_deg": 3.0,
        "imaging.qa_max_rms_jy": 0.05,
        "ingest.stable_wait_s": 0.2,
        "ingest.poll_interval_s": 0.5,
    },
    "small": {"imaging.robust": 0.5, "ingest.stable_wait_s": 0.5, "ingest.poll_interval_s": 1.0},
    "full": {},
}


def demo_overrides(scale: str, sky_csv: Path) -> dict[str, Any]:
    """Return the settings of a demo night (the sky model is reference and monitored list)."""
    return {
        **_SCALE_OVERRIDES[scale],
        "imaging.reference_catalog": str(sky_csv),
        "mosaic.reference_catalog": str(sky_csv),
        "photometry.monitored_sources": str(sky_csv),
        "photometry.min_measurements": 3,
        "calibration.when_missing": "wait",
        "calibration.field_sources": str(sky_csv),
    }


@dataclass(frozen=True)
class NightPlan:
    """What the demo night holds before anything is written."""

    start: datetime
    n_groups: int
    scale: str
    sky: SkyModel
    flux_by_group: dict[str, tuple[float, ...]]
    sky_csv: Path
    seed: int


def _meridian_ra_deg(when: datetime, instrument: Instrument) -> float:
    lst = Time(when).sidereal_time("apparent", longitude=instrument.site.earth_location().lon)
    # the meridian's apparent RA, taken back to J2000 (about 0.3 deg of precession)
    coord = SkyCoord(ra=lst.deg, dec=DEMO_DEC_DEG, unit="deg", frame="fk5", equinox=Time(when))
    return float(coord.transform_to("icrs").ra.deg)


def plan_night(
    sky_csv: Path, *, n_groups: int = 5, scale: str = "test", seed: int = 110
) -> NightPlan:
    """Choose the night: groups centred on 0834+555's transit, a field, one brightening source.

    The field holds a few random sources along the strip (seeded) and
    ``DEMO-VAR``, which sits near the meridian of the middle group and triples in
    flux from the group after the transit on.
    """
    instrument = Instrument.from_settings()
    calibrator = get_calibrator(DEMO_CALIBRATOR)
    start = default_start(calibrator, n_groups, scale)
    field = strip_sky(
        8,
        start,
        n_groups,
        DEMO_DEC_DEG,
        seed=seed,
        margin_deg=1.5,
        min_flux_jy=0.2,
        max_flux_jy=1.5,
    )
    middle = start + timedelta(seconds=(n_groups // 2 + 0.5) * instrument.group_duration_s)
    variable = Source(
        VARIABLE_SOURCE, _meridian_ra_deg(middle, instrument), DEMO_DEC_DEG - 0.4, 0.5, -0.7
    )
    step = n_groups // 2 + 1
    flux_by_group = {VARIABLE_SOURCE: tuple(0.5 if i < step else 1.5 for i in range(n_groups))}
    sky = SkyModel((*field.sources, variable))
    sky_csv.parent.mkdir(parents=True, exist_ok=True)
    write_sky_model(sky, sky_csv)
    return NightPlan(start, n_groups, scale, sky, flux_by_group, sky_csv, seed)


def simulate_night(
    plan: NightPlan, staging: Path, *, progress: Callable[[int, int], None] | None = None
) -> list[SimulatedGroup]:
    """Write the night's subband files (gains, bandpass, noise, RFI) into ``staging``."""
    return simulate_groups(
        staging,
        plan.start,
        plan.n_groups,
        DEMO_DEC_DEG,
        sky=plan.sky,
        calibrator=DEMO_CALIBRATOR,
        scale=plan.scale,
        seed=plan.seed,
        corruptions=Corruptions(gains=True, bandpass=True, noise=True, rfi=True),
        flux_by_group=plan.flux_by_group,
        progress=progress,
    )


def feed_incoming(
    groups: Sequence[SimulatedGroup],
    incoming: Path,
    *,
    file_gap_s: float,
    group_gap_s: float,
    seed: int = 0,
    stop: threading.Event | None = None,
) -> int:
    """Move the groups' files into ``incoming`` as a correlator writes them.

    Subbands of a group arrive in a shuffled order, ``file_gap_s`` apart; groups
    follow each other ``group_gap_s`` apart. Each move is a rename, so a file is
    never seen half written. Returns the number of files delivered.
    """
    incoming.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    delivered = 0
    for group in groups:
        files = list(group.files)
        rng.shuffle(files)
        for path in files:
            if stop is not None and stop.is_set():
                return delivered
            shutil.move(path, incoming / path.name)
            delivered += 1
            time.sleep(file_gap_s)
        time.sleep(group_gap_s)
    return delivered


@dataclass(frozen=True)
class SourceReport:
    """A bright source of the sky model as one image recovered it."""

    name: str
    true_flux_jy: float
    measured_flux_jy: float | None
    separation_arcsec: float | None


@dataclass(frozen=True)
class GroupReport:
    """One group of the night: what ran, how long, and what came out."""

    group_id: str
    state: str
    workflows: tuple[str, ...]
    stage_seconds: dict[str, float]
    calibration_set: str | None
    image_rms_jy: float | None
    image_verdict: str | None
    sources: tuple[SourceReport, ...]
    error: str | None


def _true_flux(source: Source, index: int, plan: NightPlan, freq_hz: float) -> float:
    series = plan.flux_by_group.get(source.name)
    s14 = series[index] if series is not None else source.flux_jy
    return float(s14 * (freq_hz / 1.4e9) ** source.spectral_index)


def _recovered(
    repository: SqlStateRepository,
    image_id: int,
    plan: NightPlan,
    index: int,
    freq_hz: float,
    n_brightest: int,
) -> tuple[SourceReport, ...]:
    found = repository.images.sources(image_id)
    if not found:
        return ()
    ra = np.array([s.ra_deg for s in found])
    dec = np.array([s.dec_deg for s in found])
    cat = SkyCoord(ra=ra, dec=dec, unit="deg")
    reports = []
    for src in plan.sky.sources:
        sep = SkyCoord(src.ra_deg, src.dec_deg, unit="deg").separation(cat).arcsec
        k = int(np.argmin(sep))
        hit = sep[k] < 30.0
        reports.append(
            SourceReport(
                src.name,
                _true_flux(src, index, plan, freq_hz),
                float(found[k].flux_jy) if hit else None,
                float(sep[k]) if hit else None,
            )
        )
    seen = [r for r in reports if r.measured_flux_jy is not None]
    seen.sort(key=lambda r: -r.true_flux_jy)
    return tuple(seen[:n_brightest])


def report_night(
    repository: SqlStateRepository,
    plan: NightPlan,
    groups: Sequence[SimulatedGroup],
    *,
    n_brightest: int = 3,
) -> list[GroupReport]:
    """Summarize each simulated group from the state store."""
    reports = []
    for sim in groups:
        group = repository.groups.get_group(sim.group_id)
        runs = [
            r for r in repository.list_runs(limit=1000) if r.inputs.get("group_id") == sim.group_id
        ]
        runs.sort(key=lambda r: r.id)
        seconds: dict[str, float] = {}
        for run in runs:
            for attempt in repository.list_attempts(run.id):
                if attempt.duration_s and attempt.status.value == "completed":
                    seconds[attempt.stage] = seconds.get(attempt.stage, 0.0) + attempt.duration_s
        images = repository.images.list_images(group_id=sim.group_id, limit=1)
        image = images[0] if images else None
        sources: tuple[SourceReport, ...] = ()
        if image is not None:
            sources = _recovered(
                repository, image.id, plan, sim.index, image.frequency_hz, n_brightest
            )
        # the service's outcome (done, failed) where it planned the group, else the files'
        state = "unknown"
        if group is not None:
            state = (repository.service.get(group.id) or group).state.value
        reports.append(
            GroupReport(
                group_id=sim.group_id,
                state=state,
                workflows=tuple(r.workflow for r in runs if r.status.value == "completed"),
                stage_seconds=seconds,
                calibration_set=image.calibration_set if image else None,
                image_rms_jy=image.rms_jy if image else None,
                image_verdict=image.verdict if image else None,
                sources=sources,
                error=next((r.error for r in runs if r.error), None) if not image else None,
            )
        )
    return reports


def night_range(groups: Sequence[SimulatedGroup], settings: Settings) -> tuple[datetime, datetime]:
    """Return the time range of the night's data (for the mosaic)."""
    span = timedelta(seconds=Instrument.from_settings(settings.instrument).group_duration_s)
    return groups[0].start - timedelta(seconds=1), groups[-1].start + span
