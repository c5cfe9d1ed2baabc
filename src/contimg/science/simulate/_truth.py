"""The ``<group_id>_truth.json`` written beside each simulated group."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["GAIN_CONVENTION", "TRUTH_SCHEMA", "VISIBILITY_CONVENTION", "write_truth"]

#: Version of the truth.json layout.
TRUTH_SCHEMA = 1

VISIBILITY_CONVENTION = (
    "pyuvdata unprojected: V_pq(t, nu) = sum_s S_s(nu) PB(theta_s(t), nu) "
    "exp(+2 pi i (u l + v m + w n)), (u, v, w) = ENU baseline x_q - x_p in wavelengths, "
    "p = ant_1, q = ant_2, (l, m, n) the apparent (of date) direction of the source; "
    "pyuvdata phase() to a source leaves it with zero phase. XX = YY = Stokes I."
)

GAIN_CONVENTION = (
    "data (pyuvdata/UVH5) = conj(G_p) G_q (V_sky + noise + rfi), p = ant_1, q = ant_2, "
    "G_p(t, nu, feed) = gains[t][p][feed] * bandpass[p][nu][feed] (XX uses feed X, YY feed Y). "
    "A Measurement Set written from these files (pyuvdata write_ms, or contimg's fast writer) "
    "stores the conjugate, G_p conj(G_q) conj(V): CASA's V_ij = g_i g_j^* M_ij with g = G "
    "exactly as written here (amplitudes and phases, before referencing to a refant)."
)


def _round(a: np.ndarray, digits: int = 9) -> list[Any]:
    return np.round(np.asarray(a, dtype=float), digits).tolist()


def complex_block(a: np.ndarray, axes: list[str], **extra: Any) -> dict[str, Any]:
    """JSON form of a complex array: real and imaginary parts as nested lists."""
    return {"axes": axes, **extra, "real": _round(a.real), "imag": _round(a.imag)}


def write_truth(path: Path, truth: dict[str, Any]) -> Path:
    """Write truth JSON atomically (temporary name, then rename)."""
    tmp = path.with_name(f".{path.name}.partial")
    # compact: the C encoder is ~10x faster than indented output (full-scale bandpasses)
    text = json.dumps({"schema": TRUTH_SCHEMA, **truth}, separators=(",", ":"))
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
    return path
