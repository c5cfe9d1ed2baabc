"""The declared workflows, by name.

:data:`WORKFLOWS` maps a name to a factory ``(Settings) -> Workflow``; the CLI
(``contimg run``, ``contimg runs resume|retry``) and the service rebuild a
workflow from the name recorded with its run. Science workflows add one line
here each (:mod:`contimg.workflows.science` declares the science workflows).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from contimg.config.settings import Settings
from contimg.pipeline import ConfigurationError, Runner, RunResult, Workflow
from contimg.state._ingest import GroupState
from contimg.workflows import engine_demo, science

__all__ = ["WORKFLOWS", "WorkflowFactory", "get_workflow", "run_workflow"]

WorkflowFactory = Callable[[Settings], Workflow]

WORKFLOWS: dict[str, WorkflowFactory] = {
    "standard": science.standard,
    "quicklook": science.quicklook,
    "calibrator": science.calibrator,
    "reprocessing": science.reprocessing,
    "mosaic": science.mosaic,
    "engine-demo": engine_demo.build,
}


def get_workflow(name: str, settings: Settings) -> Workflow:
    """Build the workflow registered as ``name``.

    Raises
    ------
    ConfigurationError
        When no workflow has that name (the message lists those that exist).
    """
    try:
        factory = WORKFLOWS[name]
    except KeyError:
        raise ConfigurationError(
            f"unknown workflow {name!r}; known: {', '.join(sorted(WORKFLOWS))}"
        ) from None
    return factory(settings)


def run_workflow(
    runner: Runner, workflow: Workflow, inputs: Mapping[str, Any], *, trigger: str
) -> RunResult:
    """Run a workflow; a group whose conversion did not finish is marked ``failed``.

    The group's state follows its conversion only: a run that fails after the
    MS was registered leaves the group ``converted`` (the run records the failure).
    """
    result = runner.run(workflow, inputs, trigger=trigger)
    group_id = inputs.get("group_id")
    if not result.ok and group_id is not None:
        groups = runner.repository.groups
        group = groups.get_group(group_id)
        if group is not None and group.state is GroupState.CONVERTING:
            errors = [str(s.error) for s in result.stages.values() if s.error is not None]
            groups.set_state(group_id, GroupState.FAILED, error="; ".join(errors) or "run failed")
    return result
