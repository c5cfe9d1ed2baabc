"""``contimg groups`` and ``contimg ms``: subband groups and the Measurement Sets made of them.

Exit codes: 0 success; 2 configuration error or unknown state.
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from contimg.cli._common import ConfigOpt, JsonOpt, WorkdirOpt, cli_context, emit_json, fail_usage

groups_app = typer.Typer(help="Subband groups and their states.", no_args_is_help=True)
ms_app = typer.Typer(help="Converted Measurement Sets.", no_args_is_help=True)

LimitOpt = Annotated[int, typer.Option(min=1, help="At most this many.")]


@groups_app.command("list")
def list_groups(
    workdir: WorkdirOpt = None,
    config: ConfigOpt = None,
    state: Annotated[
        str | None,
        typer.Option(
            "--state",
            help="Only groups in this state (collecting, complete, converting, converted, "
            "failed, incomplete).",
        ),
    ] = None,
    limit: LimitOpt = 200,
    as_json: JsonOpt = False,
) -> None:
    """List groups, oldest first, with their subband count and state."""
    from contimg.state._ingest import GroupState

    try:
        wanted = GroupState(state) if state is not None else None
    except ValueError:
        raise fail_usage(
            f"--state {state!r}: one of {', '.join(s.value for s in GroupState)}"
        ) from None
    with cli_context(workdir, config, setup_logging=False) as ctx:
        groups = ctx.repository.groups.list_groups(state=wanted, limit=limit)
        if as_json:
            emit_json(groups)
            return
        table = Table("group", "state", "subbands", "dec", "error")
        for g in groups:
            table.add_row(
                g.group_id,
                g.state.value,
                f"{g.n_subbands}/{g.n_expected}",
                f"{g.dec_deg:+.2f}" if g.dec_deg is not None else "",
                (g.error or "")[:80],
            )
        Console().print(table)


@ms_app.command("list")
def list_ms(
    workdir: WorkdirOpt = None,
    config: ConfigOpt = None,
    limit: LimitOpt = 200,
    as_json: JsonOpt = False,
) -> None:
    """List the Measurement Sets in the index with their time span and declination."""
    with cli_context(workdir, config, setup_logging=False) as ctx:
        rows = ctx.repository.ms.list_ms(limit=limit)
        if as_json:
            emit_json(rows)
            return
        table = Table("group", "path", "mid MJD", "dec", "fields", "status")
        for m in rows:
            table.add_row(
                m.group_id,
                str(m.path),
                f"{m.mid_mjd:.5f}",
                f"{m.dec_deg:+.2f}",
                str(m.n_fields),
                m.status,
            )
        Console().print(table)
