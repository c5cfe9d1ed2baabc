import os
from pathlib import Path

import pytest

from contimg.science.casa_env import (
    casa_scratch,
    ensure_casa_environment,
    write_casa_site_config,
)


def test_site_config_is_offline_and_idempotent(tmp_path: Path) -> None:
    first = write_casa_site_config(tmp_dir=tmp_path)
    second = write_casa_site_config(tmp_dir=tmp_path)
    assert first == second
    assert first.is_absolute()
    text = first.read_text()
    assert "measures_auto_update = False" in text
    assert "data_auto_update = False" in text
    assert f"logfile = {os.devnull!r}" in text
    namespace: dict[str, object] = {}
    exec(compile(text, str(first), "exec"), namespace)
    assert Path(str(namespace["measurespath"]), "geodetic").is_dir()


def test_log_dir_routes_casa_log(tmp_path: Path) -> None:
    path = write_casa_site_config(log_dir=tmp_path / "logs", tmp_dir=tmp_path / "cfg")
    assert f"logfile = {str(tmp_path / 'logs' / 'casa.log')!r}" in path.read_text()
    assert (tmp_path / "logs").is_dir()


@pytest.mark.casa
def test_environment_points_casa_at_the_config() -> None:
    path = ensure_casa_environment()
    assert os.environ["CASASITECONFIG"] == str(path)
    assert ensure_casa_environment() == path  # idempotent
    import casatools  # the config in force is the one CASA read

    assert casatools.version_string().startswith("6.")
    assert ensure_casa_environment() == path


def test_scratch_removed_on_failure(tmp_path: Path) -> None:
    cwd = Path.cwd()
    seen: list[Path] = []

    def fail() -> None:
        with casa_scratch(tmp_path) as scratch:
            seen.append(scratch)
            (scratch / "TempLattice1").write_text("x")
            assert Path.cwd() == scratch
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        fail()
    assert Path.cwd() == cwd
    assert not seen[0].exists()
