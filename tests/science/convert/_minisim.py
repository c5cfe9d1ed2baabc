"""A minimal DSA-110-format UVH5 writer for conversion tests (stand-in for the real simulator).

Follows the DEVPLAN file format: one file per subband, unprojected drift data, XX/YY, autos,
``extra_keywords['phase_center_dec']`` in radians, telescope OVRO_MMA at the DSA-110 site,
antenna numbers = station numbers. Visibilities are point sources without beam or gains.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from astropy import units as u
from astropy.coordinates import AltAz, EarthLocation, SkyCoord
from astropy.time import Time
from pyuvdata import Telescope, UVData

STATIONS_CSV = (
    Path(__file__).parents[3] / "src/contimg/instrument/data/DSA110_Station_Coordinates.csv"
)
SITE = EarthLocation.from_geodetic(lon=-118.2817 * u.deg, lat=37.2314 * u.deg, height=1222 * u.m)
F_TOP = 1498.75e6
SB_WIDTH = 11.71875e6
T_INT = 12.884902


@dataclass(frozen=True)
class Source:
    ra_deg: float
    dec_deg: float
    flux_jy: float


def stations() -> tuple[list[str], np.ndarray]:
    """Names and geodetic (lat, lon, alt) of all stations; missing elevation -> median."""
    names, rows = [], []
    with STATIONS_CSV.open() as fh:
        for row in csv.reader(fh):
            if len(row) > 4 and row[1].startswith("DSA-") and row[2]:
                names.append(row[1])
                rows.append([float(row[2]), float(row[3]), float(row[4]) if row[4] else np.nan])
    arr = np.array(rows)
    arr[np.isnan(arr[:, 2]), 2] = np.nanmedian(arr[:, 2])
    return names, arr


def station_ecef() -> tuple[list[str], np.ndarray]:
    names, geo = stations()
    loc = EarthLocation.from_geodetic(
        lon=geo[:, 1] * u.deg, lat=geo[:, 0] * u.deg, height=geo[:, 2] * u.m
    )
    return names, np.stack([loc.x.to_value(u.m), loc.y.to_value(u.m), loc.z.to_value(u.m)], axis=1)


def simulate_group(
    outdir: Path,
    start: str,
    *,
    dec_deg: float = 54.57,
    n_ants: int = 24,
    n_chan: int = 4,
    n_times: int = 4,
    sources: Sequence[Source] = (),
    subbands: Sequence[int] = tuple(range(16)),
    jitter_s: float = 30.0,
    seed: int = 1,
    noise_jy: float = 0.0,
) -> list[Path]:
    """Write one group's subband files and return their paths (sb order)."""
    rng = np.random.default_rng(seed)
    names, ecef = station_ecef()
    # a spread of core and outrigger stations
    pick = np.unique(
        np.concatenate([np.linspace(0, 101, n_ants - 6).astype(int), np.arange(102, 108)])
    )
    site_xyz = np.array([SITE.x.to_value(u.m), SITE.y.to_value(u.m), SITE.z.to_value(u.m)])
    ant_nums = pick + 1
    tel = Telescope.new(
        name="OVRO_MMA",
        instrument="DSA-110",
        location=SITE,
        antenna_positions=ecef[pick] - site_xyz,
        antenna_names=[names[i] for i in pick],
        antenna_numbers=ant_nums,
        antenna_diameters=np.full(pick.size, 4.65),
        mount_type="alt-az",
        feeds=["x", "y"],
        update_from_known=False,
    )
    t0 = Time(start, format="isot", scale="utc")
    jd = t0.jd + (np.arange(n_times) + 0.5) * T_INT / 86400.0
    antpairs = [(int(a), int(b)) for i, a in enumerate(ant_nums) for b in ant_nums[i:]]
    chan_w = SB_WIDTH / n_chan
    paths = []
    for sb in subbands:
        lo = F_TOP - (sb + 1) * SB_WIDTH
        freqs = lo + (np.arange(n_chan) + 0.5) * chan_w
        uvd = UVData.new(
            freq_array=freqs,
            polarization_array=np.array([-5, -6]),
            antpairs=antpairs,
            times=jd,
            telescope=tel,
            channel_width=chan_w,
            integration_time=T_INT,
            vis_units="uncalib",
            do_blt_outer=True,
            time_axis_faster_than_bls=False,
        )
        uvd.extra_keywords["phase_center_dec"] = float(np.deg2rad(dec_deg))
        data = np.zeros((uvd.Nblts, n_chan, 2), dtype=np.complex128)
        if sources:
            times = Time(uvd.time_array, format="jd")
            uvw = uvd.uvw_array
            for src in sources:
                altaz = SkyCoord(src.ra_deg * u.deg, src.dec_deg * u.deg).transform_to(
                    AltAz(obstime=times, location=SITE)
                )
                alt, az = altaz.alt.rad, altaz.az.rad
                lmn = np.stack(
                    [np.cos(alt) * np.sin(az), np.cos(alt) * np.cos(az), np.sin(alt) - 1.0], 1
                )
                phase = (
                    2j
                    * np.pi
                    * np.einsum("bk,bk->b", uvw, lmn)[:, None]
                    * freqs[None, :]
                    / 299792458.0
                )
                data += src.flux_jy * np.exp(phase)[:, :, None]
        if noise_jy:
            data += noise_jy * (
                rng.standard_normal(data.shape) + 1j * rng.standard_normal(data.shape)
            )
        uvd.data_array = data.astype(np.complex64)
        uvd.flag_array = np.zeros(data.shape, dtype=bool)
        uvd.nsample_array = np.ones(data.shape, dtype=np.float32)
        stamp = (t0 + (0 if sb == 0 else rng.uniform(-jitter_s, jitter_s)) * u.s).isot[:19]
        path = Path(outdir) / f"{stamp}_sb{sb:02d}.hdf5"
        uvd.write_uvh5(str(path), clobber=True)
        paths.append(path)
    return paths
