"""Fixtures for the mosaic, photometry and variability tests (images from _mosaic_synth)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest


def _load_helpers() -> None:
    # pytest's importlib mode puts no test folder on sys.path; register the helper module
    # by path so the test modules can `from _mosaic_synth import ...`.
    name = "_mosaic_synth"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, Path(__file__).with_name(f"{name}.py"))
        assert spec is not None
        assert spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)


_load_helpers()

from _mosaic_synth import Strip, make_strip  # noqa: E402 - registered just above


@pytest.fixture(scope="session")
def strip(tmp_path_factory: pytest.TempPathFactory) -> Strip:
    """Four overlapping images along the +54.6 strip (session-scoped: built once)."""
    return make_strip(tmp_path_factory.mktemp("strip"), ra_first=150.0, n_images=4, seed=11)
