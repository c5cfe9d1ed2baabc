"""Stage and workflow definitions are checked before anything runs."""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from contimg.pipeline import DefinitionError, Stage, Workflow


class Split(NamedTuple):
    left: Path
    right: int


def make_image(calibrated_ms: Path, config, scratch: Path, log) -> Path:
    return calibrated_ms


def split(x: int) -> Split:
    return Split(Path("a"), x)


def test_needs_are_the_non_resource_parameters() -> None:
    stage = Stage("image", make_image, produces="image", config="imaging")
    assert stage.inputs == ("calibrated_ms",)
    assert stage.products == ("image",)
    assert stage.injected == frozenset({"config", "scratch", "log"})
    assert stage.product_types == {"image": Path}


def test_multi_product_stage_takes_types_from_its_namedtuple() -> None:
    stage = Stage("split", split, produces=("left", "right"))
    assert stage.product_types == {"left": Path, "right": int}
    assert stage.split(Split(Path("p"), 3)) == {"left": Path("p"), "right": 3}


def test_multi_product_return_type_must_have_the_fields() -> None:
    with pytest.raises(DefinitionError, match=r"stage 'split'.*lacks field\(s\) \['other'\]"):
        Stage("split", split, produces=("left", "other"))


def test_config_parameter_needs_a_section() -> None:
    with pytest.raises(DefinitionError, match=r"stage 'image'.*settings section"):
        Stage("image", make_image, produces="image")


def test_explicit_needs_must_match_the_signature() -> None:
    with pytest.raises(DefinitionError, match=r"stage 's'.*needs \['y'\]"):
        Stage("s", split, needs=("y",), produces=("left", "right"))


def test_positional_only_parameters_are_refused() -> None:
    def f(x, /):
        return x

    with pytest.raises(DefinitionError, match="keywords only"):
        Stage("f", f, produces="y")


def _stage(name: str, needs: tuple[str, ...], produces: tuple[str, ...], after=()) -> Stage:
    def fn(**kwargs):
        return None

    return Stage(name, fn, needs=needs, produces=produces, after=after)


def test_unknown_input_is_refused_naming_the_stage() -> None:
    with pytest.raises(DefinitionError, match=r"stage 'image' needs \['calibrated_ms'\]"):
        Workflow(
            "w",
            [_stage("convert", ("group",), ("ms",)), _stage("image", ("calibrated_ms",), ("img",))],
            inputs={"group": str},
        )


def test_duplicate_product_is_refused_naming_both_stages() -> None:
    with pytest.raises(DefinitionError, match="'ms' is produced by both stage 'a' and stage 'b'"):
        Workflow("w", [_stage("a", (), ("ms",)), _stage("b", (), ("ms",))])


def test_cycle_is_refused_naming_the_stages() -> None:
    with pytest.raises(DefinitionError, match="cycle") as info:
        Workflow(
            "w",
            [_stage("a", ("z",), ("x",)), _stage("b", ("x",), ("y",)), _stage("c", ("y",), ("z",))],
        )
    message = str(info.value)
    assert all(f"'{name}'" in message for name in "abc")


def test_after_adds_an_edge_and_must_name_a_stage() -> None:
    wf = Workflow("w", [_stage("a", (), ("x",)), _stage("b", (), ("y",), after=("a",))])
    assert wf.dependencies["b"] == {"a"}
    with pytest.raises(DefinitionError, match=r"stage 'b' runs after unknown stage\(s\) \['q'\]"):
        Workflow("w", [_stage("a", (), ("x",)), _stage("b", (), ("y",), after=("q",))])


def test_duplicate_stage_names_are_refused() -> None:
    with pytest.raises(DefinitionError, match="two stages are named 'a'"):
        Workflow("w", [_stage("a", (), ("x",)), _stage("a", (), ("y",))])


@st.composite
def dags(draw: st.DrawFn) -> list[Stage]:
    """Random DAGs: stage i may need products of stages j < i, listed in a shuffled order."""
    n = draw(st.integers(1, 12))
    stages = []
    for i in range(n):
        needs = draw(st.sets(st.integers(0, i - 1), max_size=3)) if i else set()
        after = draw(st.sets(st.integers(0, i - 1), max_size=2)) if i else set()
        stages.append(
            _stage(
                f"s{i}",
                tuple(f"v{j}" for j in sorted(needs)),
                (f"v{i}",),
                after=tuple(f"s{j}" for j in sorted(after)),
            )
        )
    return draw(st.permutations(stages))


@settings(max_examples=60, deadline=None)
@given(dags())
def test_topological_order_respects_every_edge(stages: list[Stage]) -> None:
    wf = Workflow("random", stages)
    position = {name: i for i, name in enumerate(wf.order)}
    assert sorted(position) == sorted(s.name for s in stages)
    for stage in stages:
        for dep in wf.dependencies[stage.name]:
            assert position[dep] < position[stage.name]
        for need in stage.inputs:
            assert position[wf.producers[need]] < position[stage.name]
