"""``contimg config``: the effective configuration, validation and reference."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from contimg.cli._common import (
    EXIT_OK,
    ConfigOpt,
    JsonOpt,
    SetOpt,
    WorkdirOpt,
    cli_context,
    emit_json,
    fail_usage,
)
from contimg.config import ConfigError, effective_values, load_settings, reference_rows

app = typer.Typer(help="Show, validate and document the configuration.", no_args_is_help=True)


@app.command()
def show(
    workdir: WorkdirOpt = None,
    config: ConfigOpt = None,
    sets: SetOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Print every effective setting and where its value came from."""
    with cli_context(workdir, config, sets, setup_logging=False) as ctx:
        values = effective_values(ctx.settings)
        if as_json:
            emit_json([{"key": k, "value": v, "source": ctx.sources[k]} for k, v in values.items()])
            return
        table = Table("key", "value", "source", title="contimg configuration")
        for key, value in values.items():
            table.add_row(key, repr(value), ctx.sources[key])
        Console().print(table)


@app.command()
def validate(
    file: Annotated[Path, typer.Argument(help="TOML configuration file to check.")],
) -> None:
    """Check a configuration file; exit 2 with the offending key, value and rule."""
    try:
        load_settings(file, environ={})
    except ConfigError as exc:
        raise fail_usage(str(exc)) from None
    typer.echo(f"{file}: valid")
    raise typer.Exit(EXIT_OK)


@app.command()
def docs(
    markdown: Annotated[bool, typer.Option("--markdown", help="Print a Markdown table.")] = False,
) -> None:
    """Print the reference of every setting, generated from the models."""
    rows = reference_rows()
    if markdown:
        typer.echo("| key | type | default | description |")
        typer.echo("|---|---|---|---|")
        for key, type_name, default, description in rows:
            typer.echo(f"| `{key}` | `{type_name}` | `{default}` | {description} |")
        return
    table = Table("key", "type", "default", "description", title="contimg settings")
    for row in rows:
        table.add_row(*row)
    Console(width=160).print(table)
