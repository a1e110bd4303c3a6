from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio

from activities.ledger import ActionLedger
from orchestration.core.exceptions import LedgerConflictError, ValidationError
from registry.store.migrations import current_revision, revisions
from registry.store.tables import ActionLedgerEntry


class Boom(Exception):
    pass


@pytest_asyncio.fixture
async def ledger(migrated_database_url: str) -> AsyncIterator[ActionLedger]:
    async with await ActionLedger.open(migrated_database_url) as opened:
        yield opened


@pytest.fixture
def key() -> str:
    return f"wf-{uuid.uuid4().hex}/activity-1"


@pytest.fixture
def agent() -> str:
    return f"agent-{uuid.uuid4().hex[:12]}"


async def test_once_applies_the_effect_once_across_repeated_calls_with_the_same_key(
    ledger: ActionLedger, key: str, agent: str
) -> None:
    effects = 0
    results = []
    for _ in range(3):
        async with ledger.once(key, agent_id=agent, action="collect") as tx:
            if not tx.done:
                effects += 1
                tx.set_result({"rows": 3})
        results.append(tx.result)

    assert effects == 1
    assert results == [{"rows": 3}] * 3
    assert [record.key for record in await ledger.entries(agent_id=agent)] == [key]


async def test_once_commits_the_callers_own_writes_together_with_the_ledger_row(
    ledger: ActionLedger, key: str, agent: str
) -> None:
    async with ledger.once(key, agent_id=agent, action="collect") as tx:
        # The caller's own database effect, written through the transaction's session.
        tx.session.add(
            ActionLedgerEntry(idempotency_key=f"{key}/effect", agent_id=agent, action="effect")
        )

    assert await ledger.get(key) is not None
    assert await ledger.get(f"{key}/effect") is not None


async def test_a_raising_block_leaves_no_row_and_rolls_back_the_callers_writes(
    ledger: ActionLedger, key: str, agent: str
) -> None:
    with pytest.raises(Boom):
        async with ledger.once(key, agent_id=agent, action="collect") as tx:
            tx.session.add(
                ActionLedgerEntry(idempotency_key=f"{key}/effect", agent_id=agent, action="effect")
            )
            tx.set_result("never stored")
            raise Boom

    assert await ledger.get(key) is None
    assert await ledger.get(f"{key}/effect") is None
    async with ledger.once(key, agent_id=agent, action="collect") as retry:
        assert not retry.done


async def test_run_once_returns_the_stored_result_without_running_again(
    ledger: ActionLedger, key: str, agent: str
) -> None:
    calls = 0

    async def compute() -> dict[str, Any]:
        nonlocal calls
        calls += 1
        return {"total_kg_co2e": 12.5, "call": calls}

    first = await ledger.run_once(key, agent_id=agent, action="calculate", fn=compute)
    second = await ledger.run_once(key, agent_id=agent, action="calculate", fn=compute)

    assert first == second == {"total_kg_co2e": 12.5, "call": 1}
    assert calls == 1


async def test_run_once_returns_results_as_they_are_stored_in_json(
    ledger: ActionLedger, key: str, agent: str
) -> None:
    async def compute() -> tuple[int, None]:
        return (1, None)

    first = await ledger.run_once(key, agent_id=agent, action="calculate", fn=compute)
    record = await ledger.get(key)

    assert first == [1, None]
    assert record is not None and record.result == [1, None]


async def test_a_none_result_is_stored_and_still_counts_as_done(
    ledger: ActionLedger, key: str, agent: str
) -> None:
    async with ledger.once(key, agent_id=agent, action="notify"):
        pass

    async with ledger.once(key, agent_id=agent, action="notify") as tx:
        assert tx.done
        assert tx.result is None


async def test_concurrent_run_once_with_the_same_key_stores_one_result_for_both_callers(
    ledger: ActionLedger, key: str, agent: str
) -> None:
    # Both calls are inside fn at the same time, so both miss the ledger and race to insert.
    both_running = asyncio.Barrier(2)

    async def compute(caller: int) -> int:
        await both_running.wait()
        return caller

    results = await asyncio.gather(
        ledger.run_once(key, agent_id=agent, action="calculate", fn=lambda: compute(1)),
        ledger.run_once(key, agent_id=agent, action="calculate", fn=lambda: compute(2)),
    )

    stored = await ledger.get(key)
    assert stored is not None
    assert results[0] == results[1] == stored.result
    assert len(await ledger.entries(agent_id=agent)) == 1


