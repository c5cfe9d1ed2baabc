"""RetryPolicy: which errors are transient, and delays bounded and monotone."""

from __future__ import annotations

import errno
import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from contimg.pipeline import RetryPolicy, TransientError


def test_transient_classes_and_io_errnos() -> None:
    policy = RetryPolicy.immediate(3)
    assert policy.is_transient(TransientError("lock"))
    assert policy.is_transient(TimeoutError())
    assert policy.is_transient(ConnectionResetError())
    assert policy.is_transient(OSError(errno.EIO, "I/O error"))
    assert not policy.is_transient(FileNotFoundError(errno.ENOENT, "gone"))
    assert not policy.is_transient(ValueError("bad"))


def test_type_error_is_never_transient() -> None:
    class Both(TypeError, TransientError):
        pass

    assert not RetryPolicy.immediate(3, transient=(Exception,)).is_transient(Both())
    with pytest.raises(ValueError, match="never transient"):
        RetryPolicy.immediate(3, transient=(TypeError,))


def test_exponential_delays_grow_to_the_cap() -> None:
    policy = RetryPolicy.exponential(6, initial_delay_s=0.5, max_delay_s=3)
    assert policy.delays() == (0.5, 1.0, 2.0, 3.0, 3.0)
    assert not policy.should_retry(TransientError(), 6)
    assert policy.should_retry(TransientError(), 5)


def test_strategy_none_means_one_attempt() -> None:
    with pytest.raises(ValueError, match="attempts=1"):
        RetryPolicy(attempts=3, strategy="none")
    assert not RetryPolicy().should_retry(TransientError(), 1)


policies = st.builds(
    lambda strategy, attempts, initial, extra, mult, jitter: RetryPolicy(
        attempts=attempts,
        strategy=strategy,
        initial_delay_s=initial,
        max_delay_s=initial + extra,
        multiplier=mult,
        jitter=jitter,
    ),
    st.sampled_from(["immediate", "fixed", "exponential"]),
    st.integers(1, 60),
    st.floats(0, 100),
    st.floats(0, 1000),
    st.floats(1, 10),
    st.floats(0, 1),
)


@given(policies, st.floats(0, 1))
def test_delays_are_bounded_and_monotone(policy: RetryPolicy, sample: float) -> None:
    delays = [policy.delay(n, sample) for n in range(1, policy.attempts + 5)]
    assert all(0 <= d <= policy.max_delay_s for d in delays)
    assert all(a <= b for a, b in itertools.pairwise(delays))
    nominal = policy.delays()
    assert len(nominal) == policy.attempts - 1
    assert all(a <= b for a, b in itertools.pairwise(nominal))
