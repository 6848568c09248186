"""Live events for the web view: committed changes and port status changes, fanned out to
every open event stream (`GET /v2.0/alcor/events`, server-sent events).

Two sources, because intent and status are apart (DESIGN §2): the change log (every intent
change, from any server: read after each local commit and at least every `poll` seconds,
only while someone listens) and the `port_status` events this process's status intake
emits after commit (a status write logs no change). A status change applied by another
server reaches this one's streams as the port's next logged change, not at once: the
limitation of a single process's events.

Each stream has a bounded queue; a client too slow to keep up is sent `overflow` and closed
(it reconnects and reloads), so one stuck browser never holds the server's memory.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

import sqlalchemy as sa

from alcor.store.db import Database
from alcor.store.schema import changelog

log = logging.getLogger(__name__)

QUEUE = 1000  # events a stream may fall behind by before it is closed
BATCH = 500  # change-log rows read at once
Event = tuple[str, dict[str, Any]] | None  # (event name, data); None ends the stream

_CHANGES = (
    sa.select(
        changelog.c.seq,
        changelog.c.resource,
        changelog.c.resource_id,
        changelog.c.op,
        changelog.c.network_id,
        changelog.c.host_id,
        changelog.c.project_id,
        changelog.c.committed_at,
        changelog.c.request_id,
    )
    .where(changelog.c.seq > sa.bindparam("after"))
    .order_by(changelog.c.seq)
    .limit(BATCH)
)


class LiveEvents:
    def __init__(self, db: Database, poll: float = 1.0) -> None:
        self.db = db
        self.poll = poll
        self.streams: set[asyncio.Queue[Event]] = set()
        self.cursor: int | None = None  # newest change-log seq sent (None: nobody listened)
        self._wake = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self.db.on_commit(self._on_commit)
        self.db.on_event(self._on_events)
        self._task = asyncio.create_task(self._follow())

    def close(self) -> None:
        """End every open stream (the server is shutting down: they would hold it up)."""
        for queue in list(self.streams):
            self._offer(queue, None)
        self.streams.clear()

    async def stop(self) -> None:
        self.close()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def subscribe(self) -> asyncio.Queue[Event]:
        queue: asyncio.Queue[Event] = asyncio.Queue(QUEUE)
        self.streams.add(queue)
        self._wake.set()
        return queue

    def unsubscribe(self, queue: asyncio.Queue[Event]) -> None:
        self.streams.discard(queue)

    # -- sources ---------------------------------------------------------------------------
    def _on_commit(self) -> None:  # the writer thread
        if self._loop is not None and self.streams:
            self._loop.call_soon_threadsafe(self._wake.set)

    def _on_events(self, events: list[tuple[str, dict[str, Any]]]) -> None:  # the writer thread
        statuses = [payload for kind, payload in events if kind == "port_status"]
        if statuses and self._loop is not None and self.streams:
            self._loop.call_soon_threadsafe(self._broadcast_all, "port", statuses)

    async def _follow(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.poll)
            self._wake.clear()
            if not self.streams:
                self.cursor = None
                continue
            try:
                await self._read_changes()
            except Exception:
                log.exception("reading the change log for live events failed")

    async def _read_changes(self) -> None:
        if self.cursor is None:
            head = await self.db.read(
                lambda conn: conn.execute(sa.select(sa.func.max(changelog.c.seq))).scalar()
            )
            self.cursor = head or 0
            return
        while True:
            rows = await self.db.read(
                lambda conn: [
                    dict(r) for r in conn.execute(_CHANGES, {"after": self.cursor}).mappings()
                ]
            )
            if not rows:
                return
            self.cursor = rows[-1]["seq"]
            self._broadcast_all("change", rows)
            if len(rows) < BATCH:
                return

    # -- fan-out ---------------------------------------------------------------------------
    def _broadcast_all(self, name: str, items: list[dict[str, Any]]) -> None:
        for queue in list(self.streams):
            for item in items:
                if not self._offer(queue, (name, item)):
                    break

    def _offer(self, queue: asyncio.Queue[Event], event: Event) -> bool:
        try:
            queue.put_nowait(event)
            return True
        except asyncio.QueueFull:
            self.streams.discard(queue)
            with contextlib.suppress(asyncio.QueueEmpty):
                while True:
                    queue.get_nowait()
            queue.put_nowait(("overflow", {}))
            queue.put_nowait(None)
            return False
