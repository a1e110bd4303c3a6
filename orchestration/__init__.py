"""GreenLang Orchestration: durable orchestration for fleets of climate-intelligence agents.

The public API of the quick reference, re-exported here. A name is exported only once it
really works; ``tests/orchestration/test_exports.py`` pins this list.
"""

from __future__ import annotations

from bus.message import Message, MessageType, Priority
from orchestration.agent import ActionContext, Agent
from orchestration.saga import SagaOrchestrator
from orchestration.settings import KafkaConfig, SagaConfig, Settings, SwarmConfig, get_settings
from registry.agent_registry import AgentRegistry
from registry.models import AgentDescriptor, ServiceType
from registry.router import MessageRouter, RouteRule
from registry.routing import LoadInfo, RoutingStrategy
from workflows.saga_models import CompensationStrategy, SagaStep, SagaTransaction

__all__ = [
    "ActionContext",
    "Agent",
    "AgentDescriptor",
    "AgentRegistry",
    "CompensationStrategy",
    "KafkaConfig",
    "LoadInfo",
    "Message",
    "MessageRouter",
    "MessageType",
    "Priority",
    "RouteRule",
    "RoutingStrategy",
    "SagaConfig",
    "SagaOrchestrator",
    "SagaStep",
    "SagaTransaction",
    "ServiceType",
    "Settings",
    "SwarmConfig",
    "get_settings",
]

__version__ = "0.1.0"
