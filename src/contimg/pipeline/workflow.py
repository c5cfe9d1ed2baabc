"""A workflow: stages plus the dependency graph derived from what they need and make.

The graph is validated when the :class:`Workflow` is built, before anything
runs: an input nobody makes, a product made twice, an ``after=`` naming no
stage, or a cycle is a :class:`~contimg.pipeline.errors.DefinitionError`
naming the stages involved.
"""

from __future__ import annotations

import graphlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from contimg.pipeline.errors import DefinitionError
from contimg.pipeline.stage import Stage

__all__ = ["Workflow"]


@dataclass(frozen=True)
class Workflow:
    """A named, validated graph of stages.

    Parameters
    ----------
    name : str
        The workflow's name (recorded with every run; the key of the registry).
    stages : sequence of Stage
        The stages, in any order.
    inputs : mapping of str to type
        The values a run is started with (e.g. ``{"group_id": str}``) and their
        types, used to record them as JSON and read them back on resume.
    description : str
        One line for listings.

    Raises
    ------
    DefinitionError
        On duplicate stage names or products, unknown inputs or ``after``
        targets, or a cycle; the message names the stages.
    """

    name: str
    stages: Sequence[Stage]
    inputs: Mapping[str, Any] = field(default_factory=dict)
    description: str = ""
    #: Stage name -> names of the stages it waits for (derived).
    dependencies: Mapping[str, frozenset[str]] = field(init=False, repr=False, compare=False)
    #: Product name -> name of the stage making it (derived).
    producers: Mapping[str, str] = field(init=False, repr=False, compare=False)
    #: Stage names in a topological order (derived).
    order: tuple[str, ...] = field(init=False, repr=False, compare=False)
    #: Stage name -> names of the stages waiting directly for it (derived).
    children: Mapping[str, tuple[str, ...]] = field(init=False, repr=False, compare=False)
    _by_name: Mapping[str, Stage] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        stages = tuple(self.stages)
        object.__setattr__(self, "stages", stages)
        object.__setattr__(self, "inputs", dict(self.inputs))
        by_name: dict[str, Stage] = {}
        for stage in stages:
            if not isinstance(stage, Stage):
                raise DefinitionError(f"workflow {self.name!r}: {stage!r} is not a Stage")
            if stage.name in by_name:
                raise DefinitionError(
                    f"workflow {self.name!r}: two stages are named {stage.name!r}"
                )
            by_name[stage.name] = stage
        producers: dict[str, str] = {}
        for stage in stages:
            for product in stage.products:
                if product in self.inputs:
                    raise DefinitionError(
                        f"workflow {self.name!r}: stage {stage.name!r} produces {product!r}, "
                        "which is also a workflow input"
                    )
                if product in producers:
                    raise DefinitionError(
                        f"workflow {self.name!r}: product {product!r} is produced by both "
                        f"stage {producers[product]!r} and stage {stage.name!r}"
                    )
                producers[product] = stage.name
        deps: dict[str, frozenset[str]] = {}
        for stage in stages:
            unknown = [n for n in stage.inputs if n not in producers and n not in self.inputs]
            if unknown:
                raise DefinitionError(
                    f"workflow {self.name!r}: stage {stage.name!r} needs {unknown}, which no "
                    f"stage produces and which is not a workflow input "
                    f"(inputs: {sorted(self.inputs)})"
                )
            missing_after = [a for a in stage.after if a not in by_name]
            if missing_after:
                raise DefinitionError(
                    f"workflow {self.name!r}: stage {stage.name!r} runs "
                    f"after unknown stage(s) {missing_after}"
                )
            deps[stage.name] = frozenset(
                {producers[n] for n in stage.inputs if n in producers} | set(stage.after)
            )
        try:
            order = tuple(graphlib.TopologicalSorter(deps).static_order())
        except graphlib.CycleError as exc:
            cycle = exc.args[1]
            raise DefinitionError(
                f"workflow {self.name!r} has a cycle: " + " -> ".join(repr(s) for s in cycle)
            ) from None
        object.__setattr__(self, "dependencies", deps)
        object.__setattr__(self, "producers", producers)
        object.__setattr__(self, "order", order)
        object.__setattr__(self, "_by_name", by_name)
        children: dict[str, list[str]] = {name: [] for name in order}
        for name in order:
            for dep in deps[name]:
                children[dep].append(name)
        object.__setattr__(self, "children", {k: tuple(v) for k, v in children.items()})

    def stage(self, name: str) -> Stage:
        """Return the stage called ``name``."""
        return self._by_name[name]

    def dependants(self, name: str) -> frozenset[str]:
        """Every stage that (transitively) waits for stage ``name``."""
        out: set[str] = set()
        frontier = [name]
        while frontier:
            for child in self.children[frontier.pop()]:
                if child not in out:
                    out.add(child)
                    frontier.append(child)
        return frozenset(out)

    def value_types(self) -> dict[str, Any]:
        """Return the declared type of every value: workflow inputs and stage products."""
        types = dict(self.inputs)
        for stage in self.stages:
            types.update(stage.product_types)
        return types
