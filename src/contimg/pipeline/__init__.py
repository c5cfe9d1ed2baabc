"""The engine: stages, workflows, the runner, executors, retry policies and errors.

A stage author writes a plain function whose parameters name the values it
needs (plus ``config``, ``scratch``, ``log`` if wanted) and wraps it in a
:class:`Stage` naming what it produces; a :class:`Workflow` derives and checks
the graph; a :class:`Runner` runs it and records everything::

    def calibrated_ms(ms: Path, bandpass_table: Path, scratch: Path) -> Path: ...

    wf = Workflow("standard", [Stage("apply", calibrated_ms, produces="calibrated_ms",
                                     retry=RetryPolicy.exponential(3), executor="process"),
                               ...], inputs={"ms": Path, "bandpass_table": Path})
    with Runner(open_repository(url), settings) as runner:
        result = runner.run(wf, {"ms": ..., "bandpass_table": ...})
"""

from contimg.pipeline.errors import (
    ConfigurationError,
    ContimgError,
    DefinitionError,
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
