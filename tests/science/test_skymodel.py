from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from contimg.science.skymodel import (
    SkyModel,
    SkyModelError,
    Source,
    random_sky,
    read_sky_model,
    write_sky_model,
)

names = st.text(alphabet="ABCXYZ_+-0123456789", min_size=1, max_size=12)
sources = st.builds(
    Source,
    name=names,
    ra_deg=st.floats(0, 360, exclude_max=True),
    dec_deg=st.floats(-90, 90),
    flux_jy=st.floats(0, 1e4),
    spectral_index=st.floats(-3, 3),
)


@settings(max_examples=40, deadline=None)
@given(st.lists(sources, max_size=8, unique_by=lambda s: s.name))
def test_write_read_round_trip(tmp_path_factory, srcs: list[Source]) -> None:
    path = tmp_path_factory.mktemp("sky") / "sky.csv"
    write_sky_model(SkyModel(tuple(srcs)), path)
    back = read_sky_model(path)
    assert back.names == tuple(s.name for s in srcs)
    assert np.allclose(back.ra_deg, [s.ra_deg for s in srcs], atol=1e-6)
    assert np.allclose(back.dec_deg, [s.dec_deg for s in srcs], atol=1e-6)
    assert back.flux_jy.tolist() == [s.flux_jy for s in srcs]
    assert back.spectral_index.tolist() == [s.spectral_index for s in srcs]


def test_spectrum_and_extra_columns(tmp_path: Path) -> None:
    path = tmp_path / "s.csv"
    path.write_text(
        "# a comment line\nflux_jy,name,spectral_index,dec_deg,ra_deg,notes\n"
        "2.0,A,-0.7,54.5,128.7,whatever\n\n1.0,B,0,10,20,\n"
    )
    sky = read_sky_model(path)
    assert sky.names == ("A", "B")
    a = sky.get("A")
    assert a.flux_at(1.4e9) == pytest.approx(2.0)
    assert a.flux_at(2.8e9) == pytest.approx(2.0 * 2**-0.7)
    assert sky.fluxes_at(np.array([0.7e9, 1.4e9]))[1].tolist() == [1.0, 1.0]


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("name,ra_deg,dec_deg,flux_jy\nA,1,2,3\n", r"row 1: missing column\(s\) spectral_index"),
        ("name,ra_deg,dec_deg,flux_jy,spectral_index\nA,1,2,x,0\n", "row 2 column 'flux_jy'"),
        (
            "name,ra_deg,dec_deg,flux_jy,spectral_index\nA,1,95,1,0\n",
            "row 2: source 'A': column 'dec_deg'",
        ),
        (
            "name,ra_deg,dec_deg,flux_jy,spectral_index\nA,1,2,-1,0\n",
            "row 2: source 'A': column 'flux_jy'",
        ),
        ("name,ra_deg,dec_deg,flux_jy,spectral_index\nA,1,2,1\n", "row 2 column 'spectral_index'"),
        (
            "name,ra_deg,dec_deg,flux_jy,spectral_index\nA,1,2,1,0\nA,3,4,1,0\n",
            "row 3 column 'name': duplicate",
        ),
        ("", "empty file"),
    ],
)
def test_errors_name_file_row_and_column(tmp_path: Path, text: str, needle: str) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(text)
    with pytest.raises(SkyModelError, match=needle) as info:
        read_sky_model(path)
    assert "bad.csv" in str(info.value)


def test_random_sky_is_seeded_and_inside_its_box() -> None:
    a = random_sky(200, (350.0, 10.0), (50.0, 60.0), min_flux_jy=0.01, max_flux_jy=5.0, seed=4)
    b = random_sky(200, (350.0, 10.0), (50.0, 60.0), min_flux_jy=0.01, max_flux_jy=5.0, seed=4)
    assert a == b
    assert random_sky(200, (350.0, 10.0), (50.0, 60.0), seed=5) != a
    ra = a.ra_deg
    assert np.all((ra >= 350.0) | (ra <= 10.0))
    assert np.all((a.dec_deg >= 50.0) & (a.dec_deg <= 60.0))
    assert np.all((a.flux_jy >= 0.01) & (a.flux_jy <= 5.0))
    assert np.median(a.flux_jy) < 0.05  # Euclidean counts: most sources are faint
    assert len(set(a.names)) == 200
    assert all(n.startswith("SIM_J") for n in a.names)
