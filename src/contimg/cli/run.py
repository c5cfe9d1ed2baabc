"""``contimg run WORKFLOW``: run one workflow once, for one-off work and re-processing."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer

from contimg.cli._common import (
    ConfigOpt,
    JsonOpt,
    SetOpt,
    WorkdirOpt,
    cli_context,
    fail_usage,
)
from contimg.cli.runs import run_and_report


def _inputs(
    workflow: str, group: str | None, ms: Path | None, start: datetime | None, end: datetime | None
) -> dict[str, Any]:
    if workflow == "mosaic":
        if start is None or end is None:
            raise fail_usage("the mosaic workflow needs --start ISO and --end ISO")
        return {"start": start, "end": end}
    if workflow == "reprocessing":
        if ms is None:
            raise fail_usage("the reprocessing workflow needs --ms PATH")
        if not (ms / "table.dat").is_file():
            raise fail_usage(f"{ms} is not a Measurement Set")
        return {"ms": ms.absolute()}
    if workflow in ("standard", "quicklook", "calibrator"):
        if group is None:
            raise fail_usage(f"the {workflow} workflow needs --group ID")
        return {"group_id": group}
    if workflow == "engine-demo":
        return {"seed": 1, "count": 1000}
    raise fail_usage(f"unknown workflow {workflow!r}")


def run(
    workflow: Annotated[
        str,
        typer.Argument(
            help="standard, quicklook, calibrator, reprocessing or mosaic.", show_default=False
        ),
    ],
    group: Annotated[
        str | None, typer.Option("--group", help="Group id (sb00's timestamp).")
    ] = None,
    ms: Annotated[Path | None, typer.Option("--ms", help="Measurement Set (reprocessing).")] = None,
    start: Annotated[
        datetime | None, typer.Option("--start", help="Start of the time range (mosaic), UTC.")
    ] = None,
    end: Annotated[
        datetime | None, typer.Option("--end", help="End of the time range (mosaic), UTC.")
    ] = None,
    workdir: WorkdirOpt = None,
    config: ConfigOpt = None,
    sets: SetOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Run one workflow once and print its stage table; exit 1 when the run fails."""
    from contimg.workflows import WORKFLOWS, get_workflow, run_workflow

    if workflow not in WORKFLOWS:
        raise fail_usage(f"unknown workflow {workflow!r}; known: {', '.join(sorted(WORKFLOWS))}")
    inputs = _inputs(workflow, group, ms, start, end)
    with cli_context(workdir, config, sets) as ctx:
        ctx.settings.paths.ensure()
        if group is not None and ctx.repository.groups.get_group(group) is None:
            raise fail_usage(f"group {group!r} is not indexed (see `contimg groups list`)")
        wf = get_workflow(workflow, ctx.settings)
        run_and_report(ctx, lambda runner: run_workflow(runner, wf, inputs, trigger="cli"), as_json)
