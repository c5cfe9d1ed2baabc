"""Small DSA-110-like Measurement Sets for the imaging tests (until simulate+convert land).

Visibilities are computed unprojected (ENU frame, w to zenith) in pyuvdata's convention for
unprojected data, ``V = sum S PB exp(+2 pi i (u l + v m + w n) / lambda)`` (what its ``phase()``
inverts; note: not ``w (n - 1)``), with the Airy primary beam pointed at the meridian, then
each integration is phased to its own meridian by pyuvdata (one FIELD per integration, as the
converter writes them), or all to one common centre.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from astropy import units as u
from astropy.coordinates import AltAz, EarthLocation, SkyCoord
from astropy.time import Time
from scipy.special import j1

SITE = EarthLocation.from_geodetic(lon=-118.2817 * u.deg, lat=37.2314 * u.deg, height=1222 * u.m)
STATIONS = Path(__file__).resolve().parents[3] / "src/contimg/instrument/data"
STATIONS = STATIONS / "DSA110_Station_Coordinates.csv"
C = 299_792_458.0
INT_TIME = 12.884902


@dataclass(frozen=True)
class Source:
    """A point source: ICRS degrees, Stokes I Jy at 1.4 GHz, spectral index."""

    name: str
    ra_deg: float
    dec_deg: float
    flux_jy: float
    spectral_index: float = 0.0

    def flux_at(self, freq_hz: float | np.ndarray) -> float | np.ndarray:
        return self.flux_jy * (np.asarray(freq_hz) / 1.4e9) ** self.spectral_index


def airy(theta_rad: np.ndarray, freq_hz: float | np.ndarray, dish_m: float = 4.65) -> np.ndarray:
    x = np.pi * dish_m * np.sin(theta_rad) * np.asarray(freq_hz) / C
    with np.errstate(invalid="ignore", divide="ignore"):
        out = (2 * j1(x) / x) ** 2
    return np.where(np.abs(x) < 1e-9, 1.0, out)


def _stations() -> dict[int, tuple[float, float, float]]:
    out: dict[int, tuple[float, float, float]] = {}
    with STATIONS.open() as fh:
        for row in csv.reader(fh):
            if len(row) > 4 and row[1].startswith("DSA-") and row[2].strip():
                elev = float(row[4]) if row[4].strip() else 1182.6
                out[int(row[1][4:])] = (float(row[2]), float(row[3]), elev)
    return out


def subset_antennas() -> list[int]:
    """A 24-station subset: both arms of the core T and three near outriggers.

    Its Briggs-0 beam (about 50" x 30") is close to the full array's 56" x 38", so test images
    have the real pixel scale at a small pixel count.
    """
    core = list(range(1, 103, 5))  # 21 core stations along the T
    return [*core, 103, 104, 116]


def meridian_times(lst_mid_deg: float, ntimes: int, date: str = "2026-01-15") -> Time:
    """Integration centres around the time when LST = ``lst_mid_deg``."""
    t0 = Time(f"{date}T00:00:00", scale="utc", location=SITE)
    lst0 = t0.sidereal_time("apparent").deg
    dt_sid = ((lst_mid_deg - lst0) % 360.0) / 360.0 * 86164.0905
    mid = t0 + dt_sid * u.s
    offsets = (np.arange(ntimes) - (ntimes - 1) / 2) * INT_TIME
    return mid + offsets * u.s


def build_ms(
    path: Path,
    sources: list[Source],
    *,
    dec_deg: float,
    lst_mid_deg: float,
    ntimes: int = 4,
    nchan: int = 32,
    noise_jy: float = 0.05,
    seed: int = 1,
    common_centre: bool = False,
    flag_all: bool = False,
) -> Path:
    """Write a test MS; return its path."""
    from pyuvdata import Telescope, UVData

    rng = np.random.default_rng(seed)
    stations = _stations()
    ants = subset_antennas()
    locs = EarthLocation.from_geodetic(
        lon=[stations[a][1] for a in ants] * u.deg,
        lat=[stations[a][0] for a in ants] * u.deg,
        height=[stations[a][2] for a in ants] * u.m,
    )
    ecef = np.stack([locs.x.to_value(u.m), locs.y.to_value(u.m), locs.z.to_value(u.m)], axis=1)
    site = np.array([SITE.x.to_value(u.m), SITE.y.to_value(u.m), SITE.z.to_value(u.m)])
    telescope = Telescope.new(
        name="OVRO_MMA",
        location=SITE,
        antenna_positions=ecef - site,
        antenna_names=[f"DSA-{a:03d}" for a in ants],
        antenna_numbers=ants,
        instrument="DSA-110",
        antenna_diameters=np.full(len(ants), 4.65),
        feeds=["x", "y"],
        mount_type="alt-az",
        update_from_known=False,
    )
    times = meridian_times(lst_mid_deg, ntimes)
    f_lo, f_hi = 1311.25e6, 1498.75e6
    width = (f_hi - f_lo) / nchan
    freqs = f_lo + width * (np.arange(nchan) + 0.5)
    antpairs = [(a, b) for i, a in enumerate(ants) for b in ants[i:]]
    uvd = UVData.new(
        freq_array=freqs,
        polarization_array=["xx", "yy"],
        times=times.jd,
        telescope=telescope,
        antpairs=antpairs,
        do_blt_outer=True,
        time_axis_faster_than_bls=False,
        integration_time=INT_TIME,
        channel_width=width,
        vis_units="Jy",  # simulated sky in Jy (and pyuvdata warns on "uncalib")
        empty=True,
    )
    uvd.extra_keywords["phase_center_dec"] = float(np.deg2rad(dec_deg))
    # Unprojected uvw: ENU, w to zenith (pyuvdata's own).
    uvw = uvd.uvw_array
    coords = SkyCoord([s.ra_deg for s in sources], [s.dec_deg for s in sources], unit="deg")
    lat = SITE.lat.rad
    # ENU unit vector of the beam centre (HA=0, dec), north of zenith for DSA-110 pointings.
    pointing = np.array([0.0, np.sin(np.deg2rad(dec_deg) - lat), np.cos(np.deg2rad(dec_deg) - lat)])
    data = np.zeros((uvd.Nblts, nchan, 2), dtype=np.complex128)
    for t in times:
        aa = coords.transform_to(AltAz(obstime=t, location=SITE))
        el, az = aa.alt.rad, aa.az.rad
        lmn = np.stack([np.cos(el) * np.sin(az), np.cos(el) * np.cos(az), np.sin(el)], axis=1)
        theta = np.arccos(np.clip(lmn @ pointing, -1, 1))
        rows = np.flatnonzero(np.isclose(uvd.time_array, t.jd, atol=1e-8, rtol=0))
        for s, src in enumerate(sources):
            flux = src.flux_at(freqs) * airy(theta[s], freqs)
            # pyuvdata treats unprojected data as not fringe-stopped: V ~ exp(+2 pi i b.s / lambda)
            # (its phase() removes w_new and adds nothing back), i.e. u l + v m + w n.
            path_m = uvw[rows] @ lmn[s]
            phase = np.exp(2j * np.pi * path_m[:, None] * freqs[None, :] / C)
            data[rows, :, :] += (flux[None, :] * phase)[:, :, None]
    noise = noise_jy * (rng.standard_normal(data.shape) + 1j * rng.standard_normal(data.shape))
    auto = uvd.ant_1_array == uvd.ant_2_array
    noise[auto] = noise[auto].real
    uvd.data_array = (data + noise).astype(np.complex64)
    uvd.flag_array = np.full(data.shape, flag_all)
    uvd.nsample_array = np.ones(data.shape, dtype=np.float32)
    # Meridian at each time: apparent (HA = 0, Dec = pointing) = topocentric az 0, alt 90 - (dec
    # - lat), transformed to ICRS as the converter records it (ICRS RA differs from the LST by
    # precession since J2000: ~0.4 deg in RA at this dec).
    alt = 90.0 - (dec_deg - SITE.lat.deg)
    meridians = SkyCoord(
        AltAz(
            az=np.zeros(len(times)) * u.deg,
            alt=np.full(len(times), alt) * u.deg,
            obstime=times,
            location=SITE,
        )
    ).icrs
    if common_centre:
        mid = SkyCoord(
            AltAz(
                az=0 * u.deg,
                alt=alt * u.deg,
                obstime=times[0] + (times[-1] - times[0]) / 2,
                location=SITE,
            )
        ).icrs
        uvd.phase(ra=mid.ra.rad, dec=mid.dec.rad, cat_name="centre")
    else:
        for it, t in enumerate(times):
            mask = np.isclose(uvd.time_array, t.jd, atol=1e-8, rtol=0)
            uvd.phase(
                ra=float(meridians[it].ra.rad),
                dec=float(meridians[it].dec.rad),
                cat_name=f"meridian_{it:02d}",
                select_mask=mask,
                cleanup_old_sources=True,
            )
    uvd.write_ms(str(path), clobber=True)
    return path
