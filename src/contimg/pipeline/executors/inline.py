"""Inline executor: the attempt runs in the calling thread of this process."""

from __future__ import annotations

import contextvars
import threading

from contimg.pipeline.executors._attempt import (
    AttemptCall,
    AttemptOutcome,
    execute_attempt,
    timed_out,
)

__all__ = ["InlineExecutor"]


class InlineExecutor:
    """Call the stage directly (the default: no isolation, no overhead).

    A timeout cannot stop Python code running in a thread: when a stage has
    ``timeout_s``, the attempt runs in a daemon thread, is recorded
    ``timed_out`` at the deadline and then abandoned (its late result is
    discarded). Stages that must really be stopped should prefer the process
    executor.
    """

    name = "inline"

    def run(self, call: AttemptCall, timeout_s: float | None) -> AttemptOutcome:
        """Run one attempt and return how it ended."""
        if timeout_s is None:
            return execute_attempt(call)
        box: list[AttemptOutcome] = []
        context = contextvars.copy_context()
        thread = threading.Thread(
            target=lambda: box.append(context.run(execute_attempt, call)),
            name=f"contimg-{call.stage.name}-{call.attempt}",
            daemon=True,
        )
        thread.start()
        thread.join(timeout_s)
        if box:
            return box[0]
        return timed_out(call.stage, timeout_s)

    def close(self) -> None:
        """Nothing to release."""
