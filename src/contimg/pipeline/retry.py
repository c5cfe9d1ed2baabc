"""Retry policy: a frozen value the runner consults after every failed attempt.

A stage never retries itself; the runner asks its policy two questions — *is
this error transient?* (:meth:`RetryPolicy.is_transient`) and *how long until
attempt n+1?* (:meth:`RetryPolicy.delay`) — and records every attempt.
"""

from __future__ import annotations

import errno
from dataclasses import dataclass, field
from typing import Literal

from contimg.pipeline.errors import TransientError

__all__ = ["DEFAULT_TRANSIENT", "IO_ERRNOS", "NO_RETRY", "RetryPolicy", "Strategy"]

Strategy = Literal["none", "immediate", "fixed", "exponential"]

#: Exception classes retried by default: the stage asked for it, or the
#: operating system reported trouble that tends to go away (a dropped
#: connection, a timeout on shared storage, a would-block lock, a signal).
DEFAULT_TRANSIENT: tuple[type[BaseException], ...] = (
    TransientError,
    TimeoutError,
    ConnectionError,
    BlockingIOError,
    InterruptedError,
)

#: ``errno`` values of a plain :class:`OSError` that mean I/O trouble rather
#: than a mistake (missing files and permissions are mistakes: not retried).
IO_ERRNOS: frozenset[int] = frozenset(
    code
    for code in (
        errno.EIO,
        errno.EAGAIN,
        errno.EBUSY,
        errno.ENOLCK,
        errno.ETIMEDOUT,
        getattr(errno, "ESTALE", None),
        getattr(errno, "EREMOTEIO", None),
    )
    if code is not None
)


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how patiently to retry a stage's transient failures.

    Parameters
    ----------
    attempts : int
        Total attempts including the first (1 = never retry).
    strategy : {"none", "immediate", "fixed", "exponential"}
        Delay between attempts: none (no retry at all), immediate (0 s), fixed
        (``initial_delay_s`` every time) or exponential (``initial_delay_s *
        multiplier ** (n - 1)``), always capped at ``max_delay_s``.
    initial_delay_s, max_delay_s : float
        First delay and the cap of every delay, jitter included.
    multiplier : float
        Growth factor of the exponential strategy (>= 1).
    jitter : float
        Up to this fraction of the nominal delay is added at random, so that
        many runs hitting the same lock do not retry in lock-step (0..1).
    transient : tuple of exception classes
        Errors worth retrying. :class:`TypeError` is never retried, whatever is
        listed: it is a programming error, not bad luck.
    transient_errnos : frozenset of int
        ``errno`` values that make any :class:`OSError` transient.

    Examples
    --------
    >>> RetryPolicy.exponential(attempts=4, initial_delay_s=1, max_delay_s=3).delays()
    (1.0, 2.0, 3.0)
    """

    attempts: int = 1
    strategy: Strategy = "none"
    initial_delay_s: float = 1.0
    max_delay_s: float = 60.0
    multiplier: float = 2.0
    jitter: float = 0.0
    transient: tuple[type[BaseException], ...] = DEFAULT_TRANSIENT
    transient_errnos: frozenset[int] = field(default=IO_ERRNOS)

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError(f"RetryPolicy.attempts must be >= 1, got {self.attempts}")
        if self.strategy not in ("none", "immediate", "fixed", "exponential"):
            raise ValueError(
                f"RetryPolicy.strategy {self.strategy!r} is not one of "
                "none, immediate, fixed, exponential"
            )
        if self.strategy == "none" and self.attempts != 1:
            raise ValueError("RetryPolicy with strategy 'none' must have attempts=1")
        if not 0 <= self.initial_delay_s <= self.max_delay_s:
            raise ValueError(
                "RetryPolicy needs 0 <= initial_delay_s <= max_delay_s, got "
                f"{self.initial_delay_s} and {self.max_delay_s}"
            )
        if self.multiplier < 1:
            raise ValueError(f"RetryPolicy.multiplier must be >= 1, got {self.multiplier}")
        if not 0 <= self.jitter <= 1:
            raise ValueError(f"RetryPolicy.jitter must lie in [0, 1], got {self.jitter}")
        for cls in self.transient:
            if issubclass(cls, TypeError):
                raise ValueError(f"{cls.__name__} is a TypeError: never transient")

    # -- constructors -----------------------------------------------------
    @classmethod
    def immediate(
        cls, attempts: int, *, transient: tuple[type[BaseException], ...] = DEFAULT_TRANSIENT
    ) -> RetryPolicy:
        """Retry at once, up to ``attempts`` attempts in all."""
        return cls(attempts=attempts, strategy="immediate", transient=transient)

    @classmethod
    def fixed(
        cls,
        attempts: int,
        delay_s: float,
        *,
        jitter: float = 0.0,
        transient: tuple[type[BaseException], ...] = DEFAULT_TRANSIENT,
    ) -> RetryPolicy:
        """Retry after the same delay every time."""
        return cls(
            attempts=attempts,
            strategy="fixed",
            initial_delay_s=delay_s,
            max_delay_s=delay_s * (1.0 + jitter),
            jitter=jitter,
            transient=transient,
        )

    @classmethod
    def exponential(
        cls,
        attempts: int,
        initial_delay_s: float = 1.0,
        max_delay_s: float = 60.0,
        *,
        multiplier: float = 2.0,
        jitter: float = 0.0,
        transient: tuple[type[BaseException], ...] = DEFAULT_TRANSIENT,
    ) -> RetryPolicy:
        """Retry after delays that grow by ``multiplier`` up to ``max_delay_s``."""
        return cls(
            attempts=attempts,
            strategy="exponential",
            initial_delay_s=initial_delay_s,
            max_delay_s=max_delay_s,
            multiplier=multiplier,
            jitter=jitter,
            transient=transient,
        )

    # -- questions the runner asks ----------------------------------------
    def is_transient(self, exc: BaseException) -> bool:
        """Whether ``exc`` is worth another attempt under this policy."""
        if isinstance(exc, TypeError):
            return False
        if isinstance(exc, self.transient):
            return True
        return isinstance(exc, OSError) and exc.errno in self.transient_errnos

    def should_retry(self, exc: BaseException, attempt: int) -> bool:
        """Whether attempt number ``attempt`` (1-based), which raised ``exc``, gets a successor."""
        return self.strategy != "none" and attempt < self.attempts and self.is_transient(exc)

    def delay(self, attempt: int, jitter_sample: float = 0.0) -> float:
        """Seconds to wait after failed attempt ``attempt`` (1-based) before the next.

        Parameters
        ----------
        attempt : int
            The attempt that just failed (>= 1).
        jitter_sample : float
            A number in [0, 1] (the runner draws it at random); scales the jitter.

        Returns
        -------
        float
            ``min(max_delay_s, nominal * (1 + jitter * jitter_sample))``: never
            negative, never above the cap, and non-decreasing in ``attempt`` for
            a fixed ``jitter_sample``.
        """
        if attempt < 1:
            raise ValueError(f"attempt numbers start at 1, got {attempt}")
        if self.strategy in ("none", "immediate"):
            return 0.0
        if self.strategy == "fixed":
            nominal = self.initial_delay_s
        else:
            # Cap the exponent first: 2.0 ** 5000 overflows a float.
            nominal = self.initial_delay_s
            for _ in range(attempt - 1):
                nominal *= self.multiplier
                if nominal >= self.max_delay_s:
                    break
        return float(min(self.max_delay_s, nominal * (1.0 + self.jitter * jitter_sample)))

    def delays(self) -> tuple[float, ...]:
        """Return the nominal (jitter-free) delays before attempts 2..``attempts``."""
        return tuple(self.delay(n) for n in range(1, self.attempts))


#: The default: one attempt, no retry.
NO_RETRY = RetryPolicy()
