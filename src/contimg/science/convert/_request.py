"""What every writer receives."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from contimg.science.convert._group import GroupPlan
from contimg.science.convert.layout import MsTelescope
from contimg.science.convert.phasing import MeridianPhasing

__all__ = ["WriteRequest"]


@dataclass(frozen=True, eq=False)
class WriteRequest:
    """One group to write as one Measurement Set.

    Attributes
    ----------
    plan : GroupPlan
        Subbands, channel layout and per-row metadata.
    phasing : MeridianPhasing
        Fields, projected uvw and w-terms.
    layout : MsTelescope
        Telescope identity and stations.
    ant1, ant2 : numpy.ndarray
        MS antenna ids of each row.
    out_path : Path
        The MS to create (must not exist).
    n_workers : int
        Processes reading subbands.
    buffer_dir : Path or None
        Where large temporary buffers live (tmpfs preferred).
    history : str
        Text for the HISTORY table.
    """

    plan: GroupPlan
    phasing: MeridianPhasing
    layout: MsTelescope
    ant1: np.ndarray
    ant2: np.ndarray
    out_path: Path
    n_workers: int = 1
    buffer_dir: Path | None = None
    history: str = "contimg conversion"
