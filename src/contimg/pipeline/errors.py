"""The engine's one error hierarchy.

Three kinds of failure, each handled in exactly one way by the runner:

- **Definition, configuration and input errors** (:class:`DefinitionError`,
  :class:`ConfigurationError`, :class:`InputError`) are mistakes in the
  workflow, the settings or a run's inputs.
  They are raised before anything runs, are never retried, and make the CLI
  exit with code 2.
- **Stage errors** (:class:`StageError` and its subclasses) describe a stage
  attempt that did not complete: the code raised (status ``failed``), ran past
  its timeout (``timed_out``), its process died (``crashed``) or its
  precondition refused (``failed``, never retried). They keep the original
  exception's type name, message and traceback text, which survive a process
  boundary where the exception object itself may not.
- **Transient errors** (:class:`TransientError`, and whatever a
  :class:`~contimg.pipeline.retry.RetryPolicy` lists) are the only ones retried.
"""

from __future__ import annotations

from contimg.config import ConfigError

__all__ = [
    "ConfigurationError",
    "ContimgError",
    "DefinitionError",
    "InputError",
    "PreconditionFailed",
    "StageCrashed",
    "StageError",
    "StageTimeout",
    "TransientError",
    "qualified_name",
]


class ContimgError(Exception):
    """Base of every error the engine raises or records."""

    #: Exit code of the command line when this error ends a command.
    exit_code: int = 1


class DefinitionError(ContimgError):
    """A stage or workflow definition is invalid (unknown input, cycle, bad signature...)."""

    exit_code = 2


class InputError(ContimgError):
    """A run's inputs are missing, unknown or not of the workflow's declared types."""

    exit_code = 2


class ConfigurationError(ContimgError, ConfigError):
    """The settings cannot serve a run (missing section, unusable executor...).

    Also a :class:`contimg.config.ConfigError`, so commands that already turn
    configuration errors into exit code 2 handle it without knowing the engine.
    """

    exit_code = 2


class TransientError(ContimgError):
    """Raise from a stage to say: this may work if tried again (lock, I/O hiccup)."""


class StageError(ContimgError):
    """A stage attempt did not complete.

    Parameters
    ----------
    stage : str
        The stage's name.
    error_type : str
        Qualified name of the original exception type (or of this class).
    message : str
        The original message.
    traceback : str, optional
        The original traceback as text (kept across process boundaries).
    """

    def __init__(self, stage: str, error_type: str, message: str, traceback: str | None = None):
        super().__init__(f"stage {stage!r} failed: {error_type}: {message}")
        self.stage = stage
        self.error_type = error_type
        self.message = message
        self.traceback = traceback

    @classmethod
    def from_exception(cls, stage: str, exc: BaseException) -> StageError:
        """Wrap an exception raised by a stage, keeping its traceback text and cause."""
        import traceback as _tb

        text = "".join(_tb.format_exception(exc))
        error = cls(stage, qualified_name(type(exc)), str(exc), text)
        error.__cause__ = exc
        return error


def qualified_name(cls: type) -> str:
    """Return ``module.Name`` for an exception class (bare name for builtins)."""
    module = cls.__module__
    return cls.__qualname__ if module == "builtins" else f"{module}.{cls.__qualname__}"


class StageTimeout(StageError):
    """A stage attempt ran past its ``timeout_s``."""

    def __init__(self, stage: str, timeout_s: float):
        super().__init__(stage, "StageTimeout", f"no result after {timeout_s:g} s")
        self.timeout_s = timeout_s


class StageCrashed(StageError):
    """The process or worker running an attempt died without returning a result.

    Parameters
    ----------
    stage : str
        The stage's name.
    exitcode : int, optional
        The child's exit code; negative for a signal, as :mod:`multiprocessing` reports.
    detail : str, optional
        What else is known (e.g. a Dask ``KilledWorker`` message).
    """

    def __init__(self, stage: str, exitcode: int | None = None, detail: str = ""):
        self.exitcode = exitcode
        self.signal = -exitcode if exitcode is not None and exitcode < 0 else None
        if self.signal is not None:
            import signal as _signal

            try:
                name = _signal.Signals(self.signal).name
            except ValueError:
                name = str(self.signal)
            message = f"killed by signal {self.signal} ({name})"
        elif exitcode is not None:
            message = f"exited with code {exitcode} without a result"
        else:
            message = "worker died without a result"
        if detail:
            message = f"{message}: {detail}"
        super().__init__(stage, "StageCrashed", message)


class PreconditionFailed(StageError):
    """A stage's precondition refused to let it run (never retried)."""

    def __init__(self, stage: str, message: str):
        super().__init__(stage, "PreconditionFailed", message)
