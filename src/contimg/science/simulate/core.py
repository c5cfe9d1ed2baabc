"""Simulate groups of DSA-110 subband files: drift-scan point sources, corruptions, truth."""

from __future__ import annotations

import time as _time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import structlog

from contimg.instrument.model import Instrument, spread_selection
from contimg.instrument.naming import format_timestamp
from contimg.science.catalog import Calibrator, get_calibrator
from contimg.science.simulate import _corruptions as corr_mod
from contimg.science.simulate._corruptions import Corruptions, rng_for
from contimg.science.simulate._engine import apparent_flux, group_geometry, sky_chunk
from contimg.science.simulate._files import (
    SubbandWriter,
    file_names,
    history_line,
    truncate,
    uvdata_template,
)
from contimg.science.simulate._scales import SimulationScale, get_scale
from contimg.science.simulate._transit import transit_time
from contimg.science.simulate._truth import (
    GAIN_CONVENTION,
    VISIBILITY_CONVENTION,
    complex_block,
    write_truth,
)
from contimg.science.skymodel import REFERENCE_FREQUENCY_HZ, SkyModel, Source, random_sky

__all__ = [
    "DEFAULT_DEC_DEG",
    "DEFAULT_START",
    "FluxByGroup",
    "SimulatedGroup",
    "default_start",
    "read_flux_by_group",
    "simulate_groups",
    "start_for_transit",
    "strip_sky",
]

log = structlog.get_logger(__name__)

#: Pointing declination of the DSA-110 strip through 0834+555 (observed), degrees.
DEFAULT_DEC_DEG = 54.57
#: Start used when neither a start nor a calibrator is given: 0834+555 transits
#: 2025-10-17 at 14:44:35 UTC (inside the IERS tables astropy ships).
DEFAULT_START = datetime(2025, 10, 17, 14, 30, tzinfo=UTC)

#: Per-group 1.4 GHz fluxes: ``{name: [flux in group 0, group 1, ...]}`` (the last value
#: holds for later groups), or a callable ``(source, group_index) -> flux_jy``.
FluxByGroup = Mapping[str, Sequence[float]] | Callable[[Source, int], float]


@dataclass(frozen=True)
class SimulatedGroup:
    """One simulated group as written.

    Attributes
    ----------
    group_id : str
        sb00's timestamp, ``YYYY-MM-DDTHH:MM:SS``.
    index : int
        Group index (0 = first group of the sequence).
    start : datetime.datetime
        Exact UTC start of the first integration.
    files : tuple of Path
        Files written (truncated ones included), in subband order.
    truth_path : Path
        The group's ``<group_id>_truth.json``.
    missing_subbands : tuple of int
        Subbands deliberately not written.
    truncated_subbands : tuple of int
        Subbands whose file was deliberately cut short.
    seconds : float
        Wall time spent simulating and writing the group.
    """

    group_id: str
    index: int
    start: datetime
    files: tuple[Path, ...]
    truth_path: Path
    missing_subbands: tuple[int, ...]
    truncated_subbands: tuple[int, ...]
    seconds: float


def _as_utc(value: datetime | str) -> datetime:
    if isinstance(value, str):
        value = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _jd(ts: datetime) -> float:
    return 2440587.5 + ts.timestamp() / 86400.0


def _n_integrations(instrument: Instrument, scale: SimulationScale) -> int:
    return scale.n_integrations or instrument.integrations_per_group


def start_for_transit(
    ra_deg: float,
    on: datetime | str,
    n_groups: int,
    *,
    dec_deg: float = 0.0,
    transit_group: int | None = None,
    scale: str | SimulationScale = "test",
    instrument: Instrument | None = None,
) -> datetime:
    """Start time that puts a source's transit in the middle of one group's data.

    Parameters
    ----------
    ra_deg, dec_deg : float
        J2000 position of the source.
    on : datetime or str
        UTC day (or instant) from which the next transit is used.
    n_groups : int
        Groups in the sequence.
    transit_group : int, optional
        Index of the group that contains the transit (default ``n_groups // 2``).
    scale : str or SimulationScale
        Simulation scale (sets the group's data span).
    instrument : Instrument, optional
        Default: the configured instrument.

    Returns
    -------
    datetime.datetime
        UTC start of group 0.
    """
    instrument = instrument or Instrument.from_settings()
    sc = get_scale(scale)
    k = n_groups // 2 if transit_group is None else transit_group
    transit = transit_time(ra_deg, on, dec_deg=dec_deg, site=instrument.site)
    span = _n_integrations(instrument, sc) * instrument.integration_time_s
    return transit - timedelta(seconds=span / 2 + k * instrument.group_duration_s)


