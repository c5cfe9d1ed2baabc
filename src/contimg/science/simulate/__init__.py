"""Simulated DSA-110 data: groups of 16 UVH5 subband files with known sky and corruptions.

The visibility and gain conventions are spelled out in every group's truth.json
(:data:`VISIBILITY_CONVENTION`, :data:`GAIN_CONVENTION`).
"""

from contimg.science.simulate._corruptions import Corruptions
from contimg.science.simulate._scales import SCALES, SimulationScale, get_scale
from contimg.science.simulate._transit import transit_time
from contimg.science.simulate._truth import (
    GAIN_CONVENTION,
    TRUTH_SCHEMA,
    VISIBILITY_CONVENTION,
    GroupTruth,
    RfiEvent,
    TruthSource,
    read_truth,
)
from contimg.science.simulate.core import (
    DEFAULT_DEC_DEG,
    DEFAULT_START,
    FluxByGroup,
    SimulatedGroup,
    default_start,
    read_flux_by_group,
    simulate_groups,
    start_for_transit,
    strip_sky,
)

__all__ = [
    "DEFAULT_DEC_DEG",
    "DEFAULT_START",
    "GAIN_CONVENTION",
    "SCALES",
    "TRUTH_SCHEMA",
    "VISIBILITY_CONVENTION",
    "Corruptions",
    "FluxByGroup",
    "GroupTruth",
    "RfiEvent",
    "SimulatedGroup",
    "SimulationScale",
    "TruthSource",
    "default_start",
    "get_scale",
    "read_flux_by_group",
    "read_truth",
    "simulate_groups",
    "start_for_transit",
    "strip_sky",
    "transit_time",
]
