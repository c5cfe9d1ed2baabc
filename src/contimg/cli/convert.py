"""``contimg convert``: index a directory of subband files and convert its complete groups.

Exit codes: 0 every selected group converted (or already was); 1 a group failed to convert
(the others still ran); 2 usage, configuration or input error (bad directory, time or group).
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from contimg.cli._common import (
    EXIT_FAILED,
    ConfigOpt,
    JsonOpt,
    SetOpt,
    WorkdirOpt,
    cli_context,
    emit_json,
    fail_usage,
)

__all__ = ["convert"]


def _parse_time(text: str | None, option: str) -> datetime | None:
    if text is None:
        return None
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise fail_usage(f"{option}: not an ISO time: {text!r}") from None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def convert(
    input_dir: Annotated[
        Path, typer.Argument(help="Directory holding YYYY-MM-DDTHH:MM:SS_sbNN.hdf5 files.")
    ],
    start: Annotated[
        str | None, typer.Option("--start", help="Only groups starting at or after (ISO, UTC).")
    ] = None,
    end: Annotated[
        str | None, typer.Option("--end", help="Only groups starting at or before (ISO, UTC).")
    ] = None,
    group: Annotated[str | None, typer.Option("--group", help="Only this group id.")] = None,
    writer: Annotated[
        str | None, typer.Option("--writer", help="MS writer: fast (default) or pyuvdata.")
    ] = None,
    workdir: WorkdirOpt = None,
    config: ConfigOpt = None,
    sets: SetOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Index INPUT_DIR's subband files into the database and convert each complete group.

    One Measurement Set per group lands in <workdir>/ms/<group_id>.ms. A group short of
    subbands is skipped unless conversion.missing_subbands = "flag"; a corrupt file fails
    only its own group, and the error names the file.
    """
    from contimg.science.convert import ConversionError
    from contimg.science.ingest import (
        FileNameError,
        cluster_files,
        read_header,
        scan_directory,
        select_groups,
        stable_subset,
    )

    if group is not None and (start is not None or end is not None):
        raise fail_usage("--group cannot be combined with --start/--end")
    if writer is not None and writer not in ("fast", "pyuvdata"):
        raise fail_usage(f"--writer: expected 'fast' or 'pyuvdata', got {writer!r}")
    t_start, t_end = _parse_time(start, "--start"), _parse_time(end, "--end")
    if not input_dir.is_dir():
        raise fail_usage(f"INPUT_DIR {input_dir} is not a directory")
    overrides = list(sets or []) + ([f"conversion.writer={writer}"] if writer else [])
    err = Console(stderr=True)
    with cli_context(workdir, config, overrides) as ctx:
        settings = ctx.settings
        try:
            found, ignored = scan_directory(input_dir)
        except FileNameError as exc:  # pragma: no cover - scan_directory collects these
            raise fail_usage(str(exc)) from None
        for path in ignored:
            err.print(f"[yellow]ignored[/] {path}: not a subband file name")
        groups = select_groups(
            cluster_files(
                found,
                tolerance_s=settings.ingest.group_tolerance_s,
                n_subbands=settings.instrument.n_subbands,
            ),
            start=t_start,
            end=t_end,
            group_id=group,
        )
        if not groups:
            what = f"group {group}" if group else "groups in the selected time range"
            raise fail_usage(f"no {what} among the subband files in {input_dir}")

        # Index the whole files; a file whose header cannot be read fails its group below.
        selected = [f for g in groups for f in g.files]
        whole = set(stable_subset([f.path for f in selected], settings.ingest.stable_wait_s))
        bad: dict[Path, str] = {}
        repo = ctx.repository
        for f in selected:
            if f.path not in whole:
                bad[f.path] = "still being written (size changing)"
                continue
            try:
                header = read_header(f.path)
            except ConversionError as exc:
                bad[f.path] = str(exc)
                continue
            repo.groups.index_file(
                f.path,
                subband=f.subband,
                timestamp=f.timestamp,
                size=f.path.stat().st_size,
                dec_deg=header.dec_deg,
                tolerance_s=settings.ingest.group_tolerance_s,
                n_expected=groups[0].n_subbands,
            )

        results: list[dict[str, Any]] = []
        progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            TextColumn("{task.completed}/{task.total}"),
            TimeElapsedColumn(),
            console=err,
            transient=True,
            disable=as_json,
        )
        with progress:
            task = progress.add_task("converting", total=len(groups))
            for g in groups:
                progress.update(task, description=f"converting {g.group_id}")
                results.append(_convert_one(g, bad, repo, settings))
                progress.advance(task)

        if as_json:
            emit_json(results)
        else:
            table = Table("group", "status", "detail")
            for r in results:
                colour = {"converted": "green", "failed": "red"}.get(r["status"], "yellow")
                table.add_row(r["group_id"], f"[{colour}]{r['status']}[/]", r["detail"])
            Console().print(table)
        if any(r["status"] == "failed" for r in results):
            raise typer.Exit(EXIT_FAILED)


