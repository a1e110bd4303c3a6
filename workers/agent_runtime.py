"""Process entry point for agents: ``orchestration agent package.module:attribute``."""

from __future__ import annotations

import importlib
import os
import sys

from orchestration.agent import Agent
from orchestration.exceptions import AgentError

__all__ = ["load_agent"]


def load_agent(spec: str) -> Agent:
    """Import the ``Agent`` named by ``module:attribute``.

    Raises:
        AgentError: the spec is malformed, the module or attribute is missing, or the
            attribute is not an ``Agent``.
    """
    module_name, sep, attribute = spec.partition(":")
    if not sep or not module_name or not attribute:
        raise AgentError(f"agent spec {spec!r} must look like 'package.module:attribute'")
    # Like uvicorn: modules in the current directory are importable by default.
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise AgentError(f"cannot import {module_name!r} for agent {spec!r}: {exc}") from exc
    found = getattr(module, attribute, None)
    if not isinstance(found, Agent):
        raise AgentError(f"{spec!r} is {type(found).__name__}, not an orchestration Agent")
    return found
