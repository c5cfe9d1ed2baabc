"""The ``pyuvdata`` writer: the reference path (read + combine + phase + ``write_ms``).

Slow but independent of our own MS code: pyuvdata reads and combines the subbands, we stamp the
same telescope identity and stations, pyuvdata phases each integration to the same ICRS centre
the fast writer uses, and ``write_ms`` writes (it conjugates DATA and negates UVW itself).
"""

from __future__ import annotations

import warnings

import numpy as np

from contimg.science.convert._request import WriteRequest

__all__ = ["write_pyuvdata"]


def write_pyuvdata(req: WriteRequest) -> None:
    """Write the group as one Measurement Set with pyuvdata.

    Parameters
    ----------
    req : WriteRequest
        Group plan, phasing, layout, antenna ids, output path and options.
    """
    from pyuvdata import UVData

    plan, phasing, layout = req.plan, req.phasing, req.layout
    uvd = UVData()
    present = [str(s.path) for s in plan.present]
    with warnings.catch_warnings():
        # the files' OVRO_MMA name differs from the location they carry: expected, restamped below
        warnings.simplefilter("ignore")
        uvd.read(present, file_type="uvh5", run_check=False, axis="freq")
    uvd.flex_spw_id_array = np.zeros(uvd.Nfreqs, dtype=int)
    uvd.spw_array = np.array([0])
    uvd.Nspws = 1
    for slot in plan.slots:
        if slot.path is None:  # a flagged gap with continued frequencies
            gap = uvd.select(freq_chans=np.arange(slot.n_chan), inplace=False)
            gap.freq_array = plan.freqs_hz[slot.chan_start : slot.chan_start + slot.n_chan].copy()
            gap.data_array[:] = 0
            gap.flag_array[:] = True
            uvd.__iadd__(gap, run_check=False)
    uvd.reorder_freqs(channel_order="freq", run_check=False)
    # telescope identity and stations (MS antenna id = station index)
    tel = uvd.telescope
    tel.name = layout.telescope_name
    tel.location = layout.location
    tel.antenna_names = list(layout.names)
    tel.antenna_numbers = layout.numbers.astype(int)
    tel.antenna_positions = layout.positions.copy()
    tel.antenna_diameters = np.full(layout.n_ant, layout.diameter_m)
    tel.mount_type = [layout.mount] * layout.n_ant
    tel.Nants = layout.n_ant
    tel.feed_array = np.tile(["x", "y"], (layout.n_ant, 1))
    tel.feed_angle = np.tile([np.pi / 2, 0.0], (layout.n_ant, 1))
    tel.Nfeeds = 2
    uvd.ant_1_array = req.ant1.astype(int)
    uvd.ant_2_array = req.ant2.astype(int)
    uvd.baseline_array = uvd.antnums_to_baseline(uvd.ant_1_array, uvd.ant_2_array)
    uvd.set_lsts_from_time_array()
    for i, t in enumerate(phasing.times_jd):
        uvd.phase(
            ra=float(phasing.ra_icrs[i]),
            dec=float(phasing.dec_icrs[i]),
            epoch="J2000",
            phase_frame="icrs",
            cat_name=phasing.names[i],
            select_mask=uvd.time_array == t,
        )
    uvd.history = req.history
    with warnings.catch_warnings():
        # "units of the data are uncalib": true and intended before calibration
        warnings.filterwarnings("ignore", message="Writing in the MS file that the units")
        uvd.write_ms(str(req.out_path), run_check=False)
