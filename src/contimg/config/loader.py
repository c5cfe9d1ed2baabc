"""Build :class:`Settings` from its sources and remember where each value came from.

Precedence, lowest first: model defaults, a TOML file, environment variables
``CONTIMG_<SECTION>__<KEY>``, then per-run overrides (``--set section.key=value``
on the command line, a request body in the API). Validation happens once, here;
its errors are one line naming the key, the value and the rule.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from contimg.config.settings import Settings

__all__ = [
    "DEFAULT_CONFIG_FILE",
    "ConfigError",
    "LoadedSettings",
    "effective_values",
    "load_settings",
    "parse_override",
    "reference_rows",
]

#: Read from the current directory when no ``--config`` is given.
DEFAULT_CONFIG_FILE = Path("contimg.toml")
_ENV_PREFIX = "CONTIMG_"


class ConfigError(ValueError):
    """A configuration value, key or file is invalid; the message names it."""


@dataclass(frozen=True)
class LoadedSettings:
    """Effective settings plus the source of every value (``section.key`` -> source)."""

    settings: Settings
    sources: Mapping[str, str]


def parse_override(text: str) -> tuple[str, Any]:
    """Parse ``section.key=value``; the value is read as a TOML literal when it is one.

    Parameters
    ----------
    text
        The override as typed, e.g. ``imaging.niter=500`` or ``imaging.backend=tclean``.

    Returns
    -------
    tuple
        The dotted key and the parsed value.
    """
    key, sep, raw = text.partition("=")
    key = key.strip()
    if not sep or key.count(".") != 1 or not all(key.split(".")):
        raise ConfigError(f"override {text!r}: expected section.key=value")
    raw = raw.strip()
    try:
        value = tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw
    return key, value


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc})") from None


def _read_env(environ: Mapping[str, str]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for name, value in environ.items():
        upper = name.upper()
        if not upper.startswith(_ENV_PREFIX) or "__" not in upper:
            continue
        section, _, key = upper[len(_ENV_PREFIX) :].partition("__")
        out.setdefault(section.lower(), {})[key.lower()] = value
    return out


def _flatten(tree: Mapping[str, Any]) -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for section, values in tree.items():
        if isinstance(values, Mapping):
            for key, value in values.items():
                flat[f"{section}.{key}"] = value
        else:
            flat[section] = values
    return flat


def _nest(flat: Mapping[str, Any]) -> dict[str, Any]:
    tree: dict[str, Any] = {}
    for dotted, value in flat.items():
        section, _, key = dotted.partition(".")
        if key:
            tree.setdefault(section, {})[key] = value
        else:
            tree[section] = value
    return tree


def _describe(exc: ValidationError, values: Mapping[str, Any], sources: Mapping[str, str]) -> str:
    err = exc.errors()[0]
    key = ".".join(str(p) for p in err["loc"])
    if err["type"] == "extra_forbidden":
        return f"{key}: unknown key (from {sources.get(key, 'input')})"
    shown = values.get(key, err.get("input"))
    where = sources.get(key)
    suffix = f" (from {where})" if where else ""
    return f"{key} = {shown!r}: {err['msg']}{suffix}"


def load_settings(
    config_file: Path | None = None,
    *,
    overrides: Iterable[str] | Mapping[str, Any] = (),
    environ: Mapping[str, str] | None = None,
) -> LoadedSettings:
    """Assemble and validate the effective settings.

    Parameters
    ----------
    config_file
        TOML file; ``None`` reads ``./contimg.toml`` when it exists.
    overrides
        ``section.key=value`` strings, or a mapping of dotted keys to values.
    environ
        Environment to read ``CONTIMG_*`` variables from (default ``os.environ``).

    Returns
    -------
    LoadedSettings
        The settings and, per dotted key, ``default``, the file, ``env CONTIMG_...``
        or ``override``.

    Raises
    ------
    ConfigError
        A file is missing or malformed, or a value breaks a rule; one line.
    """
    environ = os.environ if environ is None else environ
    layers: list[tuple[str, dict[str, Any]]] = []
    if config_file is None and DEFAULT_CONFIG_FILE.is_file():
        config_file = DEFAULT_CONFIG_FILE
    if config_file is not None:
        layers.append((str(config_file), _flatten(_read_toml(Path(config_file)))))
    env_flat = _flatten(_read_env(environ))
    if env_flat:
        layers.append(("env", env_flat))
    if isinstance(overrides, Mapping):
        over_flat = dict(overrides)
    else:
        over_flat = dict(parse_override(item) for item in overrides)
    if over_flat:
        layers.append(("override", over_flat))

    merged: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for name, flat in layers:
        for key, value in flat.items():
            merged[key] = value
            if name == "env":
                section, _, field = key.partition(".")
                sources[key] = f"env {_ENV_PREFIX}{section.upper()}__{field.upper()}"
            else:
                sources[key] = name
    try:
        settings = Settings.model_validate(_nest(merged))
    except ValidationError as exc:
        raise ConfigError(_describe(exc, merged, sources)) from None
    for key in _flatten(settings.model_dump()):
        sources.setdefault(key, "default")
    return LoadedSettings(settings=settings, sources=sources)


def effective_values(settings: Settings) -> dict[str, Any]:
    """Every ``section.key`` with its JSON-ready value, in model order."""
    return _flatten(settings.model_dump(mode="json"))


def _type_name(annotation: Any) -> str:
    text = str(annotation) if "[" in str(annotation) else getattr(annotation, "__name__", "")
    return (text or str(annotation)).replace("typing.", "").replace("pathlib.", "")


def reference_rows() -> list[tuple[str, str, str, str]]:
    """Rows ``(key, type, default, description)`` for every setting, from the models."""
    rows: list[tuple[str, str, str, str]] = []
    for section_name, section_field in Settings.model_fields.items():
        model = section_field.annotation
        if not (isinstance(model, type) and issubclass(model, BaseModel)):
            raise TypeError(f"settings section {section_name!r} is not a model")
        for key, field in model.model_fields.items():
            default = field.default
            shown = "" if default is None else str(getattr(default, "value", default))
            rows.append(
                (
                    f"{section_name}.{key}",
                    _type_name(field.annotation),
                    shown,
                    field.description or "",
                )
            )
    return rows