def default_start(
    calibrator: Calibrator | None,
    n_groups: int,
    scale: str | SimulationScale = "test",
    instrument: Instrument | None = None,
) -> datetime:
    """Start used when none is given.

    With a calibrator: its transit falls in the middle of group ``n_groups // 2`` on the
    day of :data:`DEFAULT_START`; without one: :data:`DEFAULT_START`.
    """
    if calibrator is None:
        return DEFAULT_START
    return start_for_transit(
        calibrator.ra_deg,
        DEFAULT_START.date().isoformat(),
        n_groups,
        dec_deg=calibrator.dec_deg,
        scale=scale,
        instrument=instrument,
    )


def read_flux_by_group(path: Path | str) -> dict[str, tuple[float, ...]]:
    """Read the optional ``flux_by_group`` column of a sky-model CSV.

    The column holds 1.4 GHz fluxes per group separated by ``;`` (``1.0;1.0;3.5``); an
    empty cell keeps the source's ``flux_jy``. Returns ``{}`` when there is no column.

    Raises
    ------
    SkyModelError
        If a value is not a non-negative number (the message names file, row, column).
    """
    import csv

    from contimg.science.skymodel import SkyModelError

    path = Path(path)
    out: dict[str, tuple[float, ...]] = {}
    with path.open(newline="", encoding="utf-8") as fh:
        rows = [
            (n, r)
            for n, r in enumerate(csv.reader(fh), start=1)
            if any(c.strip() for c in r) and not r[0].strip().startswith("#")
        ]
    if not rows:
        return out
    header = [c.strip().lower() for c in rows[0][1]]
    if "flux_by_group" not in header or "name" not in header:
        return out
    i_name, i_flux = header.index("name"), header.index("flux_by_group")
    for rowno, row in rows[1:]:
        cell = row[i_flux].strip() if i_flux < len(row) else ""
        if not cell:
            continue
        try:
            values = tuple(float(v) for v in cell.split(";") if v.strip())
        except ValueError:
            raise SkyModelError(
                f"{path} row {rowno} column 'flux_by_group': not a ';'-separated list of "
                f"numbers: {cell!r}"
            ) from None
        if any(not np.isfinite(v) or v < 0 for v in values):
            raise SkyModelError(
                f"{path} row {rowno} column 'flux_by_group': negative or non-finite: {cell!r}"
            )
        out[row[i_name].strip()] = values
    return out


def strip_sky(
    n: int,
    start: datetime | str,
    n_groups: int,
    dec_deg: float,
    *,
    seed: int = 0,
    margin_deg: float = 2.5,
    instrument: Instrument | None = None,
    **kwargs: Any,
) -> SkyModel:
    """Random point sources along the strip the groups will drift over (seeded).

    RA spans the meridian's (apparent) RA over the groups, plus ``margin_deg`` on either
    side; Dec spans ``dec_deg +- margin_deg``. Extra keyword arguments go to
    :func:`contimg.science.skymodel.random_sky` (flux limits, spectral indices).
    """
    from pyuvdata.utils.times import get_lst_for_time

    instrument = instrument or Instrument.from_settings()
    t0 = _as_utc(start)
    t1 = t0 + timedelta(seconds=n_groups * instrument.group_duration_s)
    lst = np.rad2deg(
        get_lst_for_time(
            np.array([_jd(t0), _jd(t1)]), telescope_loc=instrument.site.earth_location()
        )
    )
    span = (lst[1] - lst[0]) % 360.0
    ra_lo = lst[0] - margin_deg / np.cos(np.deg2rad(dec_deg))
    ra_hi = lst[0] + span + margin_deg / np.cos(np.deg2rad(dec_deg))
    return random_sky(
        n,
        (ra_lo % 360.0, ra_hi % 360.0),
        (dec_deg - margin_deg, dec_deg + margin_deg),
        seed=int(rng_for(seed, "sky").integers(2**31)),
        **kwargs,
    )


