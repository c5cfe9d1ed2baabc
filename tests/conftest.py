"""Suite-wide fixtures: every test sees a clean configuration environment."""

from __future__ import annotations

import os
from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def _isolated_config(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Drop ``CONTIMG_*`` variables and run from an empty directory (no stray contimg.toml)."""
    for name in list(os.environ):
        if name.upper().startswith("CONTIMG_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
