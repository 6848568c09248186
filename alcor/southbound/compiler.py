"""The compiler: change log -> per-host and per-network deltas, published over NATS.

Why this shape (DESIGN §2): the database is the only truth and the change log its ordered
outbox, so the compiler never trusts anything but rows. It reads every new log row after its
cursor, groups them by the subject that must hear about them, reads the *current* rows of the
resources concerned in the same read transaction, and publishes one message per subject per
batch:

* a port bound to host H: a HostDelta on H's subject with the full port, its network and
  subnets (the host needs nothing else to program it); hosts that the log says held it before
  (rebinding, unbinding, delete) get a DELETE;
* the port's neighbour entry (MAC, IPs, host, tunnel IP, allowed pairs) goes ONCE on the
  network's subject, never copied per host, so adding a port to a 10,000-port network costs
  one NeighborDelta plus one HostDelta;
* a network or subnet change goes to the hosts that have ports on that network;
* a host whose tunnel IP changed re-announces its ports' neighbour entries.

Compiling from current rows (not from the log's snapshot) is safe because messages carry
revisions and agents apply an entry only if its revision is >= what they hold. A deleted row
is gone, so a delete entry is compiled from the log row itself (id, network, hosts, revision).

Every message has `seq` = newest log seq it includes and `prev_seq` = seq of the previous
message on its subject, read from `subject_seqs`. The cursor and the subject seqs move only
after NATS has flushed the batch, in a transaction that also checks we still own the lease:
a compiler dying mid-batch loses nothing; the next one republishes with the same prev_seq,
and an agent that already applied the lost-then-found batch sees prev_seq behind and resyncs.
Large messages are split on their repeated field; part k > 0 carries prev_seq == seq.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import Callable
from typing import Any

import nats.aio.client
import sqlalchemy as sa

from alcor.southbound import build
from alcor.southbound.lease import Lease
from alcor.southbound.portstatus import lock_ports, set_status, upsert
from alcor.southbound.protocol import chunks, subjects
from alcor.southbound.protocol import goalstate_pb2 as pb
from alcor.store.db import Database, UnitOfWork
from alcor.store.schema import changelog, port_provisioning, subject_seqs

log = logging.getLogger(__name__)

CURSOR = "compiler"  # subject_seqs row holding the last log seq published


@dataclasses.dataclass
class PortTarget:
    """What the batch told the hosts about one port, for `port_provisioning` stamps."""

    port_id: str
    host_id: str | None  # host that got the UPSERT; None when deleted or unbound
    revision: int
    committed_at: float
    deleted: bool


@dataclasses.dataclass
class Batch:
    """One compiled batch: messages by subject, ready to publish."""

    last_seq: int
    rows: int
    messages: dict[str, Any]  # subject -> HostDelta | NeighborDelta
    prev: dict[str, int]  # subject -> prev_seq before this batch
    ports: list[PortTarget]
    compiled_at: float


class _Messages:
    """The messages of one batch, each tracking its newest seq and commit time."""

    def __init__(self) -> None:
        self.by_subject: dict[str, Any] = {}
        self._host_nets: dict[str, set[str]] = {}

    def host(self, host_id: str, row: Any) -> pb.HostDelta:
        msg: pb.HostDelta = self._message(
            subjects.host(host_id), row, lambda: pb.HostDelta(host_id=host_id)
        )
        return msg

    def net(self, network_id: str, row: Any) -> pb.NeighborDelta:
        msg: pb.NeighborDelta = self._message(
            subjects.network(network_id), row, lambda: pb.NeighborDelta(network_id=network_id)
        )
        return msg

    def _message(self, subject: str, row: Any, make: Callable[[], Any]) -> Any:
        """The batch's message for `subject`, carrying the newest seq and commit time."""
        msg = self.by_subject.get(subject)
        if msg is None:
            msg = self.by_subject[subject] = make()
        msg.seq = max(msg.seq, row["seq"])
        msg.committed_at = max(msg.committed_at, row["committed_at"])
        return msg

    def host_network(self, host_id: str, row: Any, net: Any, subnets: list[Any]) -> None:
        """Make sure the host's message carries the network and subnets a port needs."""
        seen = self._host_nets.setdefault(host_id, set())
        if net is None or net["id"] in seen:
            return
        seen.add(net["id"])
        msg = self.host(host_id, row)
        msg.networks.append(build.network_state(net))
        msg.subnets.extend(build.subnet_state(s, net["dns_domain"] or "") for s in subnets)


def _pp_rows(conn: sa.Connection, ids: list[str]) -> dict[str, Any]:
    stmt = sa.select(port_provisioning)
    out: dict[str, Any] = {}
    for part in build.chunked(ids):
        for r in conn.execute(stmt.where(port_provisioning.c.port_id.in_(part))).mappings():
            out[r["port_id"]] = r
    return out


