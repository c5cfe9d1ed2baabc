from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from contimg.config import ConfigError, Settings, load_settings, parse_override, section_hash


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_defaults_come_from_the_models() -> None:
    loaded = load_settings(environ={})
    assert loaded.settings.imaging.robust == 0.0
    assert loaded.settings.imaging.fov_deg == 3.5
    assert loaded.sources["imaging.niter"] == "default"
    assert loaded.settings.database_url.endswith("contimg-data/state/contimg.sqlite3")


def test_precedence_default_file_env_override(tmp_path: Path) -> None:
    toml = _write(tmp_path / "c.toml", "[imaging]\nniter = 10\nrobust = 0.5\nmgain = 0.6\n")
    env = {"CONTIMG_IMAGING__NITER": "20", "CONTIMG_IMAGING__ROBUST": "-0.5"}
    loaded = load_settings(toml, overrides=["imaging.niter=30"], environ=env)
    imaging = loaded.settings.imaging
    assert (imaging.niter, imaging.robust, imaging.mgain, imaging.fov_deg) == (30, -0.5, 0.6, 3.5)
    assert loaded.sources["imaging.niter"] == "override"
    assert loaded.sources["imaging.robust"] == "env CONTIMG_IMAGING__ROBUST"
    assert loaded.sources["imaging.mgain"] == str(toml)
    assert loaded.sources["imaging.fov_deg"] == "default"


def test_contimg_toml_in_the_current_directory_is_read() -> None:
    _write(Path("contimg.toml"), "[executor]\nkind = 'process'\n")
    assert load_settings(environ={}).settings.executor.kind == "process"


def test_invalid_value_names_key_value_and_rule(tmp_path: Path) -> None:
    toml = _write(tmp_path / "bad.toml", "[imaging]\nniter = -5\n")
    with pytest.raises(ConfigError) as info:
        load_settings(toml, environ={})
    message = str(info.value)
    assert "imaging.niter" in message
    assert "-5" in message
    assert "greater than or equal to 0" in message
    assert "\n" not in message


def test_unknown_key_and_section_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"imaging\.nitr: unknown key"):
        load_settings(overrides=["imaging.nitr=5"], environ={})
    with pytest.raises(ConfigError, match="imagin"):
        load_settings(_write(tmp_path / "x.toml", "[imagin]\nniter = 5\n"), environ={})


def test_env_value_is_validated_and_named() -> None:
    with pytest.raises(ConfigError, match="CONTIMG_EXECUTOR__KIND"):
        load_settings(environ={"CONTIMG_EXECUTOR__KIND": "threads"})


def test_missing_and_malformed_files_are_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"nope\.toml: config file not found"):
        load_settings(tmp_path / "nope.toml", environ={})
    with pytest.raises(ConfigError, match=r"broken\.toml: not valid TOML"):
        load_settings(_write(tmp_path / "broken.toml", "[imaging\n"), environ={})


def test_settings_are_frozen() -> None:
    settings = load_settings(environ={}).settings
    with pytest.raises(Exception, match="frozen"):
        settings.imaging.niter = 3  # type: ignore[misc]


@given(st.integers(min_value=0, max_value=10**6))
def test_override_round_trips_integers(value: int) -> None:
    key, parsed = parse_override(f"imaging.niter={value}")
    assert (key, parsed) == ("imaging.niter", value)


def test_override_strings_and_malformed() -> None:
    assert parse_override("imaging.backend=tclean") == ("imaging.backend", "tclean")
    with pytest.raises(ConfigError, match=r"section\.key=value"):
        parse_override("niter=5")


def test_section_hash_changes_with_values() -> None:
    base = Settings().imaging
    assert section_hash(base) == section_hash(Settings().imaging)
    assert section_hash(base) != section_hash(base.model_copy(update={"niter": 1}))


def test_paths_are_absolute_under_the_workdir(tmp_path: Path) -> None:
    settings = load_settings(overrides={"paths.workdir": str(tmp_path)}, environ={}).settings
    settings.paths.ensure()
    for name in ("incoming", "ms", "caltables", "images", "mosaics", "state", "logs", "scratch"):
        assert (tmp_path / name).is_dir()
    assert settings.paths.ms_dir == tmp_path / "ms"
