"""The engine: stages, workflows, the runner, executors, retry policies and errors.

A stage author writes a plain function whose parameters name the values it
needs (plus ``config``, ``scratch``, ``log`` if wanted) and returns what it
makes; a :class:`Stage` names the products; a :class:`Workflow` derives and
checks the graph; a :class:`Runner` runs it and records everything:

>>> from typing import NamedTuple
>>> from contimg.state import open_repository
>>> class Moments(NamedTuple):
...     mean: float
...     spread: float
>>> def moments(samples: tuple[float, ...]) -> Moments:
...     mean = sum(samples) / len(samples)
...     return Moments(mean, max(samples) - min(samples))
>>> def report(mean: float, spread: float, log) -> str:
...     log.info("report.written", mean=mean)
...     return f"{mean:.1f} +- {spread / 2:.1f}"
>>> wf = Workflow("example", [
...     Stage("moments", moments, produces=("mean", "spread"),
...           retry=RetryPolicy.exponential(3, initial_delay_s=1)),
...     Stage("report", report, produces="report"),
... ], inputs={"samples": tuple[float, ...]})
>>> with open_repository("sqlite:///:memory:") as repo, Runner(repo, log_to_db=False) as runner:
...     result = runner.run(wf, {"samples": (1.0, 2.0, 6.0)})
>>> result.status.value, result.outputs["report"]
('completed', '3.0 +- 2.5')

A stage that is memory-hungry or may crash (CASA) adds ``executor="process"``;
one that needs its settings section adds ``config="imaging"`` and takes a
``config`` parameter; one that needs temporary space takes ``scratch``.
"""

from contimg.pipeline.errors import (
    ConfigurationError,
    ContimgError,
    DefinitionError,
    InputError,
    PreconditionFailed,
    StageCrashed,
    StageError,
    StageTimeout,
    TransientError,
)
from contimg.pipeline.retry import RetryPolicy
from contimg.pipeline.runner import Runner, RunResult, StageSummary
from contimg.pipeline.stage import Resources, Stage
from contimg.pipeline.workflow import Workflow

__all__ = [
    "ConfigurationError",
    "ContimgError",
    "DefinitionError",
    "InputError",
    "PreconditionFailed",
    "Resources",
    "RetryPolicy",
    "RunResult",
    "Runner",
    "Stage",
    "StageCrashed",
    "StageError",
    "StageSummary",
    "StageTimeout",
    "TransientError",
    "Workflow",
]
