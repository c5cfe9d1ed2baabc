"""``contimg demo``: simulate a short DSA-110 night and process it end to end.

The files are fed into ``incoming/`` as a correlator writes them and processed by
the streaming service (the code path of ``contimg watch``); the night is then
mosaicked and summarized.
"""

from __future__ import annotations

import shutil
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.live import Live
from rich.table import Table

from contimg.cli._common import (
    EXIT_FAILED,
    EXIT_OK,
    CliContext,
    ConfigOpt,
    SetOpt,
    WorkdirOpt,
    cli_context,
    fail_usage,
)
from contimg.config import ConfigError, load_settings, parse_override

if TYPE_CHECKING:  # heavy imports stay inside the command, so `contimg --help` is quick
    from collections.abc import Iterable

    from contimg.science.simulate import SimulatedGroup
    from contimg.service import Service
    from contimg.service.demo import NightPlan

__all__ = ["demo"]

#: Written into a work directory the demo made, so a later demo may start it over.
DEMO_MARKER = ".contimg-demo"
#: How fast the simulated correlator delivers files, per scale: (between files, between groups).
_FEED_GAPS = {"test": (0.02, 0.5), "small": (0.05, 1.0), "full": (0.2, 5.0)}


def _holds_data(workdir: Path) -> bool:
    """Whether the directory holds files other than logs (a database, data, products)."""
    return any(
        p.is_file() and p.relative_to(workdir).parts[0] != "logs" for p in workdir.rglob("*")
    )


def _prepare_workdir(workdir: Path) -> None:
    if workdir.exists() and _holds_data(workdir):
        if not (workdir / DEMO_MARKER).exists():
            raise fail_usage(
                f"{workdir} holds data that `contimg demo` did not make; choose another --workdir"
            )
        shutil.rmtree(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / DEMO_MARKER).write_text("made by `contimg demo`; a new demo starts it over\n")


def demo(
    groups: Annotated[int, typer.Option("--groups", min=3, help="Groups in the night.")] = 5,
    scale: Annotated[
        str, typer.Option("--scale", help="test (seconds per group), small, or full (real size).")
    ] = "test",
    seed: Annotated[int, typer.Option("--seed", help="Seed of the simulated night.")] = 110,
    workdir: WorkdirOpt = None,
    config: ConfigOpt = None,
    sets: SetOpt = None,
) -> None:
    """Simulate groups around 0834+555's transit, process them as `watch` would, summarize."""
    from contimg.service.demo import (
        _SCALE_OVERRIDES,
        DEMO_CALIBRATOR,
        demo_overrides,
        plan_night,
    )

    if scale not in _SCALE_OVERRIDES:
        raise fail_usage(f"--scale {scale!r}: one of {', '.join(_SCALE_OVERRIDES)}")
    try:
        base = load_settings(config, overrides=_workdir_override(workdir, sets))
    except ConfigError as exc:
        raise fail_usage(str(exc)) from None
    root = base.settings.paths.workdir.absolute()
    _prepare_workdir(root)
    sky_csv = root / "demo" / "sky.csv"
    overrides = {**demo_overrides(scale, sky_csv), **_parsed(sets)}
    overrides["paths.workdir"] = str(root)
    console = Console(stderr=True)
    console.print(
        f"[bold]contimg demo[/]: {groups} groups at dec +54.57 around the transit of "
        f"{DEMO_CALIBRATOR}, scale {scale}, work directory {root}"
    )
    shown = ", ".join(f"{k}={v}" for k, v in _SCALE_OVERRIDES[scale].items())
    if shown:
        console.print(f"demo settings for scale {scale} (--set overrides them): {shown}")
    plan = plan_night(sky_csv, n_groups=groups, scale=scale, seed=seed)
    with cli_context(None, config, [f"{k}={_toml(v)}" for k, v in overrides.items()]) as ctx:
        ctx.settings.paths.ensure()
        ok = _run_night(ctx, plan, console, scale)
    raise typer.Exit(EXIT_OK if ok else EXIT_FAILED)


def _workdir_override(workdir: Path | None, sets: list[str] | None) -> list[str]:
    extra = [] if workdir is None else [f'paths.workdir="{workdir.absolute()}"']
    return [*(sets or []), *extra]


def _parsed(sets: list[str] | None) -> dict[str, object]:
    return dict(parse_override(item) for item in sets or [])


