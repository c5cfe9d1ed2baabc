"""``contimg mosaics``: the mosaics made along the strip.

Exit codes: 0 success; 2 configuration error.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from contimg.cli._common import ConfigOpt, JsonOpt, WorkdirOpt, cli_context, emit_json

app = typer.Typer(help="Mosaics along the strip.", no_args_is_help=True)


def _iso(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M") if value else ""


@app.command("list")
def list_mosaics(
    workdir: WorkdirOpt = None,
    config: ConfigOpt = None,
    limit: Annotated[int, typer.Option(min=1, help="At most this many (newest first).")] = 50,
    as_json: JsonOpt = False,
) -> None:
    """List mosaics, newest first, with their time range, inputs and QA."""
    with cli_context(workdir, config, setup_logging=False) as ctx:
        mosaics = ctx.repository.mosaics.list(limit=limit)
        if as_json:
            emit_json(mosaics)
            return
        # Paths and inputs are in --json; the table keeps to what fits a terminal.
        table = Table("id", "start", "end", "n", "QA", "noise", "flux")
        table.add_column("name", overflow="fold")
        for m in mosaics:
            noise, flux = m.qa.get("noise_ratio"), m.qa.get("flux_ratio")
            table.add_row(
                str(m.id),
                _iso(m.start_time),
                _iso(m.end_time),
                str(m.n_inputs),
                "passed" if m.qa_passed else "failed",
                f"{noise:.2f}" if isinstance(noise, float) else "",
                f"{flux:.3f}" if isinstance(flux, float) else "",
                m.name,
            )
        Console().print(table)