async def test_the_loser_of_a_concurrent_once_gets_a_retriable_conflict_and_its_retry_sees_done(
    ledger: ActionLedger, key: str, agent: str
) -> None:
    both_inside = asyncio.Barrier(2)

    async def attempt(caller: int) -> Any:
        async with ledger.once(key, agent_id=agent, action="collect") as tx:
            await both_inside.wait()
            tx.set_result(caller)
        return tx.result

    outcomes = await asyncio.gather(attempt(1), attempt(2), return_exceptions=True)

    conflicts = [o for o in outcomes if isinstance(o, LedgerConflictError)]
    winners = [o for o in outcomes if not isinstance(o, BaseException)]
    assert len(conflicts) == 1 and len(winners) == 1
    assert conflicts[0].retriable and conflicts[0].key == key
    async with ledger.once(key, agent_id=agent, action="collect") as retry:
        assert retry.done
        assert retry.result == winners[0]


async def test_entries_filter_by_agent_and_action_oldest_first(
    ledger: ActionLedger, agent: str
) -> None:
    for index, action in enumerate(["collect", "validate", "collect"]):
        async with ledger.once(f"{agent}-{index}", agent_id=agent, action=action) as tx:
            tx.set_result(index)

    collected = await ledger.entries(agent_id=agent, action="collect")

    assert sorted(record.result for record in collected) == [0, 2]
    assert all(record.created_at.tzinfo is not None for record in collected)
    assert len(await ledger.entries(agent_id=agent)) == 3


async def test_the_result_of_a_done_action_cannot_change(
    ledger: ActionLedger, key: str, agent: str
) -> None:
    async def compute() -> int:
        return 1

    await ledger.run_once(key, agent_id=agent, action="collect", fn=compute)

    async with ledger.once(key, agent_id=agent, action="collect") as tx:
        with pytest.raises(ValidationError) as caught:
            tx.set_result(2)

    assert caught.value.errors[0]["field"] == "result"


@pytest.mark.parametrize(
    ("field", "arguments"),
    [
        ("key", {"key": ""}),
        ("key", {"key": "k" * 513}),
        ("key", {"key": "nul\x00byte"}),
        ("agent_id", {"agent_id": " "}),
        ("agent_id", {"agent_id": "a" * 201}),
        ("action", {"action": ""}),
    ],
    ids=["empty-key", "long-key", "nul-key", "blank-agent", "long-agent", "empty-action"],
)
async def test_bad_arguments_raise_validation_error_naming_the_field(
    ledger: ActionLedger, field: str, arguments: dict[str, str]
) -> None:
    call = {"key": "k", "agent_id": "agent", "action": "collect", **arguments}

    with pytest.raises(ValidationError) as caught:
        async with ledger.once(call["key"], agent_id=call["agent_id"], action=call["action"]):
            pass

    assert caught.value.errors[0]["field"] == field
    assert field in str(caught.value)


async def test_a_result_that_is_not_json_is_rejected_before_anything_is_stored(
    ledger: ActionLedger, key: str, agent: str
) -> None:
    async def compute() -> set[int]:
        return {1, 2}

    with pytest.raises(ValidationError) as caught:
        await ledger.run_once(key, agent_id=agent, action="collect", fn=compute)

    assert caught.value.errors[0]["field"] == "result"
    assert await ledger.get(key) is None


async def test_opening_a_ledger_applies_pending_migrations_by_default(
    empty_database_url: str,
) -> None:
    async with await ActionLedger.open(empty_database_url) as ledger:
        assert await ledger.run_once("k", agent_id="a", action="b", fn=_answer) == 42
    assert await current_revision(empty_database_url) == revisions()[-1]


async def test_a_ledger_opened_without_migrating_leaves_the_schema_alone(
    empty_database_url: str,
) -> None:
    async with await ActionLedger.open(empty_database_url, migrate=False):
        pass
    assert await current_revision(empty_database_url) is None


async def _answer() -> int:
    return 42