def _toml(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'


def _run_night(ctx: CliContext, plan: NightPlan, console: Console, scale: str) -> bool:
    from rich.progress import Progress

    from contimg.service import Service
    from contimg.service.demo import feed_incoming, simulate_night

    settings = ctx.settings
    staging = settings.paths.scratch_dir / "demo-staging"
    with Progress(console=console, transient=True) as bar:
        task = bar.add_task("simulating the night", total=plan.n_groups)
        sims = simulate_night(
            plan, staging, progress=lambda done, total: bar.update(task, completed=done)
        )
    console.print(
        f"simulated {len(sims)} groups of 16 subband files ({sims[0].group_id} ... "
        f"{sims[-1].group_id}); sky model {plan.sky_csv}"
    )
    file_gap, group_gap = _FEED_GAPS[scale]
    feeding_done = threading.Event()

    def feed() -> None:
        try:
            feed_incoming(
                sims,
                settings.paths.incoming_dir,
                file_gap_s=file_gap,
                group_gap_s=group_gap,
                seed=plan.seed,
            )
        finally:
            feeding_done.set()

    feeder = threading.Thread(target=feed, name="demo-correlator", daemon=True)
    with Service(settings, ctx.repository) as service:
        feeder.start()
        with Live(_status(service, len(sims)), console=console, refresh_per_second=2) as live:
            summary = service.run_until(
                lambda s: (
                    (live.update(_status(s, len(sims))) or True)
                    and feeding_done.is_set()
                    and s.idle()
                )
            )
            live.update(_status(service, len(sims)))
    feeder.join()
    mosaic_ok = _mosaic(ctx, sims, console)
    _print_summary(ctx, plan, sims, console)
    return not summary.failed and mosaic_ok


def _status(service: Service, total: int) -> Table:
    snap = service.snapshot()
    table = Table(
        title=f"{len(snap.finished)}/{total} groups finished, {snap.indexed_files} files indexed"
    )
    for col in ("group", "workflow", "stage"):
        table.add_column(col)
    for act in snap.active:
        running = [name for name, status in act.stages.items() if status == "started"]
        table.add_row(act.group_id, act.workflow or "-", ", ".join(running) or "-")
    for fin in snap.finished[-total:]:
        table.add_row(fin.group_id, " + ".join(fin.plan), fin.state)
    return table


def _mosaic(ctx: CliContext, sims: list[SimulatedGroup], console: Console) -> bool:
    from contimg.pipeline import Runner
    from contimg.service.demo import night_range
    from contimg.workflows import WORKFLOWS, get_workflow, run_workflow

    start, end = night_range(sims, ctx.settings)
    with Runner(ctx.repository, ctx.settings, workflows=WORKFLOWS) as runner:
        result = run_workflow(
            runner,
            get_workflow("mosaic", ctx.settings),
            {"start": start, "end": end},
            trigger="demo",
        )
    if not result.ok:
        console.print(
            f"[red]mosaic failed[/] (run {result.run_id}): see `contimg runs show {result.run_id}`"
        )
    return result.ok


def _mosaic_table(sources: Iterable[dict]) -> Table:
    """Tabulate the mosaic's forced fluxes of the sky-model sources against the sky model."""
    from contimg.service.demo import VARIABLE_SOURCE

    table = Table(title="the night's mosaic against the sky model")
    for col in ("source", "mosaic Jy", "sky model Jy", "ratio", "S/N"):
        table.add_column(col)
    for s in sources:
        variable = s["name"] == VARIABLE_SOURCE
        table.add_row(
            s["name"] + (" (brightens: a mix of epochs)" if variable else ""),
            f"{s['flux_jy']:.3f}",
            f"{s['expected_jy']:.3f}",
            f"{s['ratio']:.3f}",
            f"{s['snr']:.0f}",
            style="dim" if variable else None,
        )
    return table


def _print_summary(
    ctx: CliContext, plan: NightPlan, sims: list[SimulatedGroup], console: Console
) -> None:
    from contimg.service.demo import VARIABLE_SOURCE, report_night

    # a terminal sets its own width; a log file gets room for the whole table
    out = Console() if sys.stdout.isatty() else Console(width=200)
    reports = report_night(ctx.repository, plan, sims)
    table = Table(title="the night, group by group")
    for col in (
        "group",
        "state",
        "workflows",
        "convert s",
        "calibrate s",
        "image s",
        "calibration set",
        "rms mJy",
        "brightest: measured / true Jy",
    ):
        table.add_column(col)
    for r in reports:
        secs = r.stage_seconds
        calib = secs.get("solve", 0.0) + secs.get("apply_calibration", 0.0)
        fluxes = ", ".join(
            f"{s.name} {s.measured_flux_jy:.2f}/{s.true_flux_jy:.2f}" for s in r.sources
        )
        table.add_row(
            r.group_id,
            r.state,
            " + ".join(r.workflows) or "-",
            f"{secs.get('convert', 0.0):.1f}",
            f"{calib:.1f}",
            f"{secs.get('image', 0.0) + secs.get('assess_image', 0.0):.1f}",
            r.calibration_set or "-",
            f"{r.image_rms_jy * 1e3:.1f}" if r.image_rms_jy is not None else "-",
            fluxes or (r.error or "-")[:60],
        )
    out.print(table)
    sources = ctx.repository.sources.list(limit=50)
    vt = Table(title="light curves (forced photometry)")
    for col in ("source", "epochs", "mean mJy", "eta", "V", "variable?"):
        vt.add_column(col)
    for s in sources:
        vt.add_row(
            s.name + (" (brightens)" if s.name == VARIABLE_SOURCE else ""),
            f"{s.n} ({s.n_upper_limits} limits)",
            f"{s.mean * 1e3:.1f}" if s.n else "-",
            f"{s.eta:.1f}" if s.n > 1 else "-",
            f"{s.v:.2f}" if s.v is not None else "-",
            "[bold red]candidate[/]" if s.candidate else "no",
        )
    out.print(vt)
    for m in ctx.repository.mosaics.list(limit=5):
        out.print(_mosaic_table(m.qa.get("sources", ())))
        out.print(f"mosaic {m.name}: {m.path} (QA {'passed' if m.qa_passed else 'failed'})")
    paths = ctx.settings.paths
    out.print(
        f"\nproducts: MS in {paths.ms_dir}, calibration tables in {paths.caltables_dir}, "
        f"images in {paths.images_dir}, mosaics in {paths.mosaics_dir}; "
        f"database {ctx.settings.database_url}\n"
        f"browse them: contimg serve --workdir {paths.workdir}   "
        f"(then open http://127.0.0.1:8000/)\n"
        f"or list them: contimg images list --workdir {paths.workdir} "
        f"| contimg sources list --workdir {paths.workdir}"
    )
