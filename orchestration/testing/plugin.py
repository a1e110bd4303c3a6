"""The pytest plugin: re-exports the fixtures of this package."""

from __future__ import annotations

from orchestration.testing.database import *  # noqa: F403
from orchestration.testing.kafka import *  # noqa: F403
from orchestration.testing.temporal import *  # noqa: F403
