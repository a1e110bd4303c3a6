from __future__ import annotations

import pydantic
import pytest

from orchestration.core.validation import task_queue_for
from registry.models import AgentDescriptor, ServiceType


def test_the_task_queue_is_the_agent_id_unless_the_endpoint_names_one() -> None:
    assert task_queue_for("agent-1") == "agent-1"
    assert task_queue_for("agent-1", "tcp://10.0.1.50:5000") == "agent-1"
    assert task_queue_for("agent-1", "temporal://calculators") == "calculators"
    descriptor = AgentDescriptor(agent_id="a", agent_type="T", endpoint="temporal://q")
    assert descriptor.task_queue == "q"


def test_the_seed_descriptor_is_valid() -> None:
    descriptor = AgentDescriptor(
        agent_id="agent-calculator-001",
        agent_type="CarbonCalculatorAgent",
        version="2.1.0",
        capabilities=["carbon_calculation", "scope3_emissions", "carbon_calculation"],
        service_types=[ServiceType.COMPUTATION],
        endpoint="tcp://10.0.1.50:5000",
        tags=["production", "us-east-1"],
    )
    assert descriptor.capabilities == ["carbon_calculation", "scope3_emissions"]
    assert AgentDescriptor.model_validate_json(descriptor.model_dump_json()) == descriptor


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("agent_id", ""),
        ("agent_id", "agent one"),
        ("agent_id", "x" * 201),
        ("version", "latest"),
        ("endpoint", "not-a-url"),
        ("endpoint", "temporal://"),
        ("capabilities", ["ok", "bad name"]),
    ],
)
def test_invalid_descriptors_name_the_field(field: str, value: object) -> None:
    fields: dict[str, object] = {"agent_id": "a", "agent_type": "T", field: value}
    with pytest.raises(pydantic.ValidationError) as info:
        AgentDescriptor.model_validate(fields)
    assert field in str(info.value)