def already_acked(pp: Any, host_id: str, revision: int) -> bool:
    """True when the host acknowledged content equal to this revision (status-only bumps).

    The status intake records `revision` = the bumped revision when a status write was the
    only change since the content the host reported, so the compiler does not echo every
    ACTIVE transition back to the hosts.
    """
    return (
        pp is not None
        and pp["host_id"] == host_id
        and pp["state"] == "SUCCESS"
        and pp["revision"] == revision
    )


def compile_batch(conn: sa.Connection, cursor: int, limit: int) -> Batch | None:
    """Read log rows after `cursor` and build the messages they imply (read transaction)."""
    rows = (
        conn.execute(
            sa.select(changelog)
            .where(changelog.c.seq > cursor)
            .order_by(changelog.c.seq)
            .limit(limit)
        )
        .mappings()
        .all()
    )
    if not rows:
        return None
    port_log: dict[str, list[Any]] = {}
    net_log: dict[str, Any] = {}
    subnet_log: dict[str, Any] = {}
    host_log: dict[str, Any] = {}
    for r in rows:
        kind = r["resource"]
        if kind == "port":
            if r["op"] == "create" and not r["host_id"]:
                continue  # an unbound new port concerns no host (no provisioning either)
            port_log.setdefault(r["resource_id"], []).append(r)
        elif kind == "network":
            net_log[r["resource_id"]] = r
        elif kind == "subnet":
            subnet_log[r["resource_id"]] = r
        elif kind == "host" and r["host_id"]:
            host_log[r["host_id"]] = r

    ports = build.load_ports(conn, port_log)
    pps = _pp_rows(conn, list(port_log))
    moved_ports: dict[str, Any] = {}
    if host_log:
        stmt = sa.select(*build.PORT_COLUMNS)
        for part in build.chunked(host_log):
            for p in conn.execute(stmt.where(build.ports_t.c.binding_host_id.in_(part))).mappings():
                moved_ports[p["id"]] = p
    changed_nets = {n for n, r in net_log.items() if r["op"] != "delete"}
    subnet_nets = {r["network_id"] for r in subnet_log.values() if r["network_id"]}
    bound_nets = {p["network_id"] for p in ports.values() if p["binding_host_id"]}
    nets = build.load_networks(conn, bound_nets | changed_nets | subnet_nets)
    subs = build.load_subnets(conn, bound_nets | subnet_nets)
    hosts_of = build.hosts_on_networks(conn, changed_nets | subnet_nets)
    tunnels = build.tunnel_ips(
        conn, {p["binding_host_id"] for p in ports.values() if p["binding_host_id"]} | set(host_log)
    )

    out = _Messages()
    targets: list[PortTarget] = []
    for pid, entries in port_log.items():
        last = entries[-1]
        cur = ports.get(pid)
        pp = pps.get(pid)
        told = {h for e in entries for h in (e["host_id"], e["old_host_id"]) if h}
        if pp is not None and pp["host_id"]:
            told.add(pp["host_id"])
        bound = cur["binding_host_id"] if cur is not None else ""
        revision = cur["revision_number"] if cur is not None else last["revision"]
        network_id = cur["network_id"] if cur is not None else last["network_id"]
        for h in sorted(told - {bound}):
            out.host(h, last).ports.append(
                pb.PortState(
                    id=pid, op=pb.DELETE, revision=revision, network_id=network_id, host_id=h
                )
            )
        if cur is not None and bound:
            if already_acked(pp, bound, revision):
                continue
            msg = out.host(bound, last)
            msg.ports.append(build.port_state(cur))
            out.host_network(bound, last, nets.get(network_id), subs.get(network_id, []))
            out.net(network_id, last).neighbors.append(
                build.neighbor_state(cur, tunnels.get(bound, ""))
            )
            targets.append(PortTarget(pid, bound, revision, last["committed_at"], False))
        else:
            if told and network_id:
                out.net(network_id, last).neighbors.append(
                    pb.NeighborState(
                        port_id=pid, op=pb.DELETE, revision=revision, network_id=network_id
                    )
                )
            targets.append(PortTarget(pid, None, revision, last["committed_at"], cur is None))

    for nid in sorted(changed_nets):
        net = nets.get(nid)
        for h in sorted(hosts_of.get(nid, ())):
            if net is not None:
                out.host(h, net_log[nid]).networks.append(build.network_state(net))
    for sid, r in subnet_log.items():
        nid = r["network_id"]
        current = next((s for s in subs.get(nid, []) if s["id"] == sid), None)
        net = nets.get(nid)
        for h in sorted(hosts_of.get(nid, ())):
            if current is not None and r["op"] != "delete":
                state = build.subnet_state(current, (net["dns_domain"] or "") if net else "")
            else:
                state = pb.SubnetState(id=sid, op=pb.DELETE, revision=r["revision"], network_id=nid)
            out.host(h, r).subnets.append(state)
    for p in moved_ports.values():
        out.net(p["network_id"], host_log[p["binding_host_id"]]).neighbors.append(
            build.neighbor_state(p, tunnels.get(p["binding_host_id"], ""))
        )

    prev = build.subject_seq_map(conn, out.by_subject)
    return Batch(
        last_seq=rows[-1]["seq"],
        rows=len(rows),
        messages=out.by_subject,
        prev={s: prev.get(s, 0) for s in out.by_subject},
        ports=targets,
        compiled_at=time.time(),
    )


