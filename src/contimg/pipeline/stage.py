"""The one definition of a pipeline stage.

How a stage callable is called
------------------------------
The runner calls ``fn`` with **keyword arguments only**:

- every name in :attr:`Stage.needs` gets the value of that name: a workflow
  input or another stage's product. By default ``needs`` is derived from the
  signature: every parameter that is not an injected resource;
- injected resources, by parameter name (ask only for what you use):

  ``config``
      the settings section named by :attr:`Stage.config` (a frozen pydantic
      model; the stage sees only its own section, and its hash is part of the
      run key);
  ``scratch``
      a fresh, empty :class:`~pathlib.Path` directory for this attempt,
      removed when the attempt ends, whatever the outcome;
  ``log``
      a structlog logger bound to ``run_id``, ``stage`` and ``attempt``;
  ``repository``
      the runner's own state repository, for the few stages that read or
      register records. Such stages always run inline, in the runner's
      process: science that needs isolation goes in a stage of its own;
  ``run_id``
      the id of the run the attempt belongs to (for products that record
      the run that made them).

How a stage returns
-------------------
- no products: return ``None``;
- one product: return the value itself;
- several products: return a frozen dataclass or :class:`~typing.NamedTuple`
  whose fields include every product name.

Values are immutable typed values (primitives, :class:`~pathlib.Path`, frozen
dataclasses, NamedTuples, pydantic models, tuples). Annotate the return type:
the annotation is how a resumed run rebuilds the recorded JSON into the same
types (an unannotated product comes back as plain JSON data).

Examples
--------
>>> from pathlib import Path
>>> def image(calibrated_ms: Path, config, scratch: Path) -> Path:
...     return calibrated_ms.with_suffix(".fits")
>>> s = Stage("image", image, produces="image", config="imaging")
>>> s.needs, s.products
(('calibrated_ms',), ('image',))
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import inspect
import json
import re
import typing
from collections.abc import Callable, Mapping
from dataclasses import KW_ONLY, dataclass, field
from typing import Any, Literal

from contimg.pipeline.errors import DefinitionError
from contimg.pipeline.retry import NO_RETRY, RetryPolicy

__all__ = ["INJECTED", "ExecutorKind", "Resources", "Stage", "code_version"]

ExecutorKind = Literal["inline", "process", "dask"]

#: Parameter names the runner fills with resources instead of values.
INJECTED = frozenset({"config", "scratch", "log", "repository", "run_id"})

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.\-]*$")
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass(frozen=True)
class Resources:
    """What one attempt of a stage needs.

    Parameters
    ----------
    cpus : int
        Parallel slots the attempt takes out of ``executor.max_parallel``.
    memory_mb : int, optional
        Expected peak memory. Attempts of one run start only while the memory
        they declare fits the run's budget (the memory available when the run
        started), so two memory-hungry stages do not run side by side; a stage
        asking for more than the budget runs alone.
    scratch_mb : int, optional
        Free space the scratch directory must have; checked before each attempt.
    nice : int
        Niceness added to the attempt's child process (process executor only; 0-19):
        background work, such as a mosaic, then yields the cores to the stages a group's
        latency depends on. Attempts run inline or on Dask keep their process's priority.
    """

    cpus: int = 1
    memory_mb: int | None = None
    scratch_mb: int | None = None
    nice: int = 0

    def __post_init__(self) -> None:
        if self.cpus < 1:
            raise ValueError(f"Resources.cpus must be >= 1, got {self.cpus}")
        if not 0 <= self.nice <= 19:
            raise ValueError(f"Resources.nice must be within 0-19, got {self.nice}")


@functools.cache
def code_version(fn: Callable[..., Any]) -> str:
    """Return a digest of a callable's code: its source, or its bytecode without source."""
    target = inspect.unwrap(fn)
    if isinstance(target, functools.partial):
        return code_version(target.func) + repr((target.args, sorted(target.keywords)))
    try:
        text = inspect.getsource(target).encode()
    except (OSError, TypeError):
        code = getattr(target, "__code__", None)
        text = (code.co_code + repr(code.co_consts).encode()) if code else repr(target).encode()
    return hashlib.sha256(text).hexdigest()[:16]


def _fail(name: str, message: str) -> DefinitionError:
    return DefinitionError(f"stage {name!r}: {message}")


