"""Session fixtures: one simulated group (simulator + converter), imaged once per backend.

The group is the real chain's product: ``simulate_groups`` writes the 16 UVH5 subband files
from a known sky, ``convert_group`` (fast writer) makes the MS with one FIELD per integration
phased to its meridian. The array is a test-size subset whose Briggs-0 beam (~60" x 40") is
close to the full array's 56" x 38", so the images have the real pixel scale at few pixels.
"""

from __future__ import annotations

from pathlib import Path

import astropy.units as u
import numpy as np
import pytest
from astropy.coordinates import AltAz, SkyCoord
from astropy.time import Time

from contimg.config.settings import ConversionSettings, ImagingSettings
from contimg.instrument.site import Site
from contimg.science.convert import convert_group
from contimg.science.image import ImageProducts, make_image
from contimg.science.simulate import DEFAULT_START, Corruptions, SimulationScale, simulate_groups
from contimg.science.skymodel import SkyModel, Source
from contimg.science.sources import FoundSource, ReferenceSource, find_sources

DEC = 54.57
# 24 antennas, 2 channels per subband, 4 integrations; the far outriggers the spread selection
# adds are flagged after conversion so the beam is core dominated as in the full array.
SCALE = SimulationScale("imaging-test", 24, (103, 104, 116), 2, 4)
FLAGGED_STATIONS = ("DSA-105", "DSA-110", "DSA-117")
# Test-scale imaging: a 3 deg field at the auto cell (~1/5 beam), converged clean.
PARAMS = ImagingSettings(fov_deg=3.0, niter=5000, qa_max_rms_jy=0.02, qa_min_dynamic_range=50)


def _meridian_icrs() -> tuple[float, float]:
    """ICRS position of the apparent meridian at the pointing dec, mid-group."""
    mid = Time(DEFAULT_START) + 26 * u.s
    site = Site.from_settings().earth_location()
    alt = 90.0 - (DEC - site.lat.deg)
    icrs = SkyCoord(AltAz(az=0 * u.deg, alt=alt * u.deg, obstime=mid, location=site)).icrs
    return float(icrs.ra.deg), float(icrs.dec.deg)


_RA0, _DEC0 = _meridian_icrs()
# Truth: one source near the centre, three off axis (b is well off axis: beam ~0.6).
SKY = SkyModel(
    (
        Source("a", _RA0 + 0.03, _DEC0 + 0.03, 3.0),
        Source("b", _RA0 + 0.30, _DEC0 + 1.15, 2.0, -0.7),
        Source("c", _RA0 - 1.00, _DEC0 - 0.60, 1.5),
        Source("d", _RA0 + 0.90, _DEC0 - 0.15, 1.0),
    )
)


def reference() -> list[ReferenceSource]:
    return [ReferenceSource(s.name, s.ra_deg, s.dec_deg, s.flux_jy, s.spectral_index) for s in SKY]


@pytest.fixture(scope="session")
def group_ms(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A converted group: four FIELDs, each phased to its own meridian."""
    root = tmp_path_factory.mktemp("group")
    (group,) = simulate_groups(
        root / "incoming",
        dec_deg=DEC,
        sky=SKY,
        scale=SCALE,
        seed=7,
        corruptions=Corruptions(noise=True),
    )
    converted = convert_group(
        group.files, root / "ms", root / "scratch", ConversionSettings(writer="fast")
    )
    _flag_stations(converted.path, FLAGGED_STATIONS)
    return converted.path


def _flag_stations(ms: Path, names: tuple[str, ...]) -> None:
    from casacore.tables import table

    with table(str(ms / "ANTENNA"), ack=False) as ant:
        index = [i for i, n in enumerate(ant.getcol("NAME")) if n in names]
    with table(str(ms), ack=False, readonly=False) as t:
        a1, a2 = t.getcol("ANTENNA1"), t.getcol("ANTENNA2")
        rows = np.isin(a1, index) | np.isin(a2, index)
        flag = t.getcol("FLAG")
        flag[rows] = True
        t.putcol("FLAG", flag)
        t.putcol("FLAG_ROW", t.getcol("FLAG_ROW") | rows)


@pytest.fixture(scope="session")
def wsclean_products(group_ms: Path, tmp_path_factory: pytest.TempPathFactory) -> ImageProducts:
    out = tmp_path_factory.mktemp("images-wsclean")
    return make_image(group_ms, out, PARAMS, calibration_set="none")


@pytest.fixture(scope="session")
def wsclean_sources(wsclean_products: ImageProducts) -> list[FoundSource]:
    return find_sources(wsclean_products.image, pb_image=wsclean_products.pb, pb_limit=0.2)


# The backend comparison: a smaller field (tclean with w-projection is slow) at one fixed cell.
# Both restore with one fixed beam, so restored brightness compares like with like (their own
# PSF fits to this sparse array's PSF differ by tens of percent in the minor axis).
AGREEMENT_PARAMS = PARAMS.model_copy(
    update={"fov_deg": 1.6, "cell_arcsec": 6.0, "restoring_beam_arcsec": (60.0, 40.0, 0.0)}
)


@pytest.fixture(scope="session")
def backend_pair(
    group_ms: Path, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, ImageProducts]:
    out = tmp_path_factory.mktemp("images-pair")
    return {
        backend: make_image(
            group_ms,
            out / backend,
            AGREEMENT_PARAMS.model_copy(update={"backend": backend}),
        )
        for backend in ("wsclean", "tclean")
    }
