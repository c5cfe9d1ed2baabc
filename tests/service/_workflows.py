"""Conversion-only ``standard`` and ``calibrator`` workflows for the service tests.

Real stages over the real conversion science (:func:`contimg.science.convert.convert_group`)
and the real state store, shaped like the group-based workflows the service drives:
inputs ``{"group_id": str}``; the first stage looks the files up and marks the group
converting (idempotently, so a resumed run may repeat it); the last registers the MS and
marks the group converted. Imaging is left out to keep the service suite fast.
"""

from __future__ import annotations

import functools
from pathlib import Path

from contimg.config.settings import ConversionSettings, Settings
from contimg.pipeline import Stage, Workflow
from contimg.science.convert import ConvertedMS, convert_group
from contimg.state._ingest import GroupState


def group_files(group_id: str, repository) -> tuple[Path, ...]:
    """Return the group's files and mark it converting (unless it already is)."""
    files = repository.groups.group_files(group_id)
    if repository.groups.get_group(group_id).state is not GroupState.CONVERTING:
        repository.groups.set_state(group_id, GroupState.CONVERTING)
    return tuple(files[k] for k in sorted(files))


def converted(
    group_id: str,
    group_files: tuple[Path, ...],
    config: ConversionSettings,
    scratch: Path,
    ms_dir: Path = Path("ms"),
) -> ConvertedMS:
    """Convert the group into ``ms_dir``."""
    return convert_group(group_files, ms_dir, scratch, config, group_id=group_id)


def ms_path(converted: ConvertedMS, repository) -> Path:
    """Register the MS and mark the group converted."""
    repository.ms.register(
        converted.path,
        group_id=converted.group_id,
        start_mjd=converted.start_mjd,
        mid_mjd=converted.mid_mjd,
        end_mjd=converted.end_mjd,
        dec_deg=converted.dec_deg,
        n_fields=converted.n_fields,
    )
    if repository.groups.get_group(converted.group_id).state is GroupState.CONVERTING:
        repository.groups.set_state(converted.group_id, GroupState.CONVERTED)
    return converted.path


def _build(name: str, settings: Settings) -> Workflow:
    convert = functools.partial(converted, ms_dir=settings.paths.ms_dir)
    functools.update_wrapper(convert, converted)
    return Workflow(
        name,
        [
            Stage("group_files", group_files, produces="group_files", cache=False),
            Stage("convert", convert, produces="converted", config="conversion"),
            Stage("register", ms_path, produces="ms_path", cache=False),
        ],
        inputs={"group_id": str},
        description=f"test {name}: convert one group",
    )


TEST_WORKFLOWS = {
    "standard": functools.partial(_build, "standard"),
    "calibrator": functools.partial(_build, "calibrator"),
}
