"""The ``contimg`` command: one typer application, one sub-application per noun."""

from __future__ import annotations

import typer

from contimg import __version__
from contimg.cli import calibrate as calibrate_cli
from contimg.cli import config as config_cli
from contimg.cli import convert as convert_cli
from contimg.cli import db as db_cli
from contimg.cli import demo as demo_cli
from contimg.cli import groups as groups_cli
from contimg.cli import images as images_cli
from contimg.cli import mosaics as mosaics_cli
from contimg.cli import run as run_cli
from contimg.cli import runs as runs_cli
from contimg.cli import serve as serve_cli
from contimg.cli import simulate as simulate_cli
from contimg.cli import sources as sources_cli
from contimg.cli import watch as watch_cli

app = typer.Typer(
    name="contimg",
    help="Continuum-imaging pipeline for the DSA-110 radio telescope.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.add_typer(calibrate_cli.app, name="calibrate")
app.add_typer(calibrate_cli.caltables_app, name="caltables")
app.add_typer(calibrate_cli.catalog_app, name="catalog")
app.add_typer(config_cli.app, name="config")
app.command("convert")(convert_cli.convert)
app.add_typer(db_cli.app, name="db")
app.command("demo")(demo_cli.demo)
app.add_typer(groups_cli.groups_app, name="groups")
app.add_typer(groups_cli.ms_app, name="ms")
app.add_typer(images_cli.app, name="images")
app.add_typer(mosaics_cli.app, name="mosaics")
app.command("run")(run_cli.run)
app.add_typer(runs_cli.app, name="runs")
app.command("serve")(serve_cli.serve)
app.command("simulate")(simulate_cli.simulate)
app.add_typer(sources_cli.app, name="sources")
app.command("watch")(watch_cli.watch)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"contimg {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """Continuum-imaging pipeline for the DSA-110 radio telescope."""


def main() -> None:
    """Console-script entry point."""
    app()
