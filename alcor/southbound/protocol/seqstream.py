"""The seq/prev_seq chain of one subject, as every consumer of goal states must follow it.

Shared by the host agent and the simulated agents (`alcor sim`), so both converge by the same
rules; like `chunks.py` it imports only asyncio and nats-py, so agents may use it.

Contract (goalstate.proto header): apply a message only when its prev_seq equals the seq last
applied on that subject; a message from the future means something was missed, so fetch the
full state (deltas arriving meanwhile are buffered and replayed on top of it); a message at or
behind the applied seq is a duplicate and is dropped. This is what makes deltas an
optimisation: any loss converges through one full fetch.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from typing import Any

import nats.aio.client
import nats.errors

log = logging.getLogger(__name__)


class SeqStream:
    """In-order apply, duplicate drop, gap -> resync (with retry until the server answers)."""

    def __init__(
        self,
        name: str,
        apply: Callable[[Any], None],
        fetch: Callable[[], Awaitable[Any]],
        replace: Callable[[Any], None],
    ) -> None:
        self.name = name
        self.apply = apply
        self.fetch = fetch
        self.replace = replace
        self.seq = 0
        self.synced_once = False
        self.syncing = False
        self.buffer: list[Any] = []
        self.resyncs = 0
        self.task: asyncio.Task[None] | None = None
        self.cancelled = False

    def offer(self, msg: Any) -> None:
        if self.cancelled:
            return  # in flight when the subject was left: applying it would hold it again
        if self.syncing:
            self.buffer.append(msg)
        elif msg.prev_seq == self.seq:
            self.apply(msg)
            self.seq = msg.seq
        elif msg.seq > self.seq:
            log.info(
                "%s: gap (have %d, got prev_seq %d): resync", self.name, self.seq, msg.prev_seq
            )
            self.resync()

    def resync(self) -> None:
        if self.syncing:
            return
        self.syncing = True
        self.buffer = []
        self.task = asyncio.create_task(self._resync())

    async def _resync(self) -> None:
        delay = 0.2
        while True:
            try:
                full = await self.fetch()
                break
            except (TimeoutError, nats.errors.Error) as exc:
                log.info("%s: full state not available yet (%s); retrying", self.name, exc)
                await asyncio.sleep(delay + random.random() * delay)
                delay = min(delay * 2, 5.0)
        self.resyncs += 1
        self.replace(full)
        self.seq = full.seq
        self.synced_once = True
        self.syncing = False
        pending, self.buffer = self.buffer, []
        for msg in pending:
            self.offer(msg)

    def cancel(self) -> None:
        self.cancelled = True
        if self.task is not None:
            self.task.cancel()
