"""Natural batching: handle everything that queued up while the previous batch ran.

Why: 10,000 agents registering, heartbeating, asking for their state or reporting status at
once would cost 10,000 transactions if handled one by one. A batcher never waits to fill a
batch (an idle server answers one request at once), but whatever arrives while a batch is in
the database is served by the next one, with one query or transaction for all of it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

T = TypeVar("T")

log = logging.getLogger(__name__)


class Batcher(Generic[T]):
    """Queue items; `run()` hands them to `handle` in batches of at most `max_batch`."""

    def __init__(self, handle: Callable[[list[T]], Awaitable[None]], max_batch: int = 2000):
        self.handle = handle
        self.max_batch = max_batch
        self.queue: asyncio.Queue[T] = asyncio.Queue()
        self.handling = False

    @property
    def idle(self) -> bool:
        """Nothing queued and no batch being handled."""
        return not self.handling and self.queue.empty()

    def put(self, item: T) -> None:
        self.queue.put_nowait(item)

    async def run(self) -> None:
        while True:
            items = [await self.queue.get()]
            while len(items) < self.max_batch and not self.queue.empty():
                items.append(self.queue.get_nowait())
            self.handling = True
            try:
                await self.handle(items)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("batch of %d failed", len(items))
            finally:
                self.handling = False
