"""Stages from a subband group to a flagged Measurement Set.

Each function is a thin adapter: it calls one science function and returns its
typed product. Those that touch the state store take the injected
``repository`` and so run inline; the heavy ones run in the process executor.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from contimg.config.settings import ConversionSettings, FlaggingSettings, PathsSettings
from contimg.science.convert import ConvertedMS, convert_group
from contimg.science.flag import FlagResult, flag_ms
from contimg.state import SqlStateRepository
from contimg.state._ingest import GroupState

__all__ = ["GroupFiles", "converted_ms", "flags", "group_files", "registered_ms"]


class UnknownGroupError(LookupError):
    """The group id is not in the database (nothing indexed under it)."""


@dataclass(frozen=True)
class GroupFiles:
    """The subband files of one group, by subband."""

    group_id: str
    files: tuple[Path, ...]


def group_files(group_id: str, repository: SqlStateRepository) -> GroupFiles:
    """Look up a group's files and mark the group ``converting``."""
    group = repository.groups.get_group(group_id)
    if group is None:
        raise UnknownGroupError(f"group {group_id!r} is not indexed; index its files first")
    files = repository.groups.group_files(group_id)
    if group.state is not GroupState.CONVERTING:
        repository.groups.set_state(group_id, GroupState.CONVERTING)
    return GroupFiles(group_id, tuple(files[sb] for sb in sorted(files)))


def converted_ms(
    group_files: GroupFiles, config: ConversionSettings, scratch: Path, *, paths: PathsSettings
) -> ConvertedMS:
    """Convert the group into ``ms/<group_id>.ms``.

    An MS already at the final path can only be left by a run that died between
    the rename and its registration; it is whole (the rename is atomic) but its
    description is lost with that run, so it is converted again.
    """
    final = paths.ms_dir / f"{group_files.group_id}.ms"
    if final.exists():
        shutil.rmtree(final)
    return convert_group(
        group_files.files, paths.ms_dir, scratch, config, group_id=group_files.group_id
    )


def registered_ms(converted_ms: ConvertedMS, repository: SqlStateRepository) -> Path:
    """Register the MS in ``ms_index`` and mark its group ``converted``."""
    repository.ms.register(
        converted_ms.path,
        group_id=converted_ms.group_id,
        start_mjd=converted_ms.start_mjd,
        mid_mjd=converted_ms.mid_mjd,
        end_mjd=converted_ms.end_mjd,
        dec_deg=converted_ms.dec_deg,
        n_fields=converted_ms.n_fields,
        meta={
            "writer": converted_ms.writer,
            "n_rows": converted_ms.n_rows,
            "n_antennas": converted_ms.n_antennas,
            "n_channels": converted_ms.n_channels,
            "missing_subbands": list(converted_ms.missing_subbands),
            "seconds": converted_ms.seconds,
        },
    )
    group = repository.groups.get_group(converted_ms.group_id)
    if group is not None and group.state is GroupState.CONVERTING:
        repository.groups.set_state(converted_ms.group_id, GroupState.CONVERTED)
    return converted_ms.path


def flags(
    ms: Path,
    config: FlaggingSettings,
    scratch: Path,
    *,
    paths: PathsSettings,
    enforce_limit: bool = True,
) -> FlagResult:
    """Flag autocorrelations, zeros and RFI in the MS (in place) and report the fractions.

    With ``enforce_limit`` (targets) more than ``flagging.max_flag_fraction`` flagged
    fails the stage; a calibrator group goes on so that its solve can record a
    rejected set with the reason.
    """
    return flag_ms(
        ms, config, log_dir=paths.logs_dir, scratch_dir=scratch, enforce_limit=enforce_limit
    )
