"""The quick reference's AgentRegistry section, line by line, in-process."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestration import AgentDescriptor, AgentRegistry, ServiceType, Settings
from orchestration.core.exceptions import AgentNotFoundError


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(_env_file=None, state_dir=tmp_path)


async def test_the_quick_reference_registry_section_works(settings: Settings) -> None:
    registry = AgentRegistry(
        None,
        heartbeat_interval_seconds=30,
        health_check_interval_seconds=60,
        deregistration_timeout_seconds=300,
        settings=settings,
    )
    await registry.initialize()
    try:
        assert not registry.remote
        descriptor = AgentDescriptor(
            agent_id="agent-calculator-001",
            agent_type="CarbonCalculatorAgent",
            version="2.1.0",
            capabilities=["carbon_calculation", "scope3_emissions"],
            service_types=[ServiceType.COMPUTATION],
            endpoint="tcp://10.0.1.50:5000",
            tags=["production", "us-east-1"],
        )
        await registry.register(descriptor)
        await registry.heartbeat(
            "agent-calculator-001", {"cpu_usage": 0.45, "error_rate": 0.01, "response_time_ms": 234}
        )
        agents = await registry.discover(
            capabilities=["carbon_calculation"],
            service_types=[ServiceType.COMPUTATION],
            min_health_score=0.8,
            location_preference="us-east-1",
            max_results=10,
        )
        assert [a.descriptor.agent_id for a in agents] == ["agent-calculator-001"]
        agent = await registry.get_agent("agent-calculator-001")
        assert agent.health_score >= 0.8
        assert agent.status == "active"
        assert agent.descriptor == descriptor
    finally:
        await registry.close()


async def test_an_unknown_agent_is_a_clear_error(settings: Settings) -> None:
    async with AgentRegistry(None, settings=settings) as registry:
        with pytest.raises(AgentNotFoundError, match="agent-nobody"):
            await registry.heartbeat("agent-nobody", {"cpu_usage": 0.1})
        with pytest.raises(AgentNotFoundError):
            await registry.get_agent("agent-nobody")
        assert await registry.list_agents() == []
