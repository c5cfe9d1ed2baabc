"""``contimg calibrate``, ``contimg caltables`` and ``contimg catalog``.

- ``calibrate solve MS [--calibrator NAME | --model CSV]``: solve and register a set;
- ``calibrate apply MS``: apply the nearest valid set into CORRECTED_DATA and record it;
- ``caltables list [--json]``: sets with windows, tables, QA and provenance;
- ``catalog import-vla FILE`` and ``catalog list [--json]``: the calibrator catalogue.

Exit codes: 0 success; 1 the work ran and failed (rejected set, no set to apply, applycal
refused); 2 usage, configuration or input error.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from contimg.cli._common import (
    EXIT_FAILED,
    ConfigOpt,
    JsonOpt,
    SetOpt,
    WorkdirOpt,
    cli_context,
    emit_json,
    fail_usage,
)

app = typer.Typer(help="Solve and apply calibration.", no_args_is_help=True)
caltables_app = typer.Typer(help="Calibration table sets.", no_args_is_help=True)
catalog_app = typer.Typer(help="The calibrator catalogue.", no_args_is_help=True)

MsArg = Annotated[Path, typer.Argument(help="Measurement Set.", show_default=False)]


def _check_ms(ms: Path) -> Path:
    if not (ms / "table.dat").is_file():
        raise fail_usage(f"{ms} is not a Measurement Set")
    return ms.absolute()


@app.command("solve")
def solve(
    ms: MsArg,
    calibrator: Annotated[
        str | None, typer.Option("--calibrator", help="Catalogue calibrator name or alias.")
    ] = None,
    model: Annotated[
        Path | None,
        typer.Option("--model", help="Sky-model CSV (name,ra_deg,dec_deg,flux_jy,spectral_index)."),
    ] = None,
    workdir: WorkdirOpt = None,
    config: ConfigOpt = None,
    sets: SetOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Solve bandpass and gains on a calibrator MS and register the set (valid or rejected)."""
    from contimg.science.calibrate import ModelError, solve_calibration
    from contimg.workflows.calibration_steps import NoCalibratorError, register_set, resolve_model

    if calibrator and model:
        raise fail_usage("give --calibrator or --model, not both")
    ms = _check_ms(ms)
    with cli_context(workdir, config, sets, setup_logging=not as_json) as ctx:
        s = ctx.settings
        store = ctx.repository.calibration
        try:
            name, sources, transit = resolve_model(
                store, ms, s.calibration, calibrator=calibrator, model_csv=model
            )
        except (NoCalibratorError, ModelError) as exc:
            raise fail_usage(str(exc).strip("'\"")) from None
        cal_set = solve_calibration(
            ms,
            sources,
            caltables_dir=s.paths.caltables_dir,
            settings=s.calibration,
            calibrator=name,
            transit_time=transit.transit.transit_time if transit and transit.transit else None,
            log_dir=s.paths.logs_dir,
            scratch_dir=s.paths.scratch_dir,
        )
        record = register_set(store, cal_set)
        if as_json:
            emit_json(record)
        else:
            typer.echo(
                f"set {cal_set.set_id}: {cal_set.status.value} ({name}, refant {cal_set.refant})"
            )
            for reason in cal_set.reasons:
                typer.echo(f"  rejected: {reason}")
            for t in cal_set.tables:
                typer.echo(f"  {t.kind.value}: {t.path}")
        if not cal_set.valid:
            raise typer.Exit(EXIT_FAILED)


