"""The ``fast`` writer: python-casacore tables written directly.

DATA and FLAG are fixed-shape columns in tiled storage managers whose tiles span all
channels and correlations of a run of rows, so the main table is written sequentially, one
block of rows at a time, from a reused block buffer that the loader has filled with the
phased and conjugated visibilities of all subbands (see ``_load``). WEIGHT_SPECTRUM is not
written (all samples have unit weight; WEIGHT and SIGMA carry it per row). Subtables are
written with pyuvdata's MS helpers so both writers describe the array, spectral window,
fields and sources identically.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
from astropy.time import Time

from contimg.science.convert._load import BlockPlan, SubbandSource, block_rows_for, iter_blocks
from contimg.science.convert._request import WriteRequest
from contimg.science.convert.phasing import MeridianPhasing

__all__ = ["write_fast"]

_TILE_BYTES = 1 << 20


def _main_table(path: Path, n_chan: int, n_pol: int, n_row: int):
    from casacore import tables

    desc = tables.required_ms_desc("MAIN")
    rows_per_tile = max(1, _TILE_BYTES // (n_chan * n_pol * 8))
    for key in ("ANTENNA1", "ANTENNA2", "DATA_DESC_ID", "FLAG_ROW"):
        desc[key].update(dataManagerGroup=key)
    for key in (
        "ARRAY_ID",
        "EXPOSURE",
        "FEED1",
        "FEED2",
        "FIELD_ID",
        "INTERVAL",
        "OBSERVATION_ID",
        "PROCESSOR_ID",
        "SCAN_NUMBER",
        "STATE_ID",
        "TIME",
        "TIME_CENTROID",
    ):
        desc[key].update(dataManagerType="IncrementalStMan", dataManagerGroup=key)
    desc["UVW"].update(dataManagerType="TiledColumnStMan", dataManagerGroup="TiledUVW")
    desc["FLAG_CATEGORY"].update(
        dataManagerType="TiledShapeStMan",
        dataManagerGroup="TiledFlagCategory",
        keywords={"CATEGORY": np.array("baddata")},
    )
    desc["WEIGHT"].update(
        dataManagerType="TiledColumnStMan",
        dataManagerGroup="TiledWgt",
        shape=np.array([n_pol]),
        option=5,
    )
    desc["SIGMA"].update(
        dataManagerType="TiledColumnStMan",
        dataManagerGroup="TiledSigma",
        shape=np.array([n_pol]),
        option=5,
    )
    desc["FLAG"].update(
        dataManagerType="TiledColumnStMan",
        dataManagerGroup="TiledFlag",
        shape=np.array([n_chan, n_pol]),
        option=5,
    )
    data = tables.makearrcoldesc(
        "DATA",
        0j,
        valuetype="complex",
        shape=[n_chan, n_pol],
        options=5,
        datamanagertype="TiledColumnStMan",
        datamanagergroup="TiledData",
        comment="The data column",
    )
    desc.update(tables.maketabdesc(data))
    dminfo = tables.makedminfo(desc)
    for spec in dminfo.values():
        if spec["NAME"] in ("TiledData", "TiledFlag"):
            spec["SPEC"]["DEFAULTTILESHAPE"] = np.array(
                [n_pol, n_chan, rows_per_tile], dtype=np.int32
            )
            spec["SPEC"]["MAXIMUMCACHESIZE"] = 0
    ms = tables.default_ms(str(path), desc, dminfo)
    ms.addrows(n_row)
    return ms


def write_fast(req: WriteRequest) -> None:
    """Write the group as one Measurement Set at ``req.out_path`` (which must not exist).

    Parameters
    ----------
    req : WriteRequest
        Group plan, phasing, layout, antenna ids, output path and options.
    """
    from casacore import tables
    from pyuvdata.utils.io import ms as ms_utils
    from pyuvdata.utils.pol import determine_pol_order

    plan, phasing, layout = req.plan, req.phasing, req.layout
    ant1, ant2, out_path = req.ant1, req.ant2, req.out_path
    pol_order = tuple(int(i) for i in determine_pol_order(plan.pols, order="CASA"))
    sources = tuple(
        SubbandSource(
            str(s.path),
            s.chan_start,
            s.n_chan,
            s.reverse,
            plan.freqs_hz[s.chan_start : s.chan_start + s.n_chan],
        )
        for s in plan.present
    )
    block_plan = BlockPlan(
        sources=sources,
        gaps=tuple((s.chan_start, s.n_chan) for s in plan.slots if s.path is None),
        n_chan=plan.n_chan,
        pol_order=pol_order,
        delta_w=phasing.delta_w,
        block_rows=block_rows_for(sources[0].path, plan.n_chan, plan.n_pol),
    )
    ms = _main_table(out_path, plan.n_chan, plan.n_pol, plan.n_blt)
    try:

        def put(r0: int, data: np.ndarray, flag: np.ndarray) -> None:
            ms.putcol("DATA", data, r0, data.shape[0])
            ms.putcol("FLAG", flag, r0, flag.shape[0])

        with tempfile.TemporaryDirectory(prefix="contimg-convert-", dir=req.buffer_dir) as tmp:
            iter_blocks(block_plan, plan.n_blt, put, n_workers=req.n_workers, buffer_dir=Path(tmp))
        t_unique = Time(phasing.times_jd, format="jd", scale="utc").mjd * 86400.0
        t_row = t_unique[phasing.field_index]
        ones = np.ones((plan.n_blt, plan.n_pol), dtype=np.float32)
        ms.putcol("WEIGHT", ones)
        ms.putcol("SIGMA", ones)
        ms.putcol("ANTENNA1", ant1.astype(np.int32))
        ms.putcol("ANTENNA2", ant2.astype(np.int32))
        ms.putcol("INTERVAL", plan.integration_s)
        ms.putcol("EXPOSURE", plan.integration_s)
        ms.putcol("TIME", t_row)
        ms.putcol("TIME_CENTROID", t_row)
        ms.putcol("UVW", -phasing.uvw)  # MS uvw = -pyuvdata uvw (as write_ms flips them)
        ms.putcol("FIELD_ID", phasing.field_index.astype(np.int32))
        ms.putcol("SCAN_NUMBER", (phasing.field_index + 1).astype(np.int32))
        ms.putcolkeyword("DATA", "QuantumUnits", plan.vis_units)
        ms.putkeyword("pyuvdata_flip_conj", True)
    finally:
        ms.close()

    catalog = phase_center_catalog(phasing)
    path = str(out_path)
    mid_jd = float(np.median(plan.time_jd))
    mid_mjd_s = Time(mid_jd, format="jd", scale="utc").mjd * 86400.0
    ms_utils.write_ms_antenna(
        path,
        antenna_numbers=layout.numbers,
        antenna_names=list(layout.names),
        antenna_positions=layout.positions,
        antenna_diameters=np.full(layout.n_ant, layout.diameter_m),
        antenna_mount=[layout.mount] * layout.n_ant,
        telescope_location=layout.location_xyz,
        telescope_frame="itrs",
    )
    ms_utils.write_ms_data_description(path, nspws=1)
    ms_utils.write_ms_feed(
        path,
        nfeeds=2,
        nspws=1,
        feed_array=np.tile(["x", "y"], (layout.n_ant, 1)),
        feed_angle=np.tile([np.pi / 2, 0.0], (layout.n_ant, 1)),
        antenna_numbers=layout.numbers,
        time_val=mid_mjd_s,
    )
    ms_utils.write_ms_field(path, phase_center_catalog=catalog, time_val=mid_mjd_s)
    ms_utils.write_ms_history(path, history=req.history)
    ms_utils.write_ms_observation(
        path,
        telescope_name=layout.telescope_name,
        telescope_location=layout.location_xyz,
        observer="contimg",
    )
    ms_utils.write_ms_pointing(
        path,
        max_ant=layout.n_ant - 1,
        integration_time=plan.integration_s,
        time_array=plan.time_jd,
    )
    ms_utils.write_ms_polarization(path, pol_order=list(pol_order), polarization_array=plan.pols)
    ms_utils.write_ms_source(path, time_default=mid_mjd_s, phase_center_catalog=catalog)
    ms_utils.write_ms_spectral_window(
        path,
        freq_array=plan.freqs_hz,
        channel_width=np.full(plan.n_chan, plan.chan_width_hz),
        spw_array=np.array([0]),
        id_array=np.zeros(plan.n_chan, dtype=int),
    )
    with tables.table(path + "::OBSERVATION", readonly=False, ack=False) as obs:
        t0 = Time(plan.time_jd.min(), format="jd").mjd * 86400.0 - plan.integration_s[0] / 2
        t1 = Time(plan.time_jd.max(), format="jd").mjd * 86400.0 + plan.integration_s[0] / 2
        obs.putcell("TIME_RANGE", 0, np.array([t0, t1]))


def phase_center_catalog(phasing: MeridianPhasing) -> dict[int, dict]:
    """Build the pyuvdata-style catalog of the meridian fields (one per integration)."""
    return {
        i: {
            "cat_name": name,
            "cat_type": "sidereal",
            "cat_lon": float(phasing.ra_icrs[i]),
            "cat_lat": float(phasing.dec_icrs[i]),
            "cat_frame": "icrs",
            "cat_epoch": 2000.0,
            "cat_times": None,
            "cat_pm_ra": None,
            "cat_pm_dec": None,
            "cat_vrad": None,
            "cat_dist": None,
            "info_source": "user",
        }
        for i, name in enumerate(phasing.names)
    }
