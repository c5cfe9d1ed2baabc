"""``contimg images``: the images made, with their QA.

Exit codes: 0 success; 2 configuration error or unknown image.
"""

from __future__ import annotations

from typing import Annotated

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

app = typer.Typer(help="Images and their QA.", no_args_is_help=True)


@app.command("list")
def list_images(
    workdir: WorkdirOpt = None,
    config: ConfigOpt = None,
    group: Annotated[str | None, typer.Option("--group", help="Only this group's image.")] = None,
    verdict: Annotated[
        str | None,
        typer.Option("--verdict", help="Only images with this QA verdict (good/bad/pending)."),
    ] = None,
    limit: Annotated[int, typer.Option(min=1, help="At most this many (newest first).")] = 100,
    as_json: JsonOpt = False,
) -> None:
    """List images, newest first, with rms, beam and QA verdict."""
    with cli_context(workdir, config, setup_logging=False) as ctx:
        images = ctx.repository.images.list_images(group_id=group, verdict=verdict, limit=limit)
        if as_json:
            emit_json(images)
            return
        table = Table("id", "group", "rms mJy", "DR", 'beam "', "n>5sig", "flux ratio", "verdict")
        for im in images:
            table.add_row(
                str(im.id),
                im.group_id or im.name,
                f"{im.rms_jy * 1e3:.2f}" if im.rms_jy is not None else "",
                f"{im.dynamic_range:.0f}" if im.dynamic_range is not None else "",
                f"{im.bmaj_arcsec:.0f}x{im.bmin_arcsec:.0f}",
                "" if im.n_sources is None else str(im.n_sources),
                f"{im.flux_ratio:.3f}" if im.flux_ratio is not None else "",
                im.verdict,
            )
        Console().print(table)


@app.command("show")
def show_image(
    image_id: Annotated[int, typer.Argument(help="Image id (from `contimg images list`).")],
    workdir: WorkdirOpt = None,
    config: ConfigOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Show one image with its paths, QA and source catalogue."""
    with cli_context(workdir, config, setup_logging=False) as ctx:
        image = ctx.repository.images.get(image_id)
        if image is None:
            raise fail_usage(f"no image with id {image_id}")
        sources = ctx.repository.images.sources(image_id)
        if as_json:
            doc = to_jsonable(image)
            doc["sources"] = to_jsonable(sources)
            emit_json(doc)
            return
        console = Console()
        for key, value in to_jsonable(image).items():
            if key != "qa":
                console.print(f"{key}: {value}")
        table = Table("ra", "dec", "peak Jy", "flux Jy", "±", "pb")
        for s in sources:
            table.add_row(
                f"{s.ra_deg:.5f}",
                f"{s.dec_deg:.5f}",
                f"{s.peak_jy:.4f}",
                f"{s.flux_jy:.4f}",
                f"{s.flux_err_jy:.4f}",
                f"{s.pb:.2f}",
            )
        console.print(table)
