"""Imaging stage overhead and WSClean vs tclean time on a ``small``-scale group.

1. Simulate and convert one ``small``-scale group (48 antennas, 12 integrations, 12 channels
   per subband), i.e. a multi-field MS as the pipeline sees it.
2. ``make_image`` (wsclean backend): the whole imaging stage, re-phasing, beam estimate,
   primary beam and quicklook included.
3. The same WSClean command ``make_image`` ran, by hand (subprocess) on the same re-phased MS.
4. ``make_image`` with the tclean backend at the same cell and size.

Prints medians over ``--repeat`` runs; last line ``imaging_stage_overhead=<ratio>``
(stage time / hand-run WSClean time; target <= 1.05).
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from contimg.config.settings import ConversionSettings, ImagingSettings
from contimg.science.convert import convert_group
from contimg.science.image import ImagingPlan, make_image, rephase_ms
from contimg.science.image.msinfo import choose_data_column, summarize_ms
from contimg.science.image.rephase import group_centre
from contimg.science.image.wsclean import wsclean_command
from contimg.science.simulate import (
    DEFAULT_DEC_DEG,
    DEFAULT_START,
    Corruptions,
    simulate_groups,
    strip_sky,
)


def _median_time(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", default="small")
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--niter", type=int, default=2000)
    parser.add_argument("--fov-deg", type=float, default=3.5)
    parser.add_argument("--skip-tclean", action="store_true")
    parser.add_argument(
        "--compare-fov-deg",
        type=float,
        default=None,
        help="Field for the wsclean/tclean comparison (default: --fov-deg); tclean with "
        "w-projection on a full 3.5 deg small-scale field takes tens of minutes on 2 cores.",
    )
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-imaging-") as tmp:
        root = Path(tmp)
        sky = strip_sky(30, DEFAULT_START, 1, DEFAULT_DEC_DEG, seed=1)
        (group,) = simulate_groups(
            root / "incoming",
            scale=args.scale,
            seed=1,
            sky=sky,
            corruptions=Corruptions(noise=True),
        )
        ms = convert_group(
            group.files, root / "ms", root / "scratch", ConversionSettings(writer="fast")
        ).path
        params = ImagingSettings(fov_deg=args.fov_deg, niter=args.niter)

        products = {}

        def stage() -> None:
            shutil.rmtree(root / "images", ignore_errors=True)
            products["w"] = make_image(ms, root / "images", params)

        t_stage = _median_time(stage, args.repeat)
        p = products["w"]
        print(
            f'image: {p.size}x{p.size} px, cell {p.cell_arcsec}", beam '
            f'{p.beam.bmaj_arcsec:.1f}"x{p.beam.bmin_arcsec:.1f}"'
        )

        # The same WSClean command, by hand, on the same re-phased MS.
        summary = summarize_ms(ms)
        rephased = rephase_ms(ms, group_centre(summary.fields), root / "hand" / "rephased.ms")
        plan = ImagingPlan(
            ms=rephased,
            prefix=root / "hand" / "hand",
            size=p.size,
            cell_arcsec=p.cell_arcsec,
            robust=params.robust,
            niter=params.niter,
            mgain=params.mgain,
            auto_mask=params.auto_mask,
            auto_threshold=params.auto_threshold,
            threads=params.threads,
            memory_gb=params.memory_gb,
            data_column=choose_data_column(rephased, params.data_column),
            scratch=root / "hand",
            padding=params.padding,
            gridder=params.gridder,
            wgridder_accuracy=params.wgridder_accuracy,
            baseline_averaging=params.baseline_averaging,
        )
        cmd = wsclean_command(plan)
        t_hand = _median_time(
            lambda: subprocess.run(cmd, check=True, capture_output=True, cwd=root / "hand"),
            args.repeat,
        )
        overhead = t_stage / t_hand
        print(f"make_image (wsclean) median: {t_stage:.2f} s")
        print(f"wsclean by hand median:      {t_hand:.2f} s")

        if not args.skip_tclean:
            fov = args.compare_fov_deg or args.fov_deg
            cparams = params.model_copy(update={"fov_deg": fov, "cell_arcsec": p.cell_arcsec})
            timings = {}
            for backend in ("wsclean", "tclean"):
                bparams = cparams.model_copy(update={"backend": backend})

                def run(bparams: ImagingSettings = bparams, backend: str = backend) -> None:
                    shutil.rmtree(root / backend, ignore_errors=True)
                    make_image(ms, root / backend, bparams)

                timings[backend] = _median_time(run, 1)
                print(f"make_image ({backend}, {fov:g} deg field): {timings[backend]:.2f} s")
            print(f"tclean_over_wsclean={timings['tclean'] / timings['wsclean']:.2f}")
        print(f"imaging_stage_overhead={overhead:.3f}")


if __name__ == "__main__":
    main()
