"""Meridian phasing of drift-scan data: one phase centre per integration.

Each integration is phased to the meridian at its own time: apparent RA = LAST(t), apparent
Dec = the pointing declination. The field is recorded in ICRS (J2000), obtained by transforming
that apparent position back with pyuvdata's own routines, and the projection (apparent position,
frame position angle, uvw, w-term) is then computed exactly as :meth:`pyuvdata.UVData.phase`
does for that ICRS position, so the fast writer and the pyuvdata reference agree to rounding.

The visibilities are *rotated*, not only relabelled: phasing multiplies each sample by
``exp(-2 pi i w_new nu / c)``. The files are in pyuvdata's "unprojected" convention
(``V = sum S exp(+2 pi i (u l + v m + w n))``, no w-term removed; the simulator's truth.json
states it), so the old w-term is zero, exactly as :meth:`pyuvdata.UVData.phase` assumes.
(DEVPLAN's format text writes ``w (n - 1)``; real DSA-110 files and the simulator follow
pyuvdata, and a file in the ``n - 1`` form would differ by ``exp(2 pi i w_zenith nu / c)``.)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from astropy.coordinates import EarthLocation
from astropy.time import Time

__all__ = ["MeridianPhasing", "field_name", "meridian_phasing", "rotate_and_conjugate"]

_C = 299792458.0


@dataclass(frozen=True, eq=False)
class MeridianPhasing:
    """Phase centres and projected coordinates of a group.

    Attributes
    ----------
    times_jd : numpy.ndarray
        Unique integration centres (JD UTC), shape (n_field,).
    ra_icrs, dec_icrs : numpy.ndarray
        ICRS phase centre of each integration, radians, shape (n_field,).
    lst : numpy.ndarray
        Local apparent sidereal time of each integration, radians.
    field_index : numpy.ndarray
        Field (integration) index of each row, shape (n_blt,).
    uvw : numpy.ndarray
        Projected uvw of each row in pyuvdata's convention (metres), shape (n_blt, 3).
    delta_w : numpy.ndarray
        w-term each row is rotated by (metres): the new w (unprojected data have none).
    names : tuple of str
        Field names (they carry the integration time).
    """

    times_jd: np.ndarray
    ra_icrs: np.ndarray
    dec_icrs: np.ndarray
    lst: np.ndarray
    field_index: np.ndarray
    uvw: np.ndarray
    delta_w: np.ndarray
    names: tuple[str, ...]


def field_name(time_jd: float) -> str:
    """Name of the meridian field of one integration, e.g. ``meridian_2026-01-01T00:00:06.4``."""
    return "meridian_" + Time(time_jd, format="jd", scale="utc").isot[:21]


def meridian_phasing(
    *,
    time_jd: np.ndarray,
    ant1: np.ndarray,
    ant2: np.ndarray,
    dec_rad: float,
    location: EarthLocation,
    antenna_numbers: np.ndarray,
    antenna_positions: np.ndarray,
) -> MeridianPhasing:
    """Compute phase centres, projected uvw and w-terms for meridian phasing.

    Parameters
    ----------
    time_jd : numpy.ndarray
        Time of each row, JD UTC.
    ant1, ant2 : numpy.ndarray
        Antenna numbers of each row (indices into ``antenna_numbers``' numbering).
    dec_rad : float
        Pointing declination (apparent), radians.
    location : astropy.coordinates.EarthLocation
        Array reference position.
    antenna_numbers : numpy.ndarray
        Antenna numbers of ``antenna_positions``' rows.
    antenna_positions : numpy.ndarray
        ECEF positions relative to ``location``, metres, shape (n_ant, 3).

    Returns
    -------
    MeridianPhasing
        Per-integration fields and per-row projected coordinates.
    """
    from pyuvdata.utils import phasing as phs
    from pyuvdata.utils.times import get_lst_for_time

    times, field_index = np.unique(time_jd, return_inverse=True)
    lst = np.asarray(get_lst_for_time(jd_array=times, telescope_loc=location), dtype=np.float64)
    ra_icrs, dec_icrs = phs.transform_app_to_icrs(
        time_array=times,
        app_ra=lst,
        app_dec=np.full(times.shape, dec_rad),
        telescope_loc=location,
    )
    ra_icrs = np.mod(np.asarray(ra_icrs, dtype=np.float64), 2 * np.pi)
    dec_icrs = np.asarray(dec_icrs, dtype=np.float64)
    # As UVData.phase does for a sidereal ICRS centre, integration by integration.
    app_ra = np.empty(times.size)
    app_dec = np.empty(times.size)
    frame_pa = np.empty(times.size)
    for i, t in enumerate(times):
        ara, adec = phs.calc_app_coords(
            lon_coord=ra_icrs[i],
            lat_coord=dec_icrs[i],
            coord_frame="icrs",
            coord_epoch=2000.0,
            coord_type="sidereal",
            time_array=np.array([t]),
            lst_array=lst[i : i + 1],
            telescope_loc=location,
        )
        pa = phs.calc_frame_pos_angle(
            time_array=np.array([t]),
            app_ra=ara,
            app_dec=adec,
            telescope_loc=location,
            ref_frame="icrs",
            ref_epoch="J2000",
        )
        app_ra[i], app_dec[i], frame_pa[i] = ara[0], adec[0], pa[0]
    uvw = phs.calc_uvw(
        app_ra=app_ra[field_index],
        app_dec=app_dec[field_index],
        frame_pa=frame_pa[field_index],
        lst_array=lst[field_index],
        use_ant_pos=True,
        antenna_positions=antenna_positions,
        antenna_numbers=antenna_numbers,
        ant_1_array=ant1,
        ant_2_array=ant2,
        telescope_lat=location.lat.rad,
        telescope_lon=location.lon.rad,
    )
    return MeridianPhasing(
        times_jd=times,
        ra_icrs=ra_icrs,
        dec_icrs=dec_icrs,
        lst=lst,
        field_index=field_index,
        uvw=np.asarray(uvw, dtype=np.float64),
        delta_w=np.asarray(uvw[:, 2], dtype=np.float64),
        names=tuple(field_name(t) for t in times),
    )


def rotate_and_conjugate(data: np.ndarray, delta_w: np.ndarray, freqs_hz: np.ndarray) -> None:
    """Phase ``data`` in place and conjugate it into the MS convention.

    ``data[r, c, :] <- conj(data[r, c, :] * exp(-2 pi i delta_w[r] freqs_hz[c] / c))``.
    The phasor of evenly spaced channels is built as a running product (one complex multiply
    per sample instead of one ``exp``), in float64, before the float32 data are touched.

    Parameters
    ----------
    data : numpy.ndarray
        complex64 visibilities, shape (n_row, n_chan, n_pol); modified in place.
    delta_w : numpy.ndarray
        w-term of each row, metres, shape (n_row,).
    freqs_hz : numpy.ndarray
        Channel centres of ``data``'s channels, shape (n_chan,).
    """
    # conj(d * exp(-i k f)) = conj(d) * exp(+i k f): build the conjugate phasor directly
    k = (2.0 * np.pi / _C) * delta_w
    steps = np.diff(freqs_hz)
    if freqs_hz.size > 2 and np.allclose(steps, steps[0], rtol=1e-9, atol=0):
        factor = np.empty((delta_w.size, freqs_hz.size), dtype=np.complex128)
        factor[:, 0] = np.exp(1j * k * freqs_hz[0])
        factor[:, 1:] = np.exp(1j * k * steps[0])[:, None]
        np.cumprod(factor, axis=1, out=factor)
    else:
        factor = np.exp(1j * np.outer(k, freqs_hz))
    # The product in complex64 differs from pyuvdata's complex128 product only in the last bit.
    np.conjugate(data, out=data)
    data *= factor.astype(np.complex64)[:, :, None]
