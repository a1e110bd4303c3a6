"""Concurrent calls share one batched write: a group commit, as a database shares a log flush.

``await bus.publish(message)`` and ``await registry.register(descriptor)`` promise that the
write is done when they return. One at a time, every call pays a whole round trip (a broker
acknowledgement, a database transaction). Callers that run concurrently (``asyncio.gather``
of many calls, many tasks each in a loop) should share that cost.

:class:`Coalescer` does it. ``submit(item)`` queues the item and returns a future; the first
submit of a turn of the event loop schedules a flush for the end of that turn, so every call
that runs in the same turn joins it. A flush hands all queued items to one ``send`` (the
bus's ``send_records``, the registry store's ``upsert_many``) and settles each caller's future
with its own result, or with the send's error. Up to ``max_in_flight`` flushes run at once
(more items queue meanwhile and go in the next one); each takes at most ``max_records``.

Nothing is weaker than a single call: a future resolves only once ``send`` returned (for the
bus: the broker acknowledged the record's batch), an error reaches every caller whose item
was in the failed send (some may have been written, as with a batch call), and items are
handed to ``send`` in the order their calls ran.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

__all__ = ["Coalescer"]

logger = logging.getLogger(__name__)

T = TypeVar("T")
R = TypeVar("R")


class Coalescer(Generic[T, R]):
    """Queues items from concurrent callers and sends them together (module docstring).

    Args:
        send: writes items, returning each one's result, in order (or raising).
        max_in_flight: flushes running at once, at least 1.
        max_records: most records in one flush, at least 1.
    """

    def __init__(
        self,
        send: Callable[[Sequence[T]], Awaitable[Sequence[R]]],
        *,
        max_in_flight: int = 4,
        max_records: int = 10_000,
    ) -> None:
        if max_in_flight < 1 or max_records < 1:
            raise ValueError("max_in_flight and max_records must be at least 1")
        self._send = send
        self._max_in_flight = max_in_flight
        self._max_records = max_records
        self._queue: list[tuple[T, asyncio.Future[R]]] = []
        self._scheduled = False
        self._flushes: set[asyncio.Task[None]] = set()

    @property
    def in_flight(self) -> int:
        """Flushes running now."""
        return len(self._flushes)

    def submit(self, item: T) -> asyncio.Future[R]:
        """Queue ``item``; the future resolves once it is written (or with the error)."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[R] = loop.create_future()
        self._queue.append((item, future))
        self._schedule(loop)
        return future

    async def drain(self) -> None:
        """Wait until every record queued so far is sent (or failed)."""
        while self._queue or self._flushes:
            if self._flushes:
                await asyncio.wait(set(self._flushes))
            else:
                await asyncio.sleep(0)

    def _schedule(self, loop: asyncio.AbstractEventLoop) -> None:
        if not self._scheduled and len(self._flushes) < self._max_in_flight:
            self._scheduled = True
            loop.call_soon(self._flush)  # after the rest of this turn's publishers

    def _flush(self) -> None:
        self._scheduled = False
        batch = [entry for entry in self._queue[: self._max_records] if not entry[1].done()]
        del self._queue[: self._max_records]
        if not batch:
            return
        task = asyncio.get_running_loop().create_task(self._send_batch(batch))
        self._flushes.add(task)
        task.add_done_callback(self._flushed)

    def _flushed(self, task: asyncio.Task[None]) -> None:
        self._flushes.discard(task)
        if self._queue:
            self._schedule(asyncio.get_running_loop())

    async def _send_batch(self, batch: list[tuple[T, asyncio.Future[R]]]) -> None:
        try:
            results = await self._send([item for item, _ in batch])
        except asyncio.CancelledError:
            for _, future in batch:
                future.cancel()
            raise
        except Exception as exc:  # every caller in this send gets the error
            for _, future in batch:
                if not future.done():
                    future.set_exception(exc)
        else:
            for (_, future), result in zip(batch, results, strict=True):
                if not future.done():  # its caller may have been cancelled
                    future.set_result(result)
