"""Concurrent callers share one batched write (orchestration/core/coalescing.py): its own
contract, with a send that keeps its records in a list."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from orchestration.core.coalescing import Coalescer

Record = tuple[str, bytes, bytes, list[tuple[str, bytes]]]
Stored = tuple[str, int, int]


class Recorder:
    """A send that stores records in a list (the coalescer's own contract, without a broker)."""

    def __init__(self, fail: bool = False) -> None:
        self.calls: list[int] = []
        self.fail = fail
        self.stored = 0

    async def __call__(self, records: Sequence[Record]) -> list[Stored]:
        self.calls.append(len(records))
        await asyncio.sleep(0.001)
        if self.fail:
            raise OSError("broker gone")
        first, self.stored = self.stored, self.stored + len(records)
        return [(r[0], 0, first + n) for n, r in enumerate(records)]


def record(n: int) -> Record:
    return ("t", b"k", str(n).encode(), [])


async def test_a_turns_concurrent_submits_go_in_one_send_each_getting_its_own_place() -> None:
    send = Recorder()
    coalescer = Coalescer(send)
    stored = await asyncio.gather(*(coalescer.submit(record(n)) for n in range(500)))
    assert send.calls == [500]
    assert [offset for _, _, offset in stored] == list(range(500))


async def test_records_queued_while_sends_run_go_in_the_next_ones() -> None:
    send = Recorder()
    coalescer = Coalescer(send, max_in_flight=1, max_records=100)

    async def producer(first: int) -> list[Stored]:
        return [await coalescer.submit(record(first + n)) for n in range(20)]

    results = await asyncio.gather(*(producer(100 * t) for t in range(50)))
    assert sum(send.calls) == 1000 and max(send.calls) <= 100
    assert len(send.calls) < 1000 / 10  # shared: far fewer sends than publishes
    for mine in results:  # one caller's records are stored in the order it published them
        assert [offset for _, _, offset in mine] == sorted(offset for _, _, offset in mine)


async def test_a_failed_send_fails_each_of_its_callers_and_the_next_send_works() -> None:
    send = Recorder(fail=True)
    coalescer = Coalescer(send)
    results = await asyncio.gather(
        *(coalescer.submit(record(n)) for n in range(10)), return_exceptions=True
    )
    assert all(isinstance(r, OSError) for r in results)
    send.fail = False
    assert (await coalescer.submit(record(99)))[2] == 0


async def test_a_cancelled_caller_does_not_disturb_the_others() -> None:
    send = Recorder()
    coalescer = Coalescer(send)
    futures = [coalescer.submit(record(n)) for n in range(3)]
    futures[1].cancel()
    assert [(await f)[2] for f in (futures[0], futures[2])] == [0, 1]
    await coalescer.drain()
    assert send.calls == [2]
