"""``engine-demo``: a few cheap stages that exercise the engine end to end.

Not science: it draws pseudo-random samples, summarizes and histograms them
in parallel branches, and writes a JSON report. Products go to
``<workdir>/demo/`` and are written to a temporary name and renamed into place.
"""

from __future__ import annotations

import json
import math
import os
import random
from dataclasses import asdict, dataclass
from pathlib import Path

from contimg.config.settings import PathsSettings, Settings
from contimg.pipeline import Stage, Workflow

__all__ = ["Summary", "build", "histogram", "report", "samples", "summary"]


@dataclass(frozen=True)
class Summary:
    """Moments of the samples."""

    n: int
    mean: float
    std: float


def _write_atomically(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_text(text)
    tmp.replace(path)
    return path


def samples(seed: int, count: int, config: PathsSettings) -> Path:
    """Write ``count`` Gaussian samples drawn with ``seed``, one per line."""
    rng = random.Random(seed)
    values = "\n".join(f"{rng.gauss(0.0, 1.0):.9f}" for _ in range(count))
    return _write_atomically(
        config.workdir.absolute() / "demo" / f"samples-{seed}-{count}.txt", values + "\n"
    )


def summary(samples: Path) -> Summary:
    """Return the count, mean and standard deviation of the samples."""
    values = [float(v) for v in samples.read_text().split()]
    mean = sum(values) / len(values)
    var = sum((v - mean) ** 2 for v in values) / max(1, len(values) - 1)
    return Summary(n=len(values), mean=mean, std=math.sqrt(var))


def histogram(samples: Path, config: PathsSettings) -> Path:
    """Write the counts in unit-wide bins from -4 to 4 to a text file."""
    counts = [0] * 8
    for v in (float(x) for x in samples.read_text().split()):
        counts[min(7, max(0, math.floor(v) + 4))] += 1
    lines = [f"{lo:+d} {c}" for lo, c in zip(range(-4, 4), counts, strict=True)]
    return _write_atomically(
        config.workdir.absolute() / "demo" / f"{samples.stem}.hist", "\n".join(lines) + "\n"
    )


def report(summary: Summary, histogram: Path, config: PathsSettings) -> Path:
    """Write a JSON report of the summary and the histogram."""
    body = {"summary": asdict(summary), "histogram": histogram.read_text().split("\n")[:-1]}
    return _write_atomically(
        config.workdir.absolute() / "demo" / f"{histogram.stem}.json", json.dumps(body, indent=2)
    )


def build(settings: Settings) -> Workflow:
    """Build the ``engine-demo`` workflow (the settings only matter at run time)."""
    del settings
    return Workflow(
        "engine-demo",
        [
            Stage("samples", samples, produces="samples", config="paths"),
            Stage("summary", summary, produces="summary"),
            Stage("histogram", histogram, produces="histogram", config="paths"),
            Stage("report", report, produces="report", config="paths"),
        ],
        inputs={"seed": int, "count": int},
        description="Engine demonstration: cheap stages, two parallel branches, a report.",
    )