def _group_fluxes(
    sources: Sequence[Source], index: int, flux_by_group: FluxByGroup | None
) -> np.ndarray:
    out = np.array([s.flux_jy for s in sources], dtype=float)
    if flux_by_group is None:
        return out
    for i, s in enumerate(sources):
        if callable(flux_by_group):
            out[i] = float(flux_by_group(s, index))
        elif s.name in flux_by_group:
            seq = flux_by_group[s.name]
            if len(seq):
                out[i] = float(seq[min(index, len(seq) - 1)])
    if np.any(~np.isfinite(out)) or np.any(out < 0):
        raise ValueError(f"flux_by_group gives an invalid flux in group {index}: {out.tolist()}")
    return out


@dataclass(frozen=True, eq=False)
class _Plan:
    """Everything shared by the groups of one call."""

    instrument: Instrument
    scale: SimulationScale
    seed: int
    corruptions: Corruptions
    antennas: np.ndarray  # station numbers of the data antennas (sorted)
    positions: np.ndarray  # their positions relative to the site (ECEF axes)
    ant1: np.ndarray  # per baseline, index into antennas
    ant2: np.ndarray
    autos: np.ndarray  # baseline indices of autocorrelations
    freqs: np.ndarray  # all channels, ascending
    channels_per_subband: int
    subband_cols: dict[int, slice]  # subband -> its columns in freqs
    bandpass: np.ndarray | None  # (n_ant, n_f, 2)
    pointing_dec_rad: float
    jitter_s: float
    chunk_times: int


