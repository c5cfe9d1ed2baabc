"""``contimg watch``: the streaming service on the command line.

Indexes ``incoming/``, assembles groups and runs one workflow plan per complete group
(:class:`contimg.service.Service`). Structured logs always go to
``<workdir>/logs/contimg.jsonl``; on a terminal a live status table replaces the log lines
(warnings still show). SIGTERM or Ctrl-C: stop taking work, let the runs in progress
finish, exit 0; a second signal gives up at once (another ``watch`` resumes the groups).
"""

from __future__ import annotations

import os
import sys
from typing import Annotated

import typer

from contimg.cli._common import (
    EXIT_FAILED,
    EXIT_OK,
    ConfigOpt,
    SetOpt,
    WorkdirOpt,
    cli_context,
    fail_usage,
)

__all__ = ["status_view", "watch"]

#: Exit status after a second SIGTERM/SIGINT (the runs in progress were abandoned).
EXIT_ABORTED = 130


def status_view(service):  # -> rich renderable (rich imported lazily)
    """Return the live status table of a running :class:`~contimg.service.Service` (rich)."""
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    snap = service.snapshot()
    q = snap.queue
    head = Text(
        f"contimg watch  {snap.owner}  {'indexing' if snap.watching else 'processing'}"
        f"{'  (stopping)' if snap.stopping else ''}\n"
        f"files: {snap.indexed_files} indexed, {snap.pending_files} arriving, "
        f"{len(snap.rejected_files)} rejected   groups: {q.collecting} collecting, "
        f"{q.ready} ready ({q.waiting_for_calibration} waiting for calibration), "
        f"{q.running} running, {q.done} done, {q.failed} failed   slots: {snap.slots}"
    )
    active = Table(title="in progress", expand=True)
    for col in ("group", "workflow", "run", "stages"):
        active.add_column(col)
    for act in snap.active:
        stages = "  ".join(f"{name}:{status}" for name, status in act.stages.items())
        step = f"{act.workflow or '-'} ({act.step + 1}/{len(act.plan)})"
        active.add_row(act.group_id, step, str(act.run_id or "-"), stages)
    done = Table(title="finished (latest)", expand=True)
    for col in ("group", "state", "plan", "runs", "seconds", "error"):
        done.add_column(col)
    for fin in snap.finished[-8:]:
        done.add_row(
            fin.group_id,
            fin.state,
            " -> ".join(fin.plan),
            ",".join(map(str, fin.run_ids)),
            f"{fin.seconds:.1f}",
            (fin.error or "")[:80],
        )
    return Group(head, active, done)


def watch(
    workdir: WorkdirOpt = None,
    config: ConfigOpt = None,
    sets: SetOpt = None,
    once: Annotated[
        bool, typer.Option("--once", help="One pass: index, start what is ready, wait, exit.")
    ] = False,
    until_idle: Annotated[
        bool,
        typer.Option("--until-idle", help="Process everything there is, exit when idle."),
    ] = False,
    timeout: Annotated[
        float | None,
        typer.Option("--timeout", help="With --until-idle: give up after this many seconds."),
    ] = None,
    index: Annotated[
        bool,
        typer.Option(
            "--index/--no-index", help="Take part in indexing incoming/ (else only process)."
        ),
    ] = True,
    display: Annotated[
        bool | None,
        typer.Option(
            "--display/--no-display",
            help="Live status table (default: when stdout is a terminal).",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Run the streaming service: incoming files -> groups -> workflow runs, exactly once."""
    if once and until_idle:
        raise fail_usage("--once and --until-idle exclude each other")
    from contimg.pipeline import ContimgError
    from contimg.service import Service

    with cli_context(workdir, config, sets) as ctx:
        live_display = sys.stdout.isatty() if display is None else display
        if live_display:
            from contimg.observability import configure_logging

            configure_logging(ctx.settings, console_level="WARNING")
        try:
            service = Service(ctx.settings, ctx.repository, watch=index)
        except ContimgError as exc:
            raise fail_usage(str(exc)) from None
        service.install_signal_handlers()
        service.start()
        try:
            if live_display:
                from rich.live import Live

                with Live(
                    get_renderable=lambda: status_view(service),
                    refresh_per_second=2,
                    redirect_stderr=True,
                    transient=False,
                ):
                    summary = _drive(service, once, until_idle, timeout)
            else:
                summary = _drive(service, once, until_idle, timeout)
        finally:
            service.close()
        if summary.aborted:
            sys.stderr.flush()
            os._exit(EXIT_ABORTED)  # runs still in flight on slot threads: do not join them
        failed = len(summary.failed)
        typer.echo(
            f"watch: {len(summary.finished)} group(s) finished here, {failed} failed"
            + ("; timed out" if summary.timed_out else ""),
            err=True,
        )
        if (once or until_idle) and (failed or summary.timed_out):
            raise typer.Exit(EXIT_FAILED)
        raise typer.Exit(EXIT_OK)


def _drive(service, once: bool, until_idle: bool, timeout: float | None):  # -> ServiceSummary
    if once:
        return service.run_once()
    if until_idle:
        return service.run_until_idle(timeout_s=timeout)
    return service.serve_forever()
