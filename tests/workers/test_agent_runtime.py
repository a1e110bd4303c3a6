"""``orchestration agent SPEC...``: one Agent or lists of them, refused with one clear line."""

from __future__ import annotations

import pytest

from examples.csrd.agents import ALL_AGENTS
from orchestration.core.exceptions import AgentError
from tests.workers.cli import orchestration
from workers.agent_runtime import load_agents


def test_a_list_attribute_and_single_agents_load_together() -> None:
    agents = load_agents(["examples.csrd.agents:ALL_AGENTS", "examples.hello_agent:agent"])
    assert [a.agent_id for a in agents] == [*(a.agent_id for a in ALL_AGENTS), "agent-hello"]


@pytest.mark.parametrize(
    ("specs", "message"),
    [
        (["examples.hello_agent:agent", "examples.hello_agent:agent"], "named more than once"),
        (["examples.hello_agent:nothing"], r"has no attribute 'nothing' \(its agents: agent\)"),
        (["examples.hello_agent:__name__"], "is str, not an orchestration Agent"),
        (["examples.csrd.agents:__all__"], "not only Agents"),
        (["no_such_module:agent"], "cannot import 'no_such_module'"),
    ],
)
def test_bad_specs_are_refused(specs: list[str], message: str) -> None:
    with pytest.raises(AgentError, match=message):
        load_agents(specs)


async def test_the_cli_exits_2_with_one_line_for_a_bad_spec() -> None:
    result = await orchestration("agent", "examples.hello_agent:nothing")
    assert result.code == 2
    assert result.stderr.count("\n") == 1
    assert "module 'examples.hello_agent' has no attribute 'nothing'" in result.stderr
