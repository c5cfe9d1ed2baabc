"""Observability: structured logs, their database sink, and Prometheus metrics."""

from contimg.observability.logging import (
    attached_sink,
    configure_logging,
    get_logger,
    reset_logging,
)
from contimg.observability.sink import BatchedLogSink, to_log_record

__all__ = [
    "BatchedLogSink",
    "attached_sink",
    "configure_logging",
    "get_logger",
    "reset_logging",
    "to_log_record",
]
