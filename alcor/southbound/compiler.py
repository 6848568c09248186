"""The compiler: change log -> per-host and per-network deltas, published over NATS.

Why this shape (DESIGN §2): the database is the only truth and the change log its ordered
outbox, so the compiler never trusts anything but rows. It reads every new log row after its
cursor, groups them by resource kind and hands each group to that kind's translator
(`translators/`, the registry; `translate` says what a translator does), which decides the
subjects that must hear about the change and renders the *current* rows for them, in the same
read transaction, with shared batched loaders. One message goes out per subject per batch.

Compiling from current rows (not from the log's snapshot) is safe because messages carry
revisions and agents apply an entry only if its revision is >= what they hold.

Every message has `seq` = newest log seq it includes and `prev_seq` = seq of the previous
message on its subject, read from `subject_seqs`. The cursor and the subject seqs move only
after NATS has flushed the batch, in a transaction that also checks we still own the lease:
a compiler dying mid-batch loses nothing; the next one republishes with the same prev_seq,
and an agent that already applied the lost-then-found batch sees prev_seq behind and resyncs.
Large messages are split on their family's repeated field; part k > 0 carries prev_seq == seq.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from typing import Any

import nats.aio.client
import sqlalchemy as sa

from alcor import metrics
from alcor.southbound import build
from alcor.southbound.lease import Lease
from alcor.southbound.portstatus import (
    LockedPort,
    lock_ports,
    provisioning,
    set_status,
    upsert,
)
from alcor.southbound.protocol import chunks
from alcor.southbound.protocol import goalstate_pb2 as pb
from alcor.southbound.translate import Context, Delta, LogRow, Output, PortTarget, Record
from alcor.southbound.translators import REGISTRY
from alcor.store.db import Database, UnitOfWork
from alcor.store.prepared import Select
from alcor.store.schema import changelog, port_provisioning, subject_seqs

log = logging.getLogger(__name__)

CURSOR = "compiler"  # subject_seqs row holding the last log seq published


@dataclasses.dataclass
class Batch:
    """One compiled batch: messages by subject, ready to publish."""

    last_seq: int
    rows: int
    messages: dict[str, Delta]
    split_fields: dict[str, str]  # subject -> repeated field to split a large message on
    prev: dict[str, int]  # subject -> prev_seq before this batch
    ports: list[PortTarget]
    records: list[Record]
    compiled_at: float
    notices: dict[str, pb.NeighborDelta] = dataclasses.field(default_factory=dict)
    first_committed_at: float = 0.0  # commit time of the batch's oldest change


_LOG_AFTER = Select(
    sa.select(changelog)
    .where(changelog.c.seq > sa.bindparam("cursor"))
    .order_by(changelog.c.seq)
    .limit(sa.bindparam("limit"))
)


def compile_batch(conn: sa.Connection, cursor: int, limit: int) -> Batch | None:
    """Read log rows after `cursor` and build the messages they imply (read transaction)."""
    rows = _LOG_AFTER.rows(conn, {"cursor": cursor, "limit": limit})
    if not rows:
        return None
    by_kind: dict[str, list[LogRow]] = {}
    for r in rows:
        by_kind.setdefault(r["resource"], []).append(r)
    ctx = Context(conn)
    renders = [t.plan(by_kind[t.kind], ctx) for t in REGISTRY if t.kind in by_kind]
    out = Output()
    for render in renders:
        render(out)
    prev = build.subject_seq_map(conn, out.deltas)
    return Batch(
        last_seq=rows[-1]["seq"],
        rows=len(rows),
        messages=out.deltas,
        split_fields=out.split_fields,
        prev={s: prev.get(s, 0) for s in out.deltas},
        ports=out.ports,
        records=out.records,
        compiled_at=time.time(),
        notices=out.notices,
        first_committed_at=rows[0]["committed_at"],
    )


def _parts(msg: Delta, field: str, prev_seq: int, max_bytes: int) -> list[Delta]:
    msg.prev_seq = prev_seq
    parts = chunks.split(msg, field, max_bytes)
    for part in parts[1:]:
        part.prev_seq = part.seq
    return parts


def advance(uow: UnitOfWork, batch: Batch, lease: Lease | None, published_at: float) -> bool:
    """After a flushed publish: move subject seqs and the cursor, stamp the provisioning.

    Returns False (and writes nothing) if the lease was lost meanwhile.
    """
    if lease is not None:
        if not lease.still_mine(uow):
            return False
        if time.time() > lease.expires_at - lease.ttl / 2:
            # renewed here while busy, so that no batch waits for a renewal write first
            lease.acquire(uow)
    seqs = [{"subject": s, "seq": m.seq} for s, m in batch.messages.items()]
    seqs.append({"subject": CURSOR, "seq": batch.last_seq})
    upsert(uow, subject_seqs, seqs, ["subject"])
    for record in batch.records:
        record(uow)

    deleted = [t.port_id for t in batch.ports if t.deleted]
    for part in build.chunked(deleted):
        uow.execute(port_provisioning.delete().where(port_provisioning.c.port_id.in_(part)))
    live = [t for t in batch.ports if not t.deleted]
    if not live:
        return True
    # Lock the ports before reading their provisioning rows: the status intake locks them
    # first too, so on PostgreSQL we see its committed report instead of overwriting it.
    current = lock_ports(uow, [t.port_id for t in live])
    pps = provisioning(uow.conn, [t.port_id for t in live])
    rebinds: list[dict[str, Any]] = []
    stamps: list[dict[str, Any]] = []
    downs: list[tuple[LockedPort, str]] = []
    for t in live:
        port = current.get(t.port_id)
        if port is None or (port.binding_host_id or None) != t.host_id:
            continue  # gone or moved on since we compiled: a later batch has its log row
        pp = pps.get(t.port_id)
        stamp = {
            "port_id": t.port_id,
            "committed_at": t.committed_at,
            "compiled_at": batch.compiled_at,
            "published_at": published_at,
            "request_id": t.request_id,
            "requested_at": t.requested_at,
        }
        if pp is None or pp["host_id"] != t.host_id:
            # A new binding (or unbinding): reports for it count from this revision on. No
            # report of the new host was accepted yet (it would have stamped its host here),
            # so whatever status the port shows is the old binding's.
            stamp.update(
                host_id=t.host_id,
                revision=t.revision,
                bound_revision=t.revision,
                state="PENDING",
                reason="",
                received_at=None,
                programmed_at=None,
                reported_at=None,
                reported_request_id=None,
                active_at=None,
                nova_notified_at=None,
                nova_event=None,
            )
            downs.append((port, "DOWN"))
            rebinds.append(stamp)
        else:
            stamps.append(stamp)  # only our own columns: the host's report stays intact
            if pp["committed_at"] is None and pp["state"] == "SUCCESS" and pp["reported_at"]:
                # The host's report beat this stamp and turned the port ACTIVE already: the
                # status intake could not time it, so the commit -> ACTIVE sample is ours.
                since_commit = pp["reported_at"] - t.committed_at
                uow.emit("port_active", {"port_id": t.port_id, "since_commit": since_commit})
    upsert(uow, port_provisioning, rebinds, ["port_id"])
    upsert(uow, port_provisioning, stamps, ["port_id"])
    set_status(uow, downs)
    return True


class Compiler:
    """The publishing loop: woken on local commits, polling for other processes' commits."""

    def __init__(
        self,
        db: Database,
        nc: nats.aio.client.Client,
        *,
        batch_limit: int = 5000,
        poll_interval: float = 0.5,
        lease_ttl: float = 5.0,
    ) -> None:
        self.db = db
        self.nc = nc
        self.batch_limit = batch_limit
        self.poll_interval = poll_interval
        self.lease = Lease("compiler", lease_ttl)
        self.cursor: int | None = None
        self.saved_cursor = 0  # what the database holds; behind `cursor` after no-op batches
        self.published_batches = 0
        self.published_messages = 0
        self._wake = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping = False

    def wake(self) -> None:
        """Thread-safe nudge (called by `Database.on_commit` in a writer thread)."""
        if self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._wake.set)

    async def run(self) -> None:
        """Compile and publish until `stop()` (or cancellation); errors are retried, those
        of the database too (it may be restarting: nothing here may end the loop)."""
        self._loop = asyncio.get_running_loop()
        while not self._stopping:
            quiet = False
            try:
                await asyncio.wait_for(self._wake.wait(), self.poll_interval)
            except TimeoutError:
                quiet = True
            self._wake.clear()
            try:
                if quiet:  # a while without commits: persist a no-op run's cursor
                    await self._save_cursor()
                while not self._stopping and await self.step():
                    pass
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("compiler step failed; retrying")
                self.cursor = None  # re-read: we may have lost the lease meanwhile
                await asyncio.sleep(0.2)

    async def _ensure_lease(self) -> bool:
        if self.lease.held():
            return True
        had = self.lease.expires_at > 0
        if not await self.db.write(self.lease.acquire):
            self.cursor = None
            return False
        if not had:
            self.cursor = None  # someone else may have advanced it while we did not hold it
        return True

    async def step(self) -> int:
        """One batch: returns the number of log rows published (0 when idle)."""
        if not await self._ensure_lease():
            return 0
        if self.cursor is None:
            self.cursor = self.saved_cursor = await self.db.read(_read_cursor)
        batch = await self.db.read(compile_batch, self.cursor, self.batch_limit)
        if batch is None:
            return 0
        metrics.CHANGES.inc(batch.rows)
        if not batch.messages and not batch.ports and not batch.notices:
            # Nothing to publish or stamp (unbound ports, SG or router rows): move on without
            # a write; re-reading these rows after a restart or a hand-over yields nothing
            # again, so the saved cursor may lag until the next real batch or a quiet moment.
            self.cursor = batch.last_seq
            return batch.rows
        max_bytes = max(64 * 1024, int(self.nc.max_payload) - chunks.ENVELOPE_MARGIN)
        published_at = time.time()
        started = time.perf_counter()
        count = 0
        for subject, msg in batch.messages.items():
            msg.published_at = published_at
            field = batch.split_fields[subject]
            for part in _parts(msg, field, batch.prev[subject], max_bytes):
                await self.nc.publish(subject, part.SerializeToString())
                count += 1
        for subject, notice in batch.notices.items():
            notice.published_at = published_at
            await self.nc.publish(subject, notice.SerializeToString())
            count += 1
        await self.nc.flush(timeout=5)
        metrics.PUBLISH.observe(time.perf_counter() - started)
        metrics.PUBLISH_DELAY.observe(max(0.0, published_at - batch.first_committed_at))
        if not await self.db.write(advance, batch, self.lease, published_at):
            log.warning("compiler lease lost before advancing past seq %d", batch.last_seq)
            self.cursor = None
            self.lease.expires_at = 0.0
            return 0
        self.cursor = self.saved_cursor = batch.last_seq
        self.published_batches += 1
        self.published_messages += count
        metrics.BATCHES.inc()
        metrics.MESSAGES.inc(count)
        return batch.rows

    async def _save_cursor(self) -> None:
        cursor = self.cursor
        if cursor is None or cursor <= self.saved_cursor or not self.lease.held():
            return
        if await self.db.write(save_cursor, cursor, self.lease):
            self.saved_cursor = cursor

    async def stop(self, task: asyncio.Task[None]) -> None:
        """Finish the batch in flight (so a peer taking over does not republish it), then
        hand the lease back so that peer takes over at once."""
        self._stopping = True
        self._wake.set()
        # asyncio.wait (not wait_for): the compiler task ending or being cancelled must not
        # look like a cancellation of the caller, and a real one of the caller must propagate.
        _done, pending = await asyncio.wait({task}, timeout=10)
        for late in pending:
            late.cancel()
            await asyncio.gather(late, return_exceptions=True)
        await self._save_cursor()
        if self.lease.expires_at > 0:
            await self.db.write(self.lease.release)


def save_cursor(uow: UnitOfWork, seq: int, lease: Lease | None) -> bool:
    """Persist the compiler's position alone (after batches that published nothing)."""
    if lease is not None and not lease.still_mine(uow):
        return False
    upsert(uow, subject_seqs, [{"subject": CURSOR, "seq": seq}], ["subject"])
    return True


def _read_cursor(conn: sa.Connection) -> int:
    return build.subject_seq_map(conn, [CURSOR]).get(CURSOR, 0)
