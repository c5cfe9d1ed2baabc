"""``contimg simulate``: write DSA-110-style UVH5 subband files with a known sky.

Exit codes: 0 the groups were written; 2 usage or input error (the message names the
option, file or value).
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from contimg.cli._common import (
    ConfigOpt,
    JsonOpt,
    SetOpt,
    WorkdirOpt,
    cli_context,
    emit_json,
    fail_usage,
)

__all__ = ["simulate"]

#: Random sources added when the user gives neither --sources nor --calibrator.
_DEFAULT_RANDOM = 10


def _pairs(values: list[str] | None, option: str) -> tuple[tuple[int, int], ...]:
    """Parse ``G:SB`` (group index, subband) values; a bare ``SB`` means group 0."""
    out = []
    for text in values or []:
        parts = text.split(":")
        try:
            g, sb = (0, int(parts[0])) if len(parts) == 1 else (int(parts[0]), int(parts[1]))
        except (ValueError, IndexError):
            raise fail_usage(f"{option}: expected GROUP:SUBBAND (e.g. 1:7), got {text!r}") from None
        if len(parts) > 2 or g < 0 or not 0 <= sb <= 99:
            raise fail_usage(f"{option}: expected GROUP:SUBBAND (e.g. 1:7), got {text!r}")
        out.append((g, sb))
    return tuple(out)


def _start(text: str | None) -> datetime | None:
    if text is None:
        return None
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise fail_usage(f"--start: not an ISO time: {text!r}") from None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def simulate(
    outdir: Annotated[Path, typer.Argument(help="Directory the subband files are written to.")],
    start: Annotated[
        str | None,
        typer.Option(
            "--start",
            help="UTC start of the first group (ISO). Default: around the calibrator's "
            "transit on 2025-10-17, else 2025-10-17T14:30:00.",
            show_default=False,
        ),
    ] = None,
    groups: Annotated[int, typer.Option("--groups", min=1, help="Consecutive groups.")] = 1,
    dec: Annotated[
        float | None,
        typer.Option(
            "--dec",
            min=-90,
            max=90,
            help="Pointing declination (apparent), degrees [default: 54.57, the 0834+555 strip].",
            show_default=False,
        ),
    ] = None,
    sources: Annotated[
        Path | None,
        typer.Option(
            "--sources",
            help="Sky-model CSV (name,ra_deg,dec_deg,flux_jy,spectral_index; an optional "
            "flux_by_group column 'f0;f1;...' varies a source between groups).",
            show_default=False,
        ),
    ] = None,
    n_random: Annotated[
        int | None,
        typer.Option(
            "--random",
            min=0,
            help=f"Random sources along the strip (default {_DEFAULT_RANDOM} when neither "
            "--sources nor --calibrator is given, else 0).",
            show_default=False,
        ),
    ] = None,
    calibrator: Annotated[
        str | None,
        typer.Option(
            "--calibrator", help="Built-in calibrator to add (e.g. 0834+555).", show_default=False
        ),
    ] = None,
    scale: Annotated[str, typer.Option("--scale", help="test, small or full.")] = "test",
    seed: Annotated[int, typer.Option("--seed", help="Seed of every random choice.")] = 0,
    corrupt: Annotated[
        bool, typer.Option("--corrupt", help="All of --gains --bandpass --noise --rfi.")
    ] = False,
    gains: Annotated[bool, typer.Option("--gains", help="Antenna gains with slow drift.")] = False,
    bandpass: Annotated[
        bool, typer.Option("--bandpass", help="Antenna bandpasses (delay, ripple).")
    ] = False,
    noise: Annotated[bool, typer.Option("--noise", help="Thermal noise.")] = False,
    sefd: Annotated[
        float | None,
        typer.Option(
            "--sefd",
            min=0,
            help="SEFD for the noise, Jy (default: instrument.sefd_jy).",
            show_default=False,
        ),
    ] = None,
    sigma: Annotated[
        float | None,
        typer.Option(
            "--sigma",
            min=0,
            help="Per-visibility noise sigma, Jy (overrides --sefd).",
            show_default=False,
        ),
    ] = None,
    rfi: Annotated[bool, typer.Option("--rfi", help="RFI spikes, a channel, a burst.")] = False,
    missing: Annotated[
        list[str] | None,
        typer.Option(
            "--missing-subband",
            help="Leave out GROUP:SUBBAND (repeatable; a bare SUBBAND: group 0).",
            show_default=False,
        ),
    ] = None,
    truncated: Annotated[
        list[str] | None,
        typer.Option(
            "--truncate",
            help="Cut GROUP:SUBBAND's file short (repeatable; a bare SUBBAND: group 0).",
            show_default=False,
        ),
    ] = None,
    jitter: Annotated[
        float | None,
        typer.Option(
            "--jitter",
            min=0,
            help="File-name jitter, s (default: instrument.timestamp_jitter_s).",
            show_default=False,
        ),
    ] = None,
    workdir: WorkdirOpt = None,
    config: ConfigOpt = None,
    sets: SetOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Write groups of 16 UVH5 subband files (and a <group_id>_truth.json each) to OUTDIR."""
    from contimg.instrument import Instrument, StationFileError
    from contimg.science.catalog import CalibratorNotFoundError, get_calibrator
    from contimg.science.simulate import (
        DEFAULT_DEC_DEG,
        SCALES,
        Corruptions,
        default_start,
        read_flux_by_group,
        simulate_groups,
        strip_sky,
    )
    from contimg.science.skymodel import SkyModel, SkyModelError, read_sky_model

    if dec is None:
        dec = DEFAULT_DEC_DEG
    if scale not in SCALES:
        raise fail_usage(f"--scale: expected one of {', '.join(SCALES)}, got {scale!r}")
    t0 = _start(start)
    corruptions = Corruptions(
        gains=gains or corrupt,
        bandpass=bandpass or corrupt,
        noise=noise or corrupt or sefd is not None or sigma is not None,
        sefd_jy=sefd,
        noise_sigma_jy=sigma,
        rfi=rfi or corrupt,
        missing_subbands=_pairs(missing, "--missing-subband"),
        truncated_files=_pairs(truncated, "--truncate"),
    )
    err = Console(stderr=True)
    with cli_context(workdir, config, sets) as ctx:
        try:
            instrument = Instrument.from_settings(ctx.settings.instrument)
        except StationFileError as exc:
            raise fail_usage(f"instrument.station_file: {exc}") from None
        try:
            cal = get_calibrator(calibrator) if calibrator else None
        except CalibratorNotFoundError as exc:
            raise fail_usage(f"--calibrator: {exc}") from None
        sky = SkyModel()
        flux_by_group = None
        if sources is not None:
            try:
                sky = read_sky_model(sources)
                flux_by_group = read_flux_by_group(sources) or None
            except SkyModelError as exc:
                raise fail_usage(f"--sources: {exc}") from None
        if t0 is None:
            t0 = default_start(cal, groups, scale, instrument)
        n = (
            n_random
            if n_random is not None
            else (_DEFAULT_RANDOM if sources is None and cal is None else 0)
        )
        if n:
            sky = sky + strip_sky(n, t0, groups, dec, seed=seed, instrument=instrument)
        progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            TextColumn("{task.percentage:>3.0f}%"),
            TimeElapsedColumn(),
            console=err,
            transient=True,
            disable=as_json,
        )
        with progress:
            task = progress.add_task(f"simulating {groups} group(s), {scale} scale", total=None)

            def advance(done: int, total: int) -> None:
                progress.update(task, completed=done, total=total)

            written = simulate_groups(
                outdir,
                t0,
                groups,
                dec,
                sky,
                cal,
                scale,
                seed,
                corruptions,
                flux_by_group=flux_by_group,
                instrument=instrument,
                jitter_s=jitter,
                progress=advance,
            )
        rows: list[dict[str, Any]] = [
            {
                "group_id": g.group_id,
                "files": [str(p.absolute()) for p in g.files],
                "truth": str(g.truth_path.absolute()),
                "missing_subbands": list(g.missing_subbands),
                "truncated_subbands": list(g.truncated_subbands),
                "seconds": round(g.seconds, 2),
            }
            for g in written
        ]
        if as_json:
            emit_json(rows)
            return
        table = Table("group", "files", "missing", "truncated", "seconds")
        for r in rows:
            table.add_row(
                r["group_id"],
                str(len(r["files"])),
                ",".join(f"sb{k:02d}" for k in r["missing_subbands"]) or "-",
                ",".join(f"sb{k:02d}" for k in r["truncated_subbands"]) or "-",
                f"{r['seconds']:.1f}",
            )
        Console().print(table)
        Console().print(
            f"{len(sky)} source(s){' + ' + cal.name if cal else ''} -> {Path(outdir).absolute()}"
        )
