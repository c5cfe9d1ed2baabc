"""``contimg sources``: monitored sources, their variability metrics and light curves.

Exit codes: 0 success; 2 unknown source or a configuration error.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from contimg.cli._common import (
    ConfigOpt,
    JsonOpt,
    WorkdirOpt,
    cli_context,
    emit_json,
    fail_usage,
    to_jsonable,
)

app = typer.Typer(
    help="Monitored sources, variability metrics and light curves.", no_args_is_help=True
)


def source_document(src: Any) -> dict[str, Any]:
    """Return the public fields of a source record (metrics, not the running sums)."""
    return {
        "id": src.id,
        "name": src.name,
        "ra_deg": src.ra_deg,
        "dec_deg": src.dec_deg,
        "origin": src.origin,
        "catalog_flux_jy": src.catalog_flux_jy,
        "n_measurements": src.n,
        "n_upper_limits": src.n_upper_limits,
        "mean_flux_jy": src.mean if src.n else None,
        "weighted_mean_flux_jy": src.wmean if src.n else None,
        "eta": src.eta,
        "v": src.v,
        "candidate": src.candidate,
        "last_time": to_jsonable(src.last_time),
    }


def _num(value: float | None, fmt: str) -> str:
    return "" if value is None or not math.isfinite(value) else format(value, fmt)


@app.command("list")
def list_sources(
    workdir: WorkdirOpt = None,
    config: ConfigOpt = None,
    candidates: Annotated[
        bool, typer.Option("--candidates", help="Only variability candidates.")
    ] = False,
    limit: Annotated[
        int, typer.Option(min=1, help="At most this many (candidates, then highest eta).")
    ] = 1000,
    as_json: JsonOpt = False,
) -> None:
    """List monitored sources with eta, V and the candidate flag."""
    with cli_context(workdir, config, setup_logging=False) as ctx:
        rows = ctx.repository.sources.list(candidates_only=candidates, limit=limit)
        if as_json:
            emit_json([source_document(s) for s in rows])
            return
        table = Table("id", "name", "ra", "dec", "n", "limits", "mean mJy", "eta", "V", "candidate")
        for s in rows:
            table.add_row(
                str(s.id),
                s.name,
                f"{s.ra_deg:.4f}",
                f"{s.dec_deg:+.4f}",
                str(s.n),
                str(s.n_upper_limits),
                _num(1e3 * s.mean if s.n else None, ".2f"),
                _num(s.eta, ".2f"),
                _num(s.v, ".3f"),
                "yes" if s.candidate else "",
            )
        Console().print(table)


@app.command()
def lightcurve(
    source: Annotated[
        str,
        typer.Argument(help="Source id or name (see `contimg sources list`).", show_default=False),
    ],
    workdir: WorkdirOpt = None,
    config: ConfigOpt = None,
    png: Annotated[
        Path | None,
        typer.Option("--png", help="Also write the light curve as a PNG here.", show_default=False),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Show one source's light curve (upper limits included)."""
    from contimg.science.variability import LightCurvePoint, VariabilityMetrics, plot_lightcurve

    with cli_context(workdir, config, setup_logging=False) as ctx:
        store = ctx.repository.sources
        src = store.get(int(source)) if source.isdigit() else store.by_name(source)
        if src is None:
            raise fail_usage(f"source {source!r} is not monitored (see `contimg sources list`)")
        points = store.lightcurve(src.id)
        png_path = None
        if png is not None:
            metrics = VariabilityMetrics(
                src.n,
                src.eta,
                src.v if src.v is not None else math.nan,
                src.mean,
                src.wmean,
                src.candidate,
            )
            png_path = plot_lightcurve(
                [
                    LightCurvePoint(p.time, p.flux_jy, p.flux_err_jy, p.upper_limit, p.limit_jy)
                    for p in points
                    if p.time is not None
                ],
                png,
                title=src.name,
                metrics=metrics,
            )
        if as_json:
            emit_json({"source": source_document(src), "measurements": points, "png": png_path})
            return
        console = Console()
        console.print(
            f"[bold]{src.name}[/]  eta {_num(src.eta, '.2f')}  V {_num(src.v, '.3f')}"
            f"{'  [bold red]candidate[/]' if src.candidate else ''}"
        )
        table = Table("time", "flux mJy", "error mJy", "rms mJy", "S/N", "upper limit", "image")
        for p in points:
            table.add_row(
                p.time.isoformat(timespec="seconds") if p.time else "",
                f"{1e3 * p.flux_jy:.2f}",
                f"{1e3 * p.flux_err_jy:.2f}",
                f"{1e3 * p.local_rms_jy:.2f}",
                f"{p.snr:.1f}",
                f"< {1e3 * p.limit_jy:.2f}" if p.upper_limit else "",
                p.image_path,
            )
        console.print(table)
        if png_path is not None:
            console.print(f"light curve written to {png_path}")
