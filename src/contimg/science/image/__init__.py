"""Imaging: backends (WSClean, tclean), re-phasing, primary-beam correction.

Public entry point: :func:`make_image` (one MS in, :class:`ImageProducts` out). Backends are
registered in :data:`IMAGERS`.
"""

from contimg.science.image.make import IMAGERS, make_image, plan_cell
from contimg.science.image.plan import BackendImages, ImagingPlan
from contimg.science.image.products import Beam, ImageProducts, ImagingError
from contimg.science.image.rephase import field_centres, group_centre, rephase_ms

__all__ = [
    "IMAGERS",
    "BackendImages",
    "Beam",
    "ImageProducts",
    "ImagingError",
    "ImagingPlan",
    "field_centres",
    "group_centre",
    "make_image",
    "plan_cell",
    "rephase_ms",
]
