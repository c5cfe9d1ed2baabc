"""Science-level conversion errors.

Science never imports the pipeline engine, so these are plain exceptions; the engine's taxonomy
maps them (all are *input* errors of a group: retrying does not help, other groups go on).
Every error names the file or group it is about, and pickles (they cross process pools).
"""

from __future__ import annotations

from pathlib import Path

__all__ = [
    "ConversionError",
    "CorruptFileError",
    "InconsistentGroupError",
    "MissingSubbandsError",
]


class ConversionError(Exception):
    """Base class: a group could not be converted."""


class CorruptFileError(ConversionError):
    """A UVH5 file is truncated, unreadable or structurally wrong.

    Parameters
    ----------
    path : str or Path
        The offending file.
    reason : str
        What is wrong with it.
    """

    def __init__(self, path: str | Path, reason: str) -> None:
        super().__init__(str(path), reason)
        self.path = Path(path)
        self.reason = reason

    def __str__(self) -> str:
        return f"corrupt or truncated UVH5 file {self.path}: {self.reason}"


class InconsistentGroupError(ConversionError):
    """A file does not fit the rest of its group (times, baselines, polarizations...).

    Parameters
    ----------
    path : str or Path
        The file that disagrees with the group's first file.
    reason : str
        What differs.
    """

    def __init__(self, path: str | Path, reason: str) -> None:
        super().__init__(str(path), reason)
        self.path = Path(path)
        self.reason = reason

    def __str__(self) -> str:
        return f"{self.path} does not match its group: {self.reason}"


class MissingSubbandsError(ConversionError):
    """A group lacks subbands and ``conversion.missing_subbands`` is ``"fail"``.

    Parameters
    ----------
    group_id : str
        The group.
    missing : tuple of int
        The absent subband numbers.
    """

    def __init__(self, group_id: str, missing: tuple[int, ...]) -> None:
        super().__init__(group_id, tuple(missing))
        self.group_id = group_id
        self.missing = tuple(missing)

    def __str__(self) -> str:
        names = ", ".join(f"sb{k:02d}" for k in self.missing)
        return (
            f"group {self.group_id} is missing subbands {names} "
            "(set conversion.missing_subbands = 'flag' to convert with the gap flagged)"
        )
