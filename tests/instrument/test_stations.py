from pathlib import Path

import numpy as np
import pytest
from structlog.testing import capture_logs

from contimg.config.settings import InstrumentSettings
from contimg.instrument import (
    Instrument,
    StationFileError,
    geodetic_to_itrf,
    load_layout,
    spread_selection,
)
from contimg.instrument.stations import _packaged_layout

WGS84_A = 6_378_137.0
WGS84_B = 6_356_752.314245


def test_dsa110_layout_has_117_stations_near_ellipsoid() -> None:
    layout = load_layout()
    assert len(layout) == 117
    assert layout.numbers.tolist() == list(range(1, 118))
    assert layout.names[0] == "DSA-001"
    assert layout.names[-1] == "DSA-117"
    lat = np.deg2rad(layout.latitude_deg)
    # geocentric radius of the ellipsoid at that latitude plus the height
    r_ell = np.sqrt(
        ((WGS84_A**2 * np.cos(lat)) ** 2 + (WGS84_B**2 * np.sin(lat)) ** 2)
        / ((WGS84_A * np.cos(lat)) ** 2 + (WGS84_B * np.sin(lat)) ** 2)
    )
    r = np.linalg.norm(layout.itrf_m, axis=1)
    assert np.all(np.abs(r - r_ell - layout.elevation_m) < 0.5)
    # longest baseline of DSA-110 is ~2.6 km; the core is within ~1 km
    d = np.linalg.norm(layout.itrf_m[:, None] - layout.itrf_m[None], axis=-1)
    assert 2000 < d.max() < 3000
    assert d[:102, :102].max() < 1000


def test_dsa117_missing_elevation_filled_with_median_and_warned() -> None:
    _packaged_layout.cache_clear()  # the packaged file is parsed once per process
    with capture_logs() as logs:
        layout = load_layout()
    events = [e for e in logs if e["event"] == "stations.elevation_filled"]
    assert len(events) == 1
    assert events[0]["log_level"] == "warning"
    assert events[0]["stations"] == ["DSA-117"]
    median = float(np.median(layout.elevation_m[:-1]))
    assert layout.elevation_m[-1] == pytest.approx(median)
    assert events[0]["elevation_m"] == pytest.approx(median)


def test_other_layout_file_via_settings(tmp_path: Path) -> None:
    csv = tmp_path / "tiny.csv"
    csv.write_text(
        "My array,,\n\nName,Latitude,Longitude,Elevation (m)\n"
        "ANT-1,10.0,20.0,100\nANT-2,10.001,20.0,101\nANT-7,10.0,20.001,99\n"
    )
    inst = Instrument.from_settings(
        InstrumentSettings(station_file=csv, site_latitude_deg=10.0, site_longitude_deg=20.0)
    )
    assert inst.layout.numbers.tolist() == [1, 2, 7]
    expected = geodetic_to_itrf(10.001, 20.0, 101) - geodetic_to_itrf(10.0, 20.0, 100)
    rel = inst.antenna_positions([1, 2])
    assert np.allclose(rel[1] - rel[0], expected, atol=1e-6)
    assert 110 < np.linalg.norm(expected) < 112  # 0.001 deg of latitude


def test_bad_station_file_names_file_row_and_column(tmp_path: Path) -> None:
    csv = tmp_path / "bad.csv"
    csv.write_text("Station,Latitude,Longitude,Elevation\nA-1,10,20,5\nA-2,north,20,5\n")
    with pytest.raises(StationFileError, match=r"bad\.csv row 3 column 'Latitude'.*'north'"):
        load_layout(csv)
    with pytest.raises(StationFileError, match=r"missing\.csv"):
        load_layout(tmp_path / "missing.csv")


def test_spread_selection_keeps_required_and_spreads_the_rest() -> None:
    numbers = list(range(1, 118))
    chosen = spread_selection(numbers, 24, (103, 104, 106))
    assert len(chosen) == 24
    assert {103, 104, 106} <= set(chosen)
    assert spread_selection(numbers, 200) == tuple(numbers)