@app.command("apply")
def apply(
    ms: MsArg,
    workdir: WorkdirOpt = None,
    config: ConfigOpt = None,
    sets: SetOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Apply the nearest valid set (within its window) to an MS into CORRECTED_DATA."""
    from contimg.science.calibrate import ApplyAction, CalTableError
    from contimg.science.calibrate.apply import apply_calibration
    from contimg.workflows.calibration_steps import decide_for_ms, record_application

    ms = _check_ms(ms)
    with cli_context(workdir, config, sets, setup_logging=not as_json) as ctx:
        s = ctx.settings
        store = ctx.repository.calibration
        decision = decide_for_ms(store, ms, s.calibration)
        out: dict[str, object] = {
            "ms": ms,
            "action": decision.action,
            "reason": decision.reason,
            "overlapping": list(decision.overlapping),
        }
        if decision.action is ApplyAction.APPLY and decision.cal_set is not None:
            try:
                result = apply_calibration(
                    ms, decision.cal_set, log_dir=s.paths.logs_dir, scratch_dir=s.paths.scratch_dir
                )
            except CalTableError as exc:
                typer.echo(f"error: {exc}", err=True)
                raise typer.Exit(EXIT_FAILED) from None
            record_application(store, result)
            out["set_id"] = result.set_id
            out["tables"] = list(result.tables)
        if as_json:
            emit_json(out)
        else:
            typer.echo(f"{decision.action.value}: {decision.reason}")
            if decision.overlapping:
                typer.echo(f"  also covering: {', '.join(decision.overlapping)}")
        if decision.action in (ApplyAction.FAIL, ApplyAction.WAIT):
            raise typer.Exit(EXIT_FAILED)


@caltables_app.command("list")
def list_caltables(
    workdir: WorkdirOpt = None,
    config: ConfigOpt = None,
    status: Annotated[
        str | None, typer.Option(help="Only sets with this status (valid, rejected).")
    ] = None,
    limit: Annotated[int, typer.Option(min=1, help="At most this many (newest first).")] = 100,
    as_json: JsonOpt = False,
) -> None:
    """List calibration sets with their windows, tables, QA and provenance."""
    with cli_context(workdir, config, setup_logging=False) as ctx:
        rows = ctx.repository.calibration.list_sets(status=status, limit=limit)
        if as_json:
            emit_json(rows)
            return
        table = Table("set", "calibrator", "status", "refant", "valid from", "valid to", "tables")
        for r in rows:
            table.add_row(
                r.set_id,
                r.calibrator,
                r.status,
                r.refant,
                f"{r.valid_from:%Y-%m-%d %H:%M}",
                f"{r.valid_to:%Y-%m-%d %H:%M}",
                ",".join(t.kind for t in r.tables),
            )
        Console().print(table)


@catalog_app.command("import-vla")
def import_vla(
    file: Annotated[Path, typer.Argument(help="VLA calibrator list (text).", show_default=False)],
    workdir: WorkdirOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Import calibrators from a VLA calibrator list text file into the database."""
    from contimg.science.catalog.vla import VlaListError, parse_vla_calibrator_list
    from contimg.workflows.calibration_steps import calibrator_to_record, catalogue

    try:
        parsed = parse_vla_calibrator_list(file)
    except VlaListError as exc:
        raise fail_usage(str(exc)) from None
    with cli_context(workdir, config, setup_logging=False) as ctx:
        store = ctx.repository.calibration
        catalogue(store)  # seed the built-in list first, so imported rows take precedence
        origin = f"vla:{file.absolute()}"
        records = []
        for cal in parsed.calibrators:
            rec = calibrator_to_record(cal, origin)
            # a source already known under another name (3C286 = 1331+305) is updated, not doubled
            known = store.get_calibrator(cal.name) or store.get_calibrator(cal.j2000_name)
            if known is not None and known.name != rec.name:
                aliases = tuple(dict.fromkeys((*known.aliases, rec.name, *rec.aliases)))
                rec = dataclasses.replace(rec, name=known.name, aliases=aliases)
            records.append(rec)
        n = store.upsert_calibrators(records)
        typer.echo(f"imported {n} calibrators from {file}")
        if parsed.skipped:
            typer.echo(
                f"skipped {len(parsed.skipped)} without a 20 cm flux: {', '.join(parsed.skipped)}"
            )


@catalog_app.command("list")
def list_catalog(
    workdir: WorkdirOpt = None,
    config: ConfigOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """List the calibrator catalogue (seeded with the built-in list on first use)."""
    from contimg.workflows.calibration_steps import catalogue

    with cli_context(workdir, config, setup_logging=False) as ctx:
        store = ctx.repository.calibration
        catalogue(store)
        rows = store.list_calibrators()
        if as_json:
            emit_json(rows)
            return
        table = Table("name", "J2000", "RA", "Dec", "S1.4 (Jy)", "alpha", "origin")
        for r in rows:
            table.add_row(
                r.name,
                r.j2000_name,
                f"{r.ra_deg:.4f}",
                f"{r.dec_deg:+.4f}",
                f"{r.flux_jy:.2f}",
                f"{r.spectral_index:+.2f}",
                r.origin,
            )
        Console().print(table)
