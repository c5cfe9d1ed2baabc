"""Configuration: one typed settings root, its sources and their precedence."""

from contimg.config.loader import (
    ConfigError,
    LoadedSettings,
    effective_values,
    load_settings,
    parse_override,
    reference_rows,
)
from contimg.config.settings import Settings, section_hash

__all__ = [
    "ConfigError",
    "LoadedSettings",
    "Settings",
    "effective_values",
    "load_settings",
    "parse_override",
    "reference_rows",
    "section_hash",
]
