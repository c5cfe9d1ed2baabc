"""Reading simulated files back (pyuvdata, as the converter's reference path does)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
from pyuvdata import UVData


def read(path: Path) -> UVData:
    return UVData.from_file(str(path), file_type="uvh5")


def truth(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text())


def complex_array(block: dict[str, Any]) -> np.ndarray:
    return np.asarray(block["real"]) + 1j * np.asarray(block["imag"])
