"""The public API is pinned: a name appears here only once it really works."""

from __future__ import annotations

import orchestration

EXPECTED = {
    "ActionContext",
    "Approval",
    "Agent",
    "AggregationStrategy",
    "AgentDescriptor",
    "AgentRegistry",
    "CompensationStrategy",
    "DatasetSource",
    "KafkaConfig",
    "LoadInfo",
    "Message",
    "MessageBus",
    "MessageRouter",
    "MessageType",
    "ExecutionMode",
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
}


def test_the_export_list_is_exactly_the_pinned_one() -> None:
    assert set(orchestration.__all__) == EXPECTED
    assert len(orchestration.__all__) == len(EXPECTED)


def test_every_exported_name_resolves() -> None:
    for name in orchestration.__all__:
        assert getattr(orchestration, name) is not None, name


def test_the_seed_error_classes_import_from_orchestration_exceptions() -> None:
    from orchestration.core.exceptions import (
        MessageBusError,
        OrchestrationError,
        RegistryError,
        RoutingError,
        SagaCompensationError,
    )

    for error in (MessageBusError, RoutingError, SagaCompensationError, RegistryError):
        assert issubclass(error, OrchestrationError)


def test_the_lazy_export_table_names_every_exported_name() -> None:
    from orchestration import _EXPORTS

    assert set(_EXPORTS) == set(orchestration.__all__)
