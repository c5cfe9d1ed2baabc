"""``contimg db``: the state database.

Exit codes: 0 success; 2 the database URL is invalid, unreachable, or was
migrated by a newer contimg.
"""

from __future__ import annotations

import typer

from contimg.cli._common import ConfigOpt, JsonOpt, WorkdirOpt, cli_context, emit_json, fail_usage

app = typer.Typer(help="The state database.", no_args_is_help=True)


@app.command()
def upgrade(
    workdir: WorkdirOpt = None,
    config: ConfigOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Apply pending schema migrations to database.url and print its revisions.

    Safe to run at any time: a database already at every head is left alone,
    and a second process upgrading at the same moment waits for the first.
    """
    import sqlalchemy as sa

    from contimg.state import SchemaVersionError
    from contimg.state import upgrade as upgrade_database
    from contimg.state._engine import normalize_url

    with cli_context(workdir, config, setup_logging=False) as ctx:
        url = ctx.settings.database_url
        try:
            shown = normalize_url(url).render_as_string(hide_password=True)
            revisions = upgrade_database(url, busy_timeout_ms=ctx.settings.database.busy_timeout_ms)
        except ValueError as exc:
            raise fail_usage(str(exc)) from None
        except SchemaVersionError as exc:
            raise fail_usage(f"database.url {shown}: {exc}") from None
        except sa.exc.OperationalError as exc:
            raise fail_usage(f"database.url {shown}: cannot open: {exc.orig}") from None
        if as_json:
            emit_json({"url": shown, "revisions": list(revisions)})
            return
        typer.echo(f"{shown}: at {', '.join(revisions)}")