def _to_converting(repo: Any, gid: str) -> bool:
    """Move a group's row to ``converting`` (via ``incomplete`` while still collecting)."""
    from contimg.state._ingest import GroupState

    row = repo.groups.get_group(gid)
    if row is None:
        return False
    if row.state is GroupState.COLLECTING:
        row = repo.groups.set_state(gid, GroupState.INCOMPLETE)
    if row.state is not GroupState.CONVERTING:
        repo.groups.set_state(gid, GroupState.CONVERTING)
    return True


def _convert_one(g: Any, bad: dict[Path, str], repo: Any, settings: Any) -> dict[str, Any]:
    """Convert one clustered group, keeping its database row in step; return a summary."""
    from contimg.science.convert import ConversionError, convert_group
    from contimg.state._ingest import GroupState

    gid = g.group_id
    summary: dict[str, Any] = {"group_id": gid, "status": "", "detail": "", "ms": None}
    row = repo.groups.get_group(gid)
    final = settings.paths.ms_dir / f"{gid}.ms"
    if row is not None and row.state is GroupState.CONVERTED and final.exists():
        summary.update(status="skipped", detail=f"already converted: {final}", ms=final)
        return summary
    bad_here = [(p, why) for p in sorted(g.by_subband.values()) if (why := bad.get(p))]
    if bad_here:
        path, why = bad_here[0]
        detail = why if str(path) in why else f"{path}: {why}"
        if _to_converting(repo, gid):
            repo.groups.set_state(gid, GroupState.FAILED, error=detail)
        summary.update(status="failed", detail=detail)
        return summary
    if not g.complete and settings.conversion.missing_subbands != "flag":
        names = ", ".join(f"sb{k:02d}" for k in g.missing)
        detail = f"missing {names} (set conversion.missing_subbands=flag to convert)"
        summary.update(status="incomplete", detail=detail)
        return summary
    tracked = _to_converting(repo, gid)
    try:
        ms = convert_group(
            g.by_subband,
            settings.paths.ms_dir,
            settings.paths.scratch_dir,
            settings.conversion,
            group_id=gid,
            n_subbands=g.n_subbands,
        )
    except ConversionError as exc:
        if tracked:
            repo.groups.set_state(gid, GroupState.FAILED, error=str(exc))
        summary.update(status="failed", detail=str(exc))
        return summary
    repo.ms.register(
        ms.path,
        group_id=gid,
        start_mjd=ms.start_mjd,
        mid_mjd=ms.mid_mjd,
        end_mjd=ms.end_mjd,
        dec_deg=ms.dec_deg,
        n_fields=ms.n_fields,
        meta={
            "writer": ms.writer,
            "n_channels": ms.n_channels,
            "n_rows": ms.n_rows,
            "missing_subbands": list(ms.missing_subbands),
            "seconds": round(ms.seconds, 3),
        },
    )
    if tracked:
        repo.groups.set_state(gid, GroupState.CONVERTED)
    gap = f", {len(ms.missing_subbands)} subband(s) flagged" if ms.missing_subbands else ""
    summary.update(
        status="converted",
        ms=ms.path,
        detail=f"{ms.path} ({ms.n_fields} fields, {ms.seconds:.1f} s{gap})",
    )
    return summary
