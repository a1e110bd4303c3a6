"""GreenLang Orchestration: durable orchestration for fleets of climate-intelligence agents.

The public API of the quick reference, re-exported here. A name is exported only once it
really works; ``tests/orchestration/test_exports.py`` pins this list.

Names are imported on first use (PEP 562). Every package of ours imports the ground floor,
``orchestration.core``, and Python runs this file before any module under it: an eager
facade would load every layer (the bus, the registry, the workflows) into a process, or a
workflow sandbox, that only wanted an error class or the settings, and would import the
registry while the registry is itself being imported.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from activities.agent import Agent
    from activities.context import ActionContext
    from bus.message import Message, MessageType, Priority
    from bus.message_bus import MessageBus
    from orchestration.clients.pipeline import Pipeline
    from orchestration.clients.saga import SagaOrchestrator
    from orchestration.clients.swarm import SwarmOrchestrator
    from orchestration.core.connections import KafkaConfig
    from orchestration.core.routing import RoutingStrategy
    from orchestration.core.settings import SagaConfig, Settings, SwarmConfig, get_settings
    from registry.agent_registry import AgentRegistry
    from registry.models import AgentDescriptor, ServiceType
    from registry.routing import LoadInfo
    from registry.routing.aggregation import AggregationStrategy
    from registry.routing.router import MessageRouter
    from registry.routing.rules import RouteRule
    from registry.routing.scatter_gather import ScatterGather
    from swarm.scheduling import SwarmBehavior
    from workflows.pipeline_models import ExecutionMode, PipelineConfig, PipelineStage
    from workflows.saga_models import Approval, CompensationStrategy, SagaStep, SagaTransaction
    from workflows.swarm_files import DatasetSource, ResultWriter
    from workflows.swarm_models import SwarmTask

_EXPORTS = {
    "ActionContext": "activities.context",
    "Approval": "workflows.saga_models",
    "Agent": "activities.agent",
    "AggregationStrategy": "registry.routing.aggregation",
    "AgentDescriptor": "registry.models",
    "AgentRegistry": "registry.agent_registry",
    "CompensationStrategy": "workflows.saga_models",
    "DatasetSource": "workflows.swarm_files",
    "KafkaConfig": "orchestration.core.connections",
    "LoadInfo": "registry.routing.types",
    "Message": "bus.message",
    "MessageBus": "bus.message_bus",
    "MessageRouter": "registry.routing.router",
    "MessageType": "bus.message",
    "ExecutionMode": "workflows.pipeline_models",
    "Pipeline": "orchestration.clients.pipeline",
    "PipelineConfig": "workflows.pipeline_models",
    "PipelineStage": "workflows.pipeline_models",
    "Priority": "bus.message",
    "ResultWriter": "workflows.swarm_files",
    "RouteRule": "registry.routing.rules",
    "RoutingStrategy": "orchestration.core.routing",
    "SagaConfig": "orchestration.core.settings",
    "SagaOrchestrator": "orchestration.clients.saga",
    "SagaStep": "workflows.saga_models",
    "SagaTransaction": "workflows.saga_models",
    "ScatterGather": "registry.routing.scatter_gather",
    "ServiceType": "registry.models",
    "Settings": "orchestration.core.settings",
    "SwarmBehavior": "swarm.scheduling",
    "SwarmConfig": "orchestration.core.settings",
    "SwarmOrchestrator": "orchestration.clients.swarm",
    "SwarmTask": "workflows.swarm_models",
    "get_settings": "orchestration.core.settings",
}

__all__ = [
    "ActionContext",
    "Agent",
    "AgentDescriptor",
    "AgentRegistry",
    "AggregationStrategy",
    "Approval",
    "CompensationStrategy",
    "DatasetSource",
    "ExecutionMode",
    "KafkaConfig",
    "LoadInfo",
    "Message",
    "MessageBus",
    "MessageRouter",
    "MessageType",
    "Pipeline",
    "PipelineConfig",
    "PipelineStage",
    "Priority",
    "ResultWriter",
    "RouteRule",
    "RoutingStrategy",
    "SagaConfig",
    "SagaOrchestrator",
    "SagaStep",
    "SagaTransaction",
    "ScatterGather",
    "ServiceType",
    "Settings",
    "SwarmBehavior",
    "SwarmConfig",
    "SwarmOrchestrator",
    "SwarmTask",
    "get_settings",
]

__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'orchestration' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])
