"""Values between stages: JSON codec, paths inside values, input fingerprints.

Stage values are immutable typed Python values (primitives, :class:`~pathlib.Path`,
frozen dataclasses, NamedTuples, pydantic models, tuples of those). The state
store keeps them as JSON; a pydantic :class:`~pydantic.TypeAdapter` of the
declared type turns them into JSON and back, so a resumed run gets a ``Path``
back where a ``Path`` was produced. An undeclared type (``Any``) still encodes,
but decodes to plain JSON values.
"""

from __future__ import annotations

import dataclasses
import functools
import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, TypeAdapter

__all__ = ["decode", "encode", "fingerprint", "iter_paths", "path_bytes", "total_bytes"]


@functools.lru_cache(maxsize=512)
def _adapter(tp: Any) -> TypeAdapter[Any]:
    return TypeAdapter(tp)


def _adapter_for(tp: Any) -> TypeAdapter[Any]:
    try:
        return _adapter(tp)
    except TypeError:  # an unhashable annotation: build one each time (rare)
        return TypeAdapter(tp)


def encode(value: Any, tp: Any = Any) -> Any:
    """Return ``value`` as JSON-ready data according to its declared type ``tp``."""
    if value is None or isinstance(value, str | int | float | bool):
        return value  # the common case, without a pydantic round trip
    return _adapter_for(tp).dump_python(value, mode="json")


def decode(data: Any, tp: Any = Any) -> Any:
    """Rebuild a value of declared type ``tp`` from what :func:`encode` returned."""
    if tp is Any:
        return data
    return _adapter_for(tp).validate_python(data)


def iter_paths(value: Any) -> Iterator[Path]:
    """Yield every :class:`~pathlib.Path` inside a value (dataclasses, tuples, mappings...)."""
    if isinstance(value, Path):
        yield value
    elif value is None or isinstance(value, str | int | float | bool | bytes):
        return
    elif dataclasses.is_dataclass(value) and not isinstance(value, type):
        for f in dataclasses.fields(value):
            yield from iter_paths(getattr(value, f.name))
    elif isinstance(value, BaseModel):
        for name in type(value).model_fields:
            yield from iter_paths(getattr(value, name))
    elif isinstance(value, Mapping):
        for item in value.values():
            yield from iter_paths(item)
    elif isinstance(value, tuple | list | set | frozenset):
        for item in value:
            yield from iter_paths(item)


def _stat_tree(path: Path) -> tuple[int, int]:
    """Return (total bytes, newest mtime in ns) of a file or directory tree; (0, 0) if absent."""
    try:
        st = path.stat()
    except OSError:
        return 0, 0
    if not path.is_dir():
        return st.st_size, st.st_mtime_ns
    size, mtime = 0, st.st_mtime_ns
    for root, _dirs, files in os.walk(path):
        for name in files:
            try:
                fst = os.stat(os.path.join(root, name))
            except OSError:  # vanished while we walked: it no longer counts
                continue
            size += fst.st_size
            mtime = max(mtime, fst.st_mtime_ns)
    return size, mtime


def path_bytes(path: Path) -> int:
    """Size of a file, or the total size of a directory tree (an MS), in bytes."""
    return _stat_tree(path)[0]


def total_bytes(values: Mapping[str, Any]) -> int:
    """Total size of the distinct paths found in ``values``."""
    seen = {p.absolute() for v in values.values() for p in iter_paths(v)}
    return sum(path_bytes(p) for p in seen)


def fingerprint(value: Any) -> Any:
    """JSON data that changes when the value, or any file a path in it names, changes.

    A path stands for its content: it becomes ``[path, bytes, newest mtime]``
    (the whole tree for a directory), which is what "input version" means in a
    run key.
    """
    if isinstance(value, Path):
        size, mtime = _stat_tree(value)
        return ["path", str(value.absolute()), size, mtime]
    if value is None or isinstance(value, str | int | float | bool):
        return value
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {
            "__type__": type(value).__qualname__,
            **{f.name: fingerprint(getattr(value, f.name)) for f in dataclasses.fields(value)},
        }
    if isinstance(value, BaseModel):
        return {
            "__type__": type(value).__qualname__,
            **{name: fingerprint(getattr(value, name)) for name in type(value).model_fields},
        }
    if isinstance(value, Mapping):
        return {str(k): fingerprint(v) for k, v in sorted(value.items(), key=lambda kv: str(kv[0]))}
    if isinstance(value, tuple | list):
        return [fingerprint(v) for v in value]
    if isinstance(value, set | frozenset):
        return sorted((fingerprint(v) for v in value), key=repr)
    return encode(value)
