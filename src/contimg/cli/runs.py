"""``contimg runs``: run history and recovery (list, show, resume, retry).

Exit codes: 0 success; 1 the (resumed or retried) run ended failed; 2 unknown
run or workflow, or a configuration error.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from contimg.cli._common import (
    EXIT_FAILED,
    EXIT_OK,
    CliContext,
    ConfigOpt,
    JsonOpt,
    SetOpt,
    WorkdirOpt,
    cli_context,
    emit_json,
    fail_usage,
    to_jsonable,
)
from contimg.state.records import (
    RunRecord,
    RunStatus,
    StageAttemptRecord,
    stage_summaries,
)

if TYPE_CHECKING:  # the engine is imported when a command runs, not for --help
    from contimg.pipeline import Runner, RunResult

app = typer.Typer(help="Run history and recovery.", no_args_is_help=True)

RunIdArg = Annotated[
    int, typer.Argument(help="Run id (see `contimg runs list`).", show_default=False)
]
ForceOpt = Annotated[
    bool,
    typer.Option("--force", help="Take over a run still recorded as running (its process died)."),
]


def run_document(run: RunRecord, attempts: Sequence[StageAttemptRecord]) -> dict[str, Any]:
    """Return the ``--json`` document of one run: the run and a row per stage."""
    return {
        "run": to_jsonable(run),
        "stages": stage_summaries(attempts),
        "attempts": to_jsonable(list(attempts)),
    }


def print_run(run: RunRecord, attempts: Sequence[StageAttemptRecord]) -> None:
    """Print a run's summary and its stage table."""
    console = Console()
    duration = (
        (run.ended_at - run.started_at).total_seconds()
        if (run.ended_at and run.started_at)
        else None
    )
    console.print(
        f"run {run.id}  workflow [bold]{run.workflow}[/]  status [bold]{run.status}[/]"
        f"  trigger {run.trigger}"
        + (f"  resumed from {run.resumed_from}" if run.resumed_from else "")
        + (f"  {duration:.2f} s" if duration is not None else "")
    )
    if run.error:
        console.print(f"error: {run.error}", markup=False, highlight=False)
    table = Table("stage", "status", "attempts", "duration s", "error / reason")
    for row in stage_summaries(attempts):
        table.add_row(
            row["stage"],
            row["status"],
            str(row["attempts"]),
            f"{row['duration_s']:.3f}",
            row["error"] or row["skip_reason"] or "",
        )
    console.print(table)


@app.command("list")
def list_runs(
    workdir: WorkdirOpt = None,
    config: ConfigOpt = None,
    status: Annotated[RunStatus | None, typer.Option(help="Only runs in this status.")] = None,
    workflow: Annotated[str | None, typer.Option(help="Only runs of this workflow.")] = None,
    limit: Annotated[int, typer.Option(min=1, help="At most this many (newest first).")] = 50,
    as_json: JsonOpt = False,
) -> None:
    """List runs, newest first."""
    with cli_context(workdir, config, setup_logging=False) as ctx:
        runs = ctx.repository.list_runs(status=status, workflow=workflow, limit=limit)
        if as_json:
            emit_json(runs)
            return
        table = Table("id", "workflow", "status", "trigger", "started", "ended", "error")
        for run in runs:
            table.add_row(
                str(run.id),
                run.workflow,
                run.status.value,
                run.trigger,
                run.started_at.isoformat(timespec="seconds") if run.started_at else "",
                run.ended_at.isoformat(timespec="seconds") if run.ended_at else "",
                (run.error or "")[:80],
            )
        Console().print(table)


@app.command()
def show(
    run_id: RunIdArg,
    workdir: WorkdirOpt = None,
    config: ConfigOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Show a run and a table of its stages (status, attempts, duration, error)."""
    with cli_context(workdir, config, setup_logging=False) as ctx:
        run = ctx.repository.get_run(run_id)
        if run is None:
            raise fail_usage(f"run {run_id} does not exist")
        attempts = ctx.repository.list_attempts(run_id)
        if as_json:
            emit_json(run_document(run, attempts))
        else:
            print_run(run, attempts)


def run_and_report(ctx: CliContext, start: Callable[[Runner], RunResult], as_json: bool) -> None:
    """Start a run with a runner on the command's repository, print it, exit 0 or 1.

    Definition, configuration and input errors exit 2 with their one-line message.
    """
    from contimg.pipeline import ContimgError, Runner
    from contimg.workflows import WORKFLOWS

    try:
        with Runner(ctx.repository, ctx.settings, workflows=WORKFLOWS) as runner:
            result = start(runner)
    except ContimgError as exc:
        if exc.exit_code == 2:
            raise fail_usage(str(exc)) from None
        raise
    run = ctx.repository.get_run(result.run_id)
    if run is None:
        raise RuntimeError(f"run {result.run_id} vanished from the database")
    attempts = ctx.repository.list_attempts(result.run_id)
    if as_json:
        emit_json(run_document(run, attempts))
    else:
        print_run(run, attempts)
    raise typer.Exit(EXIT_OK if result.ok else EXIT_FAILED)


def _rerun(
    run_id: int, workdir: Any, config: Any, sets: Any, as_json: bool, *, resume: bool, force: bool
) -> None:
    with cli_context(workdir, config, sets) as ctx:
        run_and_report(
            ctx,
            lambda runner: (runner.resume if resume else runner.retry)(run_id, force=force),
            as_json,
        )


@app.command()
def resume(
    run_id: RunIdArg,
    workdir: WorkdirOpt = None,
    config: ConfigOpt = None,
    sets: SetOpt = None,
    force: ForceOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Re-run only what did not complete in a run (a new run, reusing completed stages)."""
    _rerun(run_id, workdir, config, sets, as_json, resume=True, force=force)


@app.command()
def retry(
    run_id: RunIdArg,
    workdir: WorkdirOpt = None,
    config: ConfigOpt = None,
    sets: SetOpt = None,
    force: ForceOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Run a run's workflow again from scratch on the same inputs (a new run)."""
    _rerun(run_id, workdir, config, sets, as_json, resume=False, force=force)