def _plan(
    instrument: Instrument,
    scale: SimulationScale,
    seed: int,
    corruptions: Corruptions,
    dec_deg: float,
    jitter_s: float | None,
    max_chunk_bytes: int,
    n_sources: int,
) -> _Plan:
    band = instrument.band
    antennas = np.array(
        spread_selection(instrument.layout.numbers, scale.n_antennas, scale.required_stations)
    )
    nch = scale.channels_per_subband or band.channels_per_subband
    freqs = band.band_frequencies(nch)
    cols = {k: slice(pos * nch, (pos + 1) * nch) for pos, k in enumerate(band.subbands_ascending())}
    n_ant = len(antennas)
    ant1, ant2 = np.triu_indices(n_ant)
    bandpass = None
    if corruptions.bandpass:
        edges = np.empty((len(freqs), 2))
        for k, sl in cols.items():
            edges[sl] = band.subband_edges(k)
        bandpass = corr_mod.bandpass(corruptions, seed, n_ant, freqs, edges)
    # memory per integration: two float32 (n_f, n_ant, n_ant) products, ~6 complex64
    # (n_f, n_bl) work arrays (sky, two polarizations, gain factors, noise) and the
    # per-source phase arrays (float64 turns, float32 angle/cos/sin, Z, W, Z^T: ~40 bytes)
    per_time = len(freqs) * (8 * n_ant * n_ant + 48 * len(ant1) + 40 * n_sources * n_ant)
    return _Plan(
        instrument=instrument,
        scale=scale,
        seed=seed,
        corruptions=corruptions,
        antennas=antennas,
        positions=instrument.antenna_positions(antennas),
        ant1=ant1,
        ant2=ant2,
        autos=np.flatnonzero(ant1 == ant2),
        freqs=freqs,
        channels_per_subband=nch,
        subband_cols=cols,
        bandpass=bandpass,
        pointing_dec_rad=float(np.deg2rad(dec_deg)),
        jitter_s=instrument.timestamp_jitter_s if jitter_s is None else float(jitter_s),
        chunk_times=max(1, int(max_chunk_bytes // max(per_time, 1))),
    )


def _rfi_events(plan: _Plan, index: int, n_t: int, skip: set[int]) -> list[dict[str, Any]]:
    corr = plan.corruptions
    if not corr.rfi or corr.n_rfi <= 0:
        return []
    rng = rng_for(plan.seed, "rfi", index)
    kinds = ("spike", "channel", "spike", "burst", "spike", "spike")
    subbands = [k for k in plan.subband_cols if k not in skip] or list(plan.subband_cols)
    events = []
    for e in range(corr.n_rfi):
        kind = kinds[e % len(kinds)]
        sb = int(rng.choice(subbands))
        chan = int(rng.integers(plan.channels_per_subband))
        col = plan.subband_cols[sb].start + chan
        events.append(
            {
                "kind": kind,
                "subband": sb,
                "channel": None if kind == "burst" else chan,
                "freq_hz": None if kind == "burst" else float(plan.freqs[col]),
                "time_index": None if kind == "channel" else int(rng.integers(n_t)),
                "amplitude_jy": float(corr.rfi_amplitude_jy * rng.uniform(0.5, 1.5)),
                "seed": int(rng.integers(2**31)),
            }
        )
    return events


def _add_rfi(vis: np.ndarray, events: list[dict[str, Any]], plan: _Plan, t0: int, pol: int) -> None:
    """Add the RFI events falling in this chunk to one polarization, in place."""
    n_t = vis.shape[0]
    for ev in events:
        cols = (
            plan.subband_cols[ev["subband"]]
            if ev["channel"] is None
            else slice(
                plan.subband_cols[ev["subband"]].start + ev["channel"],
                plan.subband_cols[ev["subband"]].start + ev["channel"] + 1,
            )
        )
        if ev["time_index"] is None:
            times = np.arange(n_t)
        elif t0 <= ev["time_index"] < t0 + n_t:
            times = np.array([ev["time_index"] - t0])
        else:
            continue
        rng = np.random.default_rng([ev["seed"], pol, t0])
        n_f = cols.stop - cols.start
        shape = (len(times), n_f, vis.shape[2])
        amp = ev["amplitude_jy"] * rng.uniform(0.7, 1.3, shape)
        rfi = amp * np.exp(2j * np.pi * rng.uniform(0, 1, shape))
        rfi[:, :, plan.autos] = amp[:, :, plan.autos]  # power in the autocorrelations
        vis[times[:, None], np.arange(cols.start, cols.stop)[None, :]] += rfi.astype(np.complex64)


def _apply_gains(
    vis: np.ndarray, plan: _Plan, gains: np.ndarray | None, t0: int, t1: int, pol: int
) -> None:
    """Multiply ``vis[t, f, bl]`` by ``conj(G_ant1) G_ant2`` in place."""
    n_ant = len(plan.antennas)
    g = np.ones((t1 - t0, 1, n_ant), dtype=np.complex128)
    if gains is not None:
        g = g * gains[t0:t1, None, :, pol]
    if plan.bandpass is not None:
        g = g * plan.bandpass[None, :, :, pol].transpose(0, 2, 1)
    g = np.broadcast_to(g, (t1 - t0, vis.shape[1], n_ant)).astype(np.complex64)
    g_conj = np.conj(g)
    # baselines are ordered (p, q >= p) row by row: one broadcast product per row
    k = 0
    for p in range(n_ant):
        n = n_ant - p
        vis[:, :, k : k + n] *= g_conj[:, :, p : p + 1] * g[:, :, p:]
        k += n


def _noise_sigma(plan: _Plan) -> tuple[float, float] | None:
    """(sigma of each of real/imag for cross-correlations, SEFD added to autos)."""
    corr = plan.corruptions
    if not corr.noise:
        return None
    if corr.noise_sigma_jy is not None:
        return corr.noise_sigma_jy, 0.0
    sefd = corr.sefd_jy if corr.sefd_jy is not None else plan.instrument.sefd_jy
    width = plan.instrument.band.channel_width(plan.channels_per_subband)
    return sefd / np.sqrt(2.0 * width * plan.instrument.integration_time_s), sefd


def _simulate_one(
    plan: _Plan,
    outdir: Path,
    index: int,
    start: datetime,
    sources: Sequence[Source],
    calibrator: Calibrator | None,
    flux_by_group: FluxByGroup | None,
    min_apparent_flux_jy: float,
    step: Callable[[], None],
) -> SimulatedGroup:
    from pyuvdata.utils.times import get_lst_for_time

    t_begin = _time.perf_counter()
    inst, corr = plan.instrument, plan.corruptions
    n_t = _n_integrations(inst, plan.scale)
    tau = inst.integration_time_s
    times = _jd(start) + (np.arange(n_t) + 0.5) * tau / 86400.0
    location = inst.site.earth_location()
    lst = get_lst_for_time(times, telescope_loc=location)
    group_id = format_timestamp(start)

    # --- sky: per-group fluxes, geometry, cull what the beam makes negligible
    fluxes = _group_fluxes(sources, index, flux_by_group)
    ra = np.deg2rad([s.ra_deg for s in sources])
    dec = np.deg2rad([s.dec_deg for s in sources])
    alpha = np.array([s.spectral_index for s in sources])
    geom = group_geometry(ra, dec, times, lst, plan.positions, location, plan.pointing_dec_rad)
    spectra = fluxes[:, None] * (plan.freqs[None, :] / REFERENCE_FREQUENCY_HZ) ** alpha[:, None]
    amp = apparent_flux(geom, spectra, plan.freqs, inst.dish_diameter_m)
    keep = amp.max(axis=(1, 2), initial=0.0) >= min_apparent_flux_jy
    w_keep, amp_keep = geom.w_m[keep], amp[keep]

    # --- corruptions of this group
    skip = {sb for g, sb in corr.missing_subbands if g == index}
    gains = corr_mod.gains(corr, plan.seed, len(plan.antennas), times) if corr.gains else None
    noise = _noise_sigma(plan)
    rfi = _rfi_events(plan, index, n_t, skip)
    names = file_names(
        start, range(inst.band.n_subbands), plan.jitter_s, rng_for(plan.seed, "jitter", index)
    )
    to_write = {k: v for k, v in names.items() if k not in skip}
    nch = plan.channels_per_subband
    template = uvdata_template(
        inst,
        plan.antennas,
        times,
        plan.freqs[plan.subband_cols[0]],
        plan.pointing_dec_rad,
        history_line(plan.scale.name, plan.seed, start),
    )
    n_bl = len(plan.ant1)
    if not (
        np.array_equal(template.ant_1_array[:n_bl], plan.antennas[plan.ant1])
        and np.array_equal(template.ant_2_array[:n_bl], plan.antennas[plan.ant2])
    ):  # the visibility arrays are laid out in this baseline order
        raise RuntimeError("pyuvdata reordered the baselines of the template")
    writer = SubbandWriter(
        template, outdir, to_write, {k: plan.freqs[plan.subband_cols[k]] for k in to_write}
    )
    try:
        for t0 in range(0, n_t, plan.chunk_times):
            t1 = min(n_t, t0 + plan.chunk_times)
            sky = sky_chunk(w_keep[:, t0:t1], amp_keep[:, t0:t1], plan.freqs, plan.ant1, plan.ant2)
            pols = []
            for p in range(len(inst.correlations)):
                vis = sky.copy()
                if noise is not None:
                    sigma, sefd = noise
                    for t in range(t0, t1):
                        rng = np.random.default_rng([plan.seed, 3, index, t, p])
                        # interleaved float32 pairs viewed as complex64: no strided passes
                        draw = rng.standard_normal((*vis.shape[1:], 2), dtype=np.float32)
                        draw *= sigma
                        noise_c = draw.view(np.complex64)[..., 0]
                        auto = vis[t - t0][:, plan.autos].real
                        vis[t - t0] += noise_c
                        # autocorrelations: system power plus real noise of sqrt(2) sigma
                        vis[t - t0][:, plan.autos] = (
                            auto + sefd + np.sqrt(2.0) * noise_c[:, plan.autos].real
                        )
                _add_rfi(vis, rfi, plan, t0, p)
                if gains is not None or plan.bandpass is not None:
                    _apply_gains(vis, plan, gains, t0, t1, p)
                vis[:, :, plan.autos] = vis[:, :, plan.autos].real  # autos exactly real
                pols.append(vis)
            for k in writer.subbands:
                cols = plan.subband_cols[k]
                buf = np.empty((t1 - t0, n_bl, nch, len(pols)), dtype=np.complex64)
                for p, vis in enumerate(pols):
                    np.copyto(buf[..., p], vis[:, cols, :].transpose(0, 2, 1))
                writer.write(k, t0 * n_bl, buf.reshape(-1, nch, len(pols)))
            step()
        paths = writer.close()
    except BaseException:
        writer.abort()
        raise

    truncated = []
    for g, sb in corr.truncated_files:
        if g == index and sb in paths:
            kept, size = truncate(paths[sb], corr.truncate_fraction)
            truncated.append(
                {"subband": sb, "name": paths[sb].name, "kept_bytes": kept, "original_bytes": size}
            )

    # --- truth
    mid = n_t // 2
    pb_ref = apparent_flux(
        geom, np.ones((len(sources), 1)), np.array([REFERENCE_FREQUENCY_HZ]), inst.dish_diameter_m
    )[:, :, 0]
    truth_sources = []
    for i, s in enumerate(sources):
        truth_sources.append(
            {
                "name": s.name,
                "ra_deg": s.ra_deg,
                "dec_deg": s.dec_deg,
                "flux_jy": float(fluxes[i]),
                "catalog_flux_jy": s.flux_jy,
                "spectral_index": s.spectral_index,
                "is_calibrator": calibrator is not None and s.name == calibrator.name,
                "simulated": bool(keep[i]),
                "pb_mid": float(pb_ref[i, mid]),
                "apparent_flux_mid_jy": float(fluxes[i] * pb_ref[i, mid]),
                "min_offset_deg": float(np.rad2deg(geom.theta[i].min())),
            }
        )
    truncated_sb = {t["subband"] for t in truncated}
    files = [
        {
            "subband": k,
            "name": names[k],
            "status": "missing" if k in skip else ("truncated" if k in truncated_sb else "written"),
        }
        for k in range(inst.band.n_subbands)
    ]
    truth: dict[str, Any] = {
        "group_id": group_id,
        "group_index": index,
        "start_utc": start.isoformat(),
        "scale": plan.scale.name,
        "seed": plan.seed,
        "pointing_dec_deg": float(np.rad2deg(plan.pointing_dec_rad)),
        "telescope_name": inst.site.telescope_name,
        "site": {
            "latitude_deg": inst.site.latitude_deg,
            "longitude_deg": inst.site.longitude_deg,
            "altitude_m": inst.site.altitude_m,
        },
        "antenna_numbers": plan.antennas.tolist(),
        "correlations": list(inst.correlations),
        "times_jd": times.tolist(),
        "lst_rad": np.asarray(lst).tolist(),
        "integration_time_s": tau,
        "freqs_hz": plan.freqs.tolist(),
        "channel_width_hz": inst.band.channel_width(nch),
        "channels_per_subband": nch,
        "subbands_ascending": list(inst.band.subbands_ascending()),
        "files": files,
        "visibility_convention": VISIBILITY_CONVENTION,
        "gain_convention": GAIN_CONVENTION,
        "sources": truth_sources,
        "calibrator": None
        if calibrator is None
        else {
            "name": calibrator.name,
            "j2000_name": calibrator.j2000_name,
            "ra_deg": calibrator.ra_deg,
            "dec_deg": calibrator.dec_deg,
            "flux_jy": calibrator.flux_jy,
            "spectral_index": calibrator.spectral_index,
        },
        "gains": None
        if gains is None
        else complex_block(gains, ["time", "antenna", "feed"], feeds=["X", "Y"]),
        "bandpass": None
        if plan.bandpass is None
        else complex_block(plan.bandpass, ["antenna", "frequency", "feed"], feeds=["X", "Y"]),
        "noise": None
        if noise is None
        else {
            "kind": "sigma" if corr.noise_sigma_jy is not None else "sefd",
            "sefd_jy": None if corr.noise_sigma_jy is not None else noise[1],
            "sigma_jy": noise[0],
            "note": "sigma of each of real and imaginary part of a cross-correlation, added "
            "before the gains; autocorrelations get SEFD plus real noise of sqrt(2) sigma",
        },
        "rfi": [{k: v for k, v in ev.items() if k != "seed"} for ev in rfi],
        "missing_subbands": sorted(skip),
        "truncated_files": truncated,
        "corruptions": asdict(corr),
        "flux_by_group": None
        if flux_by_group is None or callable(flux_by_group)
        else {k: list(v) for k, v in flux_by_group.items()},
    }
    truth_path = write_truth(outdir / f"{group_id}_truth.json", truth)
    seconds = _time.perf_counter() - t_begin
    log.info(
        "simulate.group_written",
        group_id=group_id,
        files=len(paths),
        sources=int(keep.sum()),
        seconds=round(seconds, 2),
    )
    return SimulatedGroup(
        group_id=group_id,
        index=index,
        start=start,
        files=tuple(paths[k] for k in sorted(paths)),
        truth_path=truth_path,
        missing_subbands=tuple(sorted(skip)),
        truncated_subbands=tuple(sorted(truncated_sb)),
        seconds=seconds,
    )


def simulate_groups(
    outdir: Path | str,
    start: datetime | str | None = None,
    n_groups: int = 1,
    dec_deg: float = DEFAULT_DEC_DEG,
    sky: SkyModel | None = None,
    calibrator: str | Calibrator | None = None,
    scale: str | SimulationScale = "test",
    seed: int = 0,
    corruptions: Corruptions | None = None,
    *,
    flux_by_group: FluxByGroup | None = None,
    first_group_index: int = 0,
    instrument: Instrument | None = None,
    jitter_s: float | None = None,
    min_apparent_flux_jy: float = 1e-5,
    max_chunk_bytes: int = 512 * 2**20,
    progress: Callable[[int, int], None] | None = None,
) -> list[SimulatedGroup]:
    """Write consecutive groups of 16 DSA-110 subband files plus a truth.json each.

    Parameters
    ----------
    outdir : path
        Directory for the files (created if needed).
    start : datetime or str, optional
        UTC start of the first group's first integration. Default: with a calibrator,
        chosen so that it transits in the middle of group ``n_groups // 2`` on
        2025-10-17 (see :func:`start_for_transit`); otherwise :data:`DEFAULT_START`.
    n_groups : int
        Number of consecutive groups; group ``i`` starts ``i`` x 309.24 s (24
        integrations of 12.884902 s) after the first whatever the scale.
    dec_deg : float
        Pointing declination (beam centre on the meridian, apparent), degrees.
    sky : SkyModel, optional
        Point sources (J2000 positions, 1.4 GHz flux densities, spectral indices).
    calibrator : str or Calibrator, optional
        A built-in calibrator added to the sky at its catalogue position.
    scale : str or SimulationScale
        ``test``, ``small`` or ``full``.
    seed : int
        Seed of every random choice (gains, bandpass, noise, RFI, jitter).
    corruptions : Corruptions, optional
        What to corrupt (default: nothing).
    flux_by_group : mapping or callable, optional
        Per-group 1.4 GHz flux densities overriding the sky model's (for variability).
    first_group_index : int
        Index of the first group (for continuing a sequence: seeds, per-group fluxes
        and corruption targets use the absolute index; ``start`` is that group's).
    instrument : Instrument, optional
        Default: the configured instrument (DSA-110).
    jitter_s : float, optional
        File-name timestamp jitter (default: the instrument's).
    min_apparent_flux_jy : float
        Sources whose beam-attenuated flux never reaches this are not simulated.
    max_chunk_bytes : int
        Rough bound of the working memory (time chunking).
    progress : callable, optional
        Called as ``progress(done, total)`` after each time chunk.

    Returns
    -------
    list of SimulatedGroup
    """
    if n_groups < 1:
        raise ValueError(f"n_groups must be >= 1, got {n_groups}")
    if not -90.0 <= dec_deg <= 90.0:
        raise ValueError(f"dec_deg must be within -90..90, got {dec_deg}")
    instrument = instrument or Instrument.from_settings()
    sc = get_scale(scale)
    corruptions = corruptions or Corruptions()
    out = Path(outdir)
    out.mkdir(parents=True, exist_ok=True)
    cal = get_calibrator(calibrator) if isinstance(calibrator, str) else calibrator
    sources = list(sky.sources if sky is not None else ())
    if cal is not None and cal.name not in {s.name for s in sources}:
        sources.append(cal.to_source())
    t0 = default_start(cal, n_groups, sc, instrument) if start is None else _as_utc(start)
    plan = _plan(
        instrument, sc, seed, corruptions, dec_deg, jitter_s, max_chunk_bytes, len(sources)
    )
    n_chunks = -(-_n_integrations(instrument, sc) // plan.chunk_times)
    total, done = n_groups * n_chunks, 0

    def step() -> None:
        nonlocal done
        done += 1
        if progress is not None:
            progress(done, total)

    groups = []
    for i in range(n_groups):
        index = first_group_index + i
        g_start = t0 + timedelta(seconds=i * instrument.group_duration_s)
        groups.append(
            _simulate_one(
                plan, out, index, g_start, sources, cal, flux_by_group, min_apparent_flux_jy, step
            )
        )
    return groups
