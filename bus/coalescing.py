"""Concurrent ``publish`` calls share one send: group commit for the bus's producer.

``await bus.publish(message)`` promises that the message is stored when it returns. Sent one
at a time, every call pays a whole round of the producer's Python (a future, the accumulator,
metadata) and, awaited one after another, a broker round trip. Callers that publish
concurrently (``asyncio.gather`` of many publishes, many tasks each in a loop) should share
that cost, as a database's group commit shares a log flush.

:class:`Coalescer` does it. ``submit(record)`` queues the record and returns a future; the
first submit of a turn of the event loop schedules a flush for the end of that turn, so every
publish that runs in the same turn joins it. A flush hands all queued records to one
``send`` (``bus.batching.send_records``: whole Kafka batches from 64 records on) and settles
each caller's future with where its record was stored, or with the send's error. Up to
``max_in_flight`` flushes run at once (more records queue meanwhile and go in the next one);
each takes at most ``max_records``.

Nothing is weaker than a single send: a future resolves only once the broker acknowledged
the record's batch (``acks=all``), an error reaches every caller whose record was in the
failed send (at-least-once: some may have been stored, as with ``publish_batch``), and the
records of one partition are stored in the order their ``publish`` calls ran.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence

from bus.batching import Record, Stored

__all__ = ["Coalescer"]

logger = logging.getLogger(__name__)

Send = Callable[[Sequence[Record]], Awaitable[list[Stored]]]


class Coalescer:
    """Queues records from concurrent callers and sends them together (module docstring).

    Args:
        send: stores records, returning where each went, in order (or raising).
        max_in_flight: flushes running at once, at least 1.
        max_records: most records in one flush, at least 1.
    """

    def __init__(self, send: Send, *, max_in_flight: int = 4, max_records: int = 10_000) -> None:
        if max_in_flight < 1 or max_records < 1:
            raise ValueError("max_in_flight and max_records must be at least 1")
        self._send = send
        self._max_in_flight = max_in_flight
        self._max_records = max_records
        self._queue: list[tuple[Record, asyncio.Future[Stored]]] = []
        self._scheduled = False
        self._flushes: set[asyncio.Task[None]] = set()

    @property
    def in_flight(self) -> int:
        """Flushes running now."""
        return len(self._flushes)

    def submit(self, record: Record) -> asyncio.Future[Stored]:
        """Queue ``record``; the future resolves once it is stored (or with the error)."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Stored] = loop.create_future()
        self._queue.append((record, future))
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

    async def _send_batch(self, batch: list[tuple[Record, asyncio.Future[Stored]]]) -> None:
        try:
            stored = await self._send([record for record, _ in batch])
        except asyncio.CancelledError:
            for _, future in batch:
                future.cancel()
            raise
        except Exception as exc:  # every caller in this send gets the error
            for _, future in batch:
                if not future.done():
                    future.set_exception(exc)
        else:
            for (_, future), where in zip(batch, stored, strict=True):
                if not future.done():  # its caller may have been cancelled
                    future.set_result(where)
