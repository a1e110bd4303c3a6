"""The embedded stack behind ``orchestration up``: Temporal, Kafka, database, worker."""

from __future__ import annotations

from orchestration.stack.stack import EmbeddedStack
from orchestration.stack.up import run_up

__all__ = ["EmbeddedStack", "run_up"]
