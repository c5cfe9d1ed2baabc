"""The examples in the engine's docstrings run (and keep working)."""

from __future__ import annotations

import doctest
import importlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from contimg.config.settings import LoggingSettings, PathsSettings, Settings
from contimg.observability import configure_logging, reset_logging


@pytest.fixture
def quiet_logging(tmp_path: Path) -> Iterator[None]:
    settings = Settings(
        paths=PathsSettings(workdir=tmp_path), logging=LoggingSettings(json_file=False)
    )
    configure_logging(settings, console=False)
    yield
    reset_logging()


@pytest.mark.parametrize(
    "module", ["contimg.pipeline", "contimg.pipeline.stage", "contimg.pipeline.retry"]
)
def test_docstring_examples(module: str, quiet_logging: None) -> None:
    result = doctest.testmod(importlib.import_module(module), optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0
    assert result.failed == 0