@dataclass(frozen=True)
class Stage:
    """One step of a workflow: a callable plus what it needs, makes and tolerates.

    Parameters
    ----------
    name : str
        Unique within a workflow; used in records, logs and run keys.
    fn : callable
        The work. Called with keyword arguments as the module docstring describes.
    produces : str or tuple of str
        Names of the values it makes (nouns: ``calibrated_ms``, ``image``).
    needs : tuple of str, optional
        Names of the values it takes; default: ``fn``'s non-resource parameters.
    retry : RetryPolicy
        How transient failures are retried (default: never).
    timeout_s : float, optional
        An attempt running longer is ``timed_out`` (inline: the thread is
        abandoned; process: the child is terminated; dask: the future cancelled).
    resources : Resources
        Slots, memory and scratch an attempt needs.
    executor : {"inline", "process", "dask"}, optional
        Where attempts run; ``None`` uses ``executor.kind`` from the settings.
        Memory-hungry or crash-prone stages (CASA) ask for ``"process"``.
    precondition : callable, optional
        Called before each attempt with the subset of the stage's inputs (and
        ``config``) its parameters name; returns ``None`` to go ahead or a
        message to refuse. A refusal fails the stage and is never retried.
    critical : bool
        A failure stops the run (default). A non-critical failure only skips
        the stage's dependants.
    after : tuple of str
        Stages that must finish first although no value flows between them.
    version : str
        Bump to invalidate cached results when behaviour changes outside ``fn``'s
        own source (a science function it calls, say).
    config : str, optional
        The settings section injected as ``config`` (e.g. ``"imaging"``).
    cache : bool
        Whether a new run may reuse a completed attempt with the same run key
        (and existing outputs). Set it to ``False`` for a stage whose point is
        a side effect outside its products (registering, notifying).
    """

    name: str
    fn: Callable[..., Any]
    _: KW_ONLY
    produces: tuple[str, ...] | str = ()
    needs: tuple[str, ...] | None = None
    retry: RetryPolicy = NO_RETRY
    timeout_s: float | None = None
    resources: Resources = Resources()
    executor: ExecutorKind | None = None
    precondition: Callable[..., str | None] | None = None
    critical: bool = True
    after: tuple[str, ...] = ()
    version: str = "1"
    config: str | None = None
    cache: bool = True
    #: Injected resources ``fn`` asks for (derived).
    injected: frozenset[str] = field(init=False, repr=False, compare=False)
    #: Declared type of each product, for the JSON codec (derived; ``Any`` if unannotated).
    product_types: Mapping[str, Any] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        name = self.name
        if not isinstance(name, str) or not _NAME.match(name):
            raise DefinitionError(
                f"stage name {name!r} must start with a letter and use "
                "letters, digits, '_', '-', '.'"
            )
        if not callable(self.fn):
            raise _fail(name, f"fn {self.fn!r} is not callable")
        produces = (self.produces,) if isinstance(self.produces, str) else tuple(self.produces)
        after = (self.after,) if isinstance(self.after, str) else tuple(self.after)
        params = self._parameters()
        takes_kwargs = any(p.kind is p.VAR_KEYWORD for p in params.values())
        injected = frozenset(INJECTED & params.keys())
        derived = tuple(
            n for n in params if n not in INJECTED and params[n].kind is not params[n].VAR_KEYWORD
        )
        if self.needs is None:
            needs = tuple(n for n in derived if params[n].default is params[n].empty)
        else:
            needs = (self.needs,) if isinstance(self.needs, str) else tuple(self.needs)
            unknown = [n for n in needs if n not in params] if not takes_kwargs else []
            if unknown:
                raise _fail(name, f"needs {unknown} but {_qualname(self.fn)} has no such parameter")
            missing = [
                n for n in derived if n not in needs and params[n].default is params[n].empty
            ]
            if missing:
                raise _fail(
                    name,
                    f"parameter(s) {missing} of {_qualname(self.fn)} are neither "
                    f"needs nor injected resources {sorted(INJECTED)}",
                )
        for label, names in (("needs", needs), ("produces", produces)):
            bad = [n for n in names if not _IDENT.match(n) or n in INJECTED]
            if bad:
                raise _fail(
                    name,
                    f"{label} {bad}: value names are identifiers and not one of {sorted(INJECTED)}",
                )
            if len(set(names)) != len(names):
                raise _fail(name, f"{label} lists a name twice: {list(names)}")
        if set(needs) & set(produces):
            raise _fail(name, f"needs and produces share {sorted(set(needs) & set(produces))}")
        if "config" in injected and self.config is None:
            raise _fail(
                name,
                "fn takes 'config' but the stage names no settings section "
                "(Stage(..., config='imaging'))",
            )
        if self.timeout_s is not None and not self.timeout_s > 0:
            raise _fail(name, f"timeout_s must be > 0, got {self.timeout_s}")
        if self.executor not in (None, "inline", "process", "dask"):
            raise _fail(name, f"executor {self.executor!r} is not inline, process or dask")
        if "repository" in injected and self.executor not in (None, "inline"):
            raise _fail(name, f"takes the repository, so it runs inline, not {self.executor!r}")
        if not isinstance(self.retry, RetryPolicy):
            raise _fail(name, f"retry must be a RetryPolicy, got {self.retry!r}")
        if self.precondition is not None:
            if not callable(self.precondition):
                raise _fail(name, "precondition is not callable")
            pre = _signature(self.precondition, name).parameters
            extra = [
                n
                for n in pre
                if n not in needs and n != "config" and pre[n].default is pre[n].empty
            ]
            if extra:
                raise _fail(name, f"precondition takes {extra}, which the stage does not need")
        object.__setattr__(self, "produces", produces)
        object.__setattr__(self, "needs", needs)
        object.__setattr__(self, "after", after)
        object.__setattr__(self, "injected", injected)
        object.__setattr__(self, "product_types", self._product_types(produces))

    # -- derived facts ----------------------------------------------------
    @property
    def products(self) -> tuple[str, ...]:
        """The product names (normalized :attr:`produces`)."""
        return typing.cast(tuple[str, ...], self.produces)

    @property
    def inputs(self) -> tuple[str, ...]:
        """The input value names (normalized :attr:`needs`)."""
        return typing.cast(tuple[str, ...], self.needs)

    def _parameters(self) -> Mapping[str, inspect.Parameter]:
        params = _signature(self.fn, self.name).parameters
        for p in params.values():
            if p.kind in (p.POSITIONAL_ONLY, p.VAR_POSITIONAL):
                raise _fail(
                    self.name,
                    f"parameter {p.name!r} of {_qualname(self.fn)} cannot be "
                    "passed by keyword; stages are called with keywords only",
                )
        return params

    def _product_types(self, produces: tuple[str, ...]) -> Mapping[str, Any]:
        target = self.fn
        while isinstance(target, functools.partial):  # bound keywords keep the return type
            target = target.func
        try:
            hints = typing.get_type_hints(target)
        except Exception:  # unresolvable forward references: fall back to plain JSON values
            hints = {}
        returned = hints.get("return", Any)
        if len(produces) <= 1:
            return {p: returned for p in produces}
        if returned is Any:
            return dict.fromkeys(produces, Any)
        try:
            fields = typing.get_type_hints(returned)
        except Exception:
            fields = {}
        if dataclasses.is_dataclass(returned):
            fields = {f.name: fields.get(f.name, Any) for f in dataclasses.fields(returned)}
        elif not hasattr(returned, "_fields"):
            raise _fail(
                self.name,
                f"returns {returned!r} for several products; return a frozen "
                "dataclass or NamedTuple with one field per product",
            )
        missing = [p for p in produces if p not in fields]
        if missing:
            raise _fail(self.name, f"return type {_qualname(returned)} lacks field(s) {missing}")
        return {p: fields[p] for p in produces}

    # -- what the runner uses ---------------------------------------------
    def split(self, result: Any) -> dict[str, Any]:
        """Map the callable's return value to ``{product: value}``."""
        products = self.products
        if not products:
            if result is not None:
                raise TypeError(
                    f"stage {self.name!r} declares no products but returned {type(result).__name__}"
                )
            return {}
        if len(products) == 1:
            return {products[0]: result}
        missing = [p for p in products if not hasattr(result, p)]
        if missing:
            raise TypeError(
                f"stage {self.name!r} returned {type(result).__name__} without "
                f"product field(s) {missing}"
            )
        return {p: getattr(result, p) for p in products}

    def run_key(self, input_versions: Mapping[str, Any], config_hash: str | None) -> str:
        """Return the deterministic key of an attempt: stage, code, config and input versions.

        Parameters
        ----------
        input_versions : mapping
            One JSON-able version per input (the runner passes the producing
            attempt's run key for a product, :func:`_values.fingerprint` of the
            value for a workflow input: paths as path + size + mtime).
        config_hash : str, optional
            Digest of the settings section the stage is given, if any.

        Returns
        -------
        str
            SHA-256 hex digest; equal keys mean "the same work on the same data".
        """
        payload = {
            "stage": self.name,
            "version": self.version,
            "code": code_version(self.fn),
            "config": config_hash,
            "inputs": dict(input_versions),
        }
        text = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)
        return hashlib.sha256(text.encode()).hexdigest()

    def call_precondition(self, inputs: Mapping[str, Any], config: Any) -> str | None:
        """Run the precondition (if any) with the arguments it names; its message or ``None``."""
        if self.precondition is None:
            return None
        params = inspect.signature(self.precondition).parameters
        available = {**inputs, "config": config}
        return self.precondition(**{n: available[n] for n in params if n in available})


def _signature(fn: Callable[..., Any], name: str) -> inspect.Signature:
    try:
        return inspect.signature(fn)
    except (TypeError, ValueError) as exc:
        raise _fail(name, f"cannot read the signature of {fn!r}: {exc}") from exc


def _qualname(obj: Any) -> str:
    return getattr(obj, "__qualname__", repr(obj))