def _parts(subject: str, msg: Any, prev_seq: int, max_bytes: int) -> list[Any]:
    field = "neighbors" if isinstance(msg, pb.NeighborDelta) else "ports"
    msg.prev_seq = prev_seq
    parts = chunks.split(msg, field, max_bytes)
    for part in parts[1:]:
        part.prev_seq = part.seq
    return parts


def advance(uow: UnitOfWork, batch: Batch, lease: Lease | None, published_at: float) -> bool:
    """After a flushed publish: move subject seqs and the cursor, stamp the provisioning.

    Returns False (and writes nothing) if the lease was lost meanwhile.
    """
    if lease is not None and not lease.still_mine(uow):
        return False
    seqs = [{"subject": s, "seq": m.seq} for s, m in batch.messages.items()]
    seqs.append({"subject": CURSOR, "seq": batch.last_seq})
    upsert(uow, subject_seqs, seqs, ["subject"])

    deleted = [t.port_id for t in batch.ports if t.deleted]
    for part in build.chunked(deleted):
        uow.execute(port_provisioning.delete().where(port_provisioning.c.port_id.in_(part)))
    live = [t for t in batch.ports if not t.deleted]
    if not live:
        return True
    # Lock the ports before reading their provisioning rows: the status intake locks them
    # first too, so on PostgreSQL we see its committed report instead of overwriting it.
    current = lock_ports(uow, [t.port_id for t in live])
    pps = _pp_rows(uow.conn, [t.port_id for t in live])
    rebinds: list[dict[str, Any]] = []
    stamps: list[dict[str, Any]] = []
    downs: list[tuple[Any, str]] = []
    for t in live:
        pp = pps.get(t.port_id)
        port = current.get(t.port_id)
        if port is None:
            continue
        stamp = {
            "port_id": t.port_id,
            "committed_at": t.committed_at,
            "compiled_at": batch.compiled_at,
            "published_at": published_at,
        }
        if pp is None or pp["host_id"] != t.host_id:
            # A new binding (or unbinding): reports for it count from this revision on.
            stamp.update(
                host_id=t.host_id,
                revision=t.revision,
                bound_revision=t.revision,
                state="PENDING",
                reason="",
                received_at=None,
                programmed_at=None,
                reported_at=None,
            )
            if port.status != "DOWN" and port.revision_number == t.revision:
                downs.append((port, "DOWN"))
            rebinds.append(stamp)
        else:
            stamps.append(stamp)  # only our own columns: the host's report stays intact
    upsert(uow, port_provisioning, rebinds, ["port_id"])
    upsert(uow, port_provisioning, stamps, ["port_id"])
    # Content is unchanged by a status write, so the new host's ack of t.revision still counts.
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
        """Compile and publish until `stop()` (or cancellation); errors are retried."""
        self._loop = asyncio.get_running_loop()
        while not self._stopping:
            try:
                await asyncio.wait_for(self._wake.wait(), self.poll_interval)
            except TimeoutError:
                await self._save_cursor()  # quiet for a while: persist a no-op run's cursor
            self._wake.clear()
            try:
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
        if not batch.messages and not batch.ports:
            # Nothing to publish or stamp (unbound ports, SG or router rows): move on without
            # a write; re-reading these rows after a restart or a hand-over yields nothing
            # again, so the saved cursor may lag until the next real batch or a quiet moment.
            self.cursor = batch.last_seq
            return batch.rows
        max_bytes = max(64 * 1024, int(self.nc.max_payload) - chunks.ENVELOPE_MARGIN)
        published_at = time.time()
        count = 0
        for subject, msg in batch.messages.items():
            msg.published_at = published_at
            for part in _parts(subject, msg, batch.prev[subject], max_bytes):
                await self.nc.publish(subject, part.SerializeToString())
                count += 1
        await self.nc.flush(timeout=5)
        if not await self.db.write(advance, batch, self.lease, published_at):
            log.warning("compiler lease lost before advancing past seq %d", batch.last_seq)
            self.cursor = None
            self.lease.expires_at = 0.0
            return 0
        self.cursor = self.saved_cursor = batch.last_seq
        self.published_batches += 1
        self.published_messages += count
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
