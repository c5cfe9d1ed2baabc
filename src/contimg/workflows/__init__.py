"""The declared workflows, by name.

:data:`WORKFLOWS` maps a name to a factory ``(Settings) -> Workflow``; the CLI
(``contimg run``, ``contimg runs resume|retry``) and the service rebuild a
workflow from the name recorded with its run. Science workflows add one line
here each.
"""

from __future__ import annotations

from collections.abc import Callable

from contimg.config.settings import Settings
from contimg.pipeline import ConfigurationError, Workflow
from contimg.workflows import engine_demo

__all__ = ["WORKFLOWS", "WorkflowFactory", "get_workflow"]

WorkflowFactory = Callable[[Settings], Workflow]

WORKFLOWS: dict[str, WorkflowFactory] = {
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
