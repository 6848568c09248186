"""Agent-facing request/reply: full host state, neighbour tables, address sets, routers,
registration, heartbeats.

Why queue groups and batching: every server subscribes in queue group "servers", so one of
them answers each request, and requests that arrive together are served by one query (host
states of many hosts: `binding_host_id IN (...)`; one neighbour table per network however many
hosts asked, likewise one address set per group and one state per router) or one transaction
(registrations, heartbeats). A fleet restarting at once then costs a few hundred queries,
not tens of thousands.

Why requests are checked: a host's requests arrive on subjects carrying its own id, which its
credentials confine it to (`subjects`), so a request naming another host is refused; and a
reply goes only to an inbox, since a requester chooses the reply subject and a reply sent to
`alcor.host.<other>` would reach that host as if the compiler had sent it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Callable
from typing import Any, TypeVar

import nats.aio.client
import nats.aio.msg
import nats.errors
import sqlalchemy as sa

from alcor.southbound import build
from alcor.southbound.batcher import Batcher
from alcor.southbound.direct_resolve import Answer, DirectResolves, Queries
from alcor.southbound.protocol import chunks, subjects
from alcor.southbound.protocol import goalstate_pb2 as pb
from alcor.southbound.status import revive_hosts
from alcor.store.db import Database, UnitOfWork
from alcor.store.schema import hosts

T = TypeVar("T")
log = logging.getLogger(__name__)


def heartbeat_interval(agent_down_time: float) -> float:
    """Agents report 2.5 times per down time (Neutron: report_interval 30 s, down time 75 s)."""
    return max(0.1, agent_down_time / 2.5)


def register_hosts(uow: UnitOfWork, infos: list[pb.AgentInfo]) -> None:
    """Upsert `hosts` rows; log a "host" change when a host with bound ports moved its VTEP."""
    latest = {i.host_id: i for i in infos if i.host_id}
    existing: dict[str, Any] = {}
    for part in build.chunked(latest):
        stmt = sa.select(hosts.c.host_id, hosts.c.id, hosts.c.tunnel_ip).where(
            hosts.c.host_id.in_(part)
        )
        existing.update({r.host_id: r for r in uow.execute(stmt)})
    inserts: list[dict[str, Any]] = []
    updates: list[dict[str, Any]] = []
    moved: dict[str, str] = {}
    for host_id, info in latest.items():
        conf = {
            "tunnel_types": list(info.tunnel_types),
            "datapath_type": info.datapath_type,
            "agent_version": info.agent_version,
            "tunneling_ip": info.tunnel_ip,
            "bridge_mappings": dict(info.bridge_mappings),
            **dict(info.configurations),
        }
        values = {
            # reported among the configurations (no message field of its own), kept as the
            # agent's own attribute, as Neutron's
            "availability_zone": conf.pop("availability_zone", None) or None,
            "tunnel_ip": info.tunnel_ip,
            "configurations": conf,
            "agent_type": info.agent_type or "Open vSwitch agent",
            "binary": info.binary or "alcor-agent",
            "started_at": info.started_at or uow.now,
            "heartbeat_at": uow.now,
        }
        old = existing.get(host_id)
        if old is None:
            agent_id = str(uuid.uuid4())
            inserts.append({"host_id": host_id, "id": agent_id, "created_at": uow.now, **values})
            moved[host_id] = agent_id
        else:
            updates.append({"b_host_id": host_id, **values})
            if (old.tunnel_ip or "") != info.tunnel_ip:
                moved[host_id] = old.id
    if inserts:
        uow.execute(hosts.insert(), inserts)
    if updates:
        uow.execute(hosts.update().where(hosts.c.host_id == sa.bindparam("b_host_id")), updates)
    if moved:
        # Only hosts that already have bound ports need their neighbour entries re-announced.
        stmt = sa.select(build.ports_t.c.binding_host_id).distinct()
        for part in build.chunked(moved):
            col = build.ports_t.c.binding_host_id
            for (host_id,) in uow.execute(stmt.where(col.in_(part))):
                uow.log("host", moved[host_id], "update", 0, host_id=host_id)


def write_heartbeats(
    uow: UnitOfWork,
    beats: dict[str, tuple[float, int]],
    down_time: float,
    digests: dict[str, tuple[float, dict[str, str]]] | None = None,
) -> int:
    """Record signs of life, and the digests hosts reported (the state audit's input); hosts
    that were taken for dead get their ports' status back (`status.revive_hosts`, in this
    transaction). Returns how many ports changed."""
    cutoff = uow.now - down_time
    names = sorted(beats)  # a stable lock order, as the liveness sweep locks them
    revived: list[str] = []
    for part in build.chunked(names):
        dead = sa.select(hosts.c.host_id).where(
            hosts.c.host_id.in_(part), hosts.c.heartbeat_at < cutoff
        )
        revived.extend(r.host_id for r in uow.execute(dead))
    update = (
        hosts.update()
        .where(hosts.c.host_id == sa.bindparam("b_host_id"))
        .values(heartbeat_at=sa.bindparam("b_at"), applied_seq=sa.bindparam("b_seq"))
    )
    uow.execute(
        update, [{"b_host_id": h, "b_at": beats[h][0], "b_seq": beats[h][1]} for h in names]
    )
    if digests:
        uow.execute(
            hosts.update()
            .where(hosts.c.host_id == sa.bindparam("b_host_id"))
            .values(digests=sa.bindparam("b_digests"), digested_at=sa.bindparam("b_at")),
            [
                {"b_host_id": h, "b_at": at, "b_digests": value}
                for h, (at, value) in sorted(digests.items())
            ],
        )
    return revive_hosts(uow, revived) if revived else 0


TRACE_AFTER = 0.005  # seconds after an answer its debug trace is written
# A resolve request of at most this many misses may be answered on the loop (`resolve_inline`)
INLINE_QUERIES = 16


def _resolve_all(conn: sa.Connection, asked: list[Queries]) -> list[pb.ResolveReply]:
    return [build.resolve(conn, queries) for queries in asked]


class RpcServer:
    """Subscribes the RPC and heartbeat subjects and serves them in batches."""

    def __init__(
        self,
        db: Database,
        nc: nats.aio.client.Client,
        agent_down_time: float,
        direct_address: str = "",
    ):
        self.db = db
        self.nc = nc
        self.down_time = agent_down_time
        self.interval = heartbeat_interval(agent_down_time)
        # Heartbeats reach the database well within the down time, in few transactions.
        self.flush_interval = min(1.0, agent_down_time / 10)
        self.beats: dict[str, tuple[float, int]] = {}
        self.digests: dict[str, tuple[float, dict[str, str]]] = {}  # host -> (at, digests)
        self._state = Batcher(self._host_states)
        self._neighbors = Batcher(self._neighbor_tables, max_batch=64)
        self._address_sets = Batcher(self._address_set_replies, max_batch=64)
        self._routers = Batcher(self._router_replies, max_batch=64)
        self._resolves: Batcher[tuple[Answer, Queries]] = Batcher(
            self._resolve_replies, max_batch=64
        )
        self._register = Batcher(self._registrations)
        self.tasks: list[asyncio.Task[None]] = []
        self.subs: list[Any] = []
        self._inline: sa.Connection | None = None  # `resolve_inline`'s own, kept open
        self.direct_address = direct_address  # where to take resolves over UDP ("": not)
        self.direct: DirectResolves | None = None

    async def start(self) -> None:
        q = subjects.SERVER_QUEUE
        every = subjects.every
        self.subs = [
            await self.nc.subscribe(every(subjects.RPC_HOST_STATE), q, cb=self._put(self._state)),
            await self.nc.subscribe(subjects.RPC_NEIGHBORS, q, cb=self._put(self._neighbors)),
            await self.nc.subscribe(subjects.RPC_ADDRESS_SET, q, cb=self._put(self._address_sets)),
            await self.nc.subscribe(subjects.RPC_ROUTER, q, cb=self._put(self._routers)),
            await self.nc.subscribe(subjects.RPC_RESOLVE, q, cb=self._on_resolve),
            await self.nc.subscribe(every(subjects.RPC_REGISTER), q, cb=self._put(self._register)),
            # One server per heartbeat is enough: liveness is judged from the database.
            await self.nc.subscribe(every(subjects.HEARTBEAT), q, cb=self._on_heartbeat),
        ]
        if self.db.dialect == "sqlite":
            self._warm_inline()
        if self.direct_address:
            self.direct = await DirectResolves.open(
                self.direct_address, self.resolve_inline, self.resolve_later
            )
        for runner in (
            self._state.run,
            self._neighbors.run,
            self._address_sets.run,
            self._routers.run,
            self._resolves.run,
            self._register.run,
            self._flush_heartbeats,
        ):
            self.tasks.append(asyncio.create_task(runner()))

    async def stop(self) -> None:
        for sub in self.subs:
            with contextlib.suppress(nats.errors.Error):
                await sub.unsubscribe()
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        self._close_inline()
        if self.direct is not None:
            self.direct.close()
        if self.beats:
            await self.db.write(write_heartbeats, self.beats, self.down_time)
            self.beats = {}

    @staticmethod
    def _put(batcher: Batcher[Any]) -> Any:
        async def cb(msg: nats.aio.msg.Msg) -> None:
            batcher.put(msg)

        return cb

    def touch(self, host_id: str, applied_seq: int | None = None) -> None:
        """Record a sign of life (heartbeat or status report) for the next batched write."""
        seq = applied_seq if applied_seq is not None else self.beats.get(host_id, (0.0, 0))[1]
        self.beats[host_id] = (time.time(), seq)

    async def _on_heartbeat(self, msg: nats.aio.msg.Msg) -> None:
        beat = pb.Heartbeat.FromString(msg.data)
        if subjects.sent_by(msg.subject, beat.host_id):
            self.beats[beat.host_id] = (time.time(), beat.applied_seq)
            if beat.digests:
                self.digests[beat.host_id] = (time.time(), dict(beat.digests))

    async def _flush_heartbeats(self) -> None:
        while True:
            await asyncio.sleep(self.flush_interval)
            if not self.beats:
                continue
            beats, self.beats = self.beats, {}
            digests, self.digests = self.digests, {}
            try:
                revived = await self.db.write(write_heartbeats, beats, self.down_time, digests)
            except Exception:
                log.exception("heartbeat write failed; keeping them for the next round")
                self.beats = {**beats, **self.beats}
                self.digests = {**digests, **self.digests}
                continue
            if revived:
                log.info("hosts heard from again: %d ports back to their reported status", revived)

    async def _reply(self, msg: nats.aio.msg.Msg, data: bytes) -> None:
        if msg.reply.startswith(f"{subjects.INBOX}."):
            await self.nc.publish(msg.reply, data)

    async def _host_states(self, msgs: list[nats.aio.msg.Msg]) -> None:
        asked = [(m, pb.HostStateRequest.FromString(m.data).host_id) for m in msgs]
        wanted = [(m, h) for m, h in asked if subjects.sent_by(m.subject, h)]
        if len(wanted) < len(asked):
            log.warning("%d host state requests for another host refused", len(asked) - len(wanted))
        states = await self.db.read(build.host_goal_states, sorted({h for _, h in wanted}))
        for m, host_id in wanted:
            await self._reply(m, states[host_id].SerializeToString())

    async def _neighbor_tables(self, msgs: list[nats.aio.msg.Msg]) -> None:
        by_net: dict[str, list[nats.aio.msg.Msg]] = {}
        for m in msgs:
            by_net.setdefault(pb.NeighborTableRequest.FromString(m.data).network_id, []).append(m)
        for network_id, waiting in by_net.items():
            table = await self.db.read(build.neighbor_table, network_id)
            await self._reply_chunked(waiting, table, "neighbors")

    async def _address_set_replies(self, msgs: list[nats.aio.msg.Msg]) -> None:
        by_group: dict[str, list[nats.aio.msg.Msg]] = {}
        for m in msgs:
            by_group.setdefault(pb.AddressSetRequest.FromString(m.data).group_id, []).append(m)
        for group_id, waiting in by_group.items():
            found = await self.db.read(build.address_set, group_id)
            await self._reply_chunked(waiting, found, "members")

    async def _router_replies(self, msgs: list[nats.aio.msg.Msg]) -> None:
        by_router: dict[str, list[nats.aio.msg.Msg]] = {}
        for m in msgs:
            by_router.setdefault(pb.RouterStateRequest.FromString(m.data).router_id, []).append(m)
        for router_id, waiting in by_router.items():
            data = (await self.db.read(build.router_delta, router_id)).SerializeToString()
            for m in waiting:
                await self._reply(m, data)

    async def _on_resolve(self, msg: nats.aio.msg.Msg) -> None:
        """Neighbours on demand: a VM's first packet to a neighbour waits for this answer,
        which also tells the host where this server takes resolves directly (`direct`)."""
        request = pb.ResolveRequest.FromString(msg.data)

        async def answer(reply: pb.ResolveReply) -> None:
            if self.direct is not None:
                reply.direct.CopyFrom(self.direct.channel(request.host_id))
            await self._reply(msg, reply.SerializeToString())

        queries = list(request.queries)
        reply = self.resolve_inline(queries)
        if reply is None:
            self.resolve_later(queries, answer)
        else:
            await answer(reply)

    def resolve_inline(self, queries: Queries) -> pb.ResolveReply | None:
        """The answer at once when it may be read here, on the loop (None: `resolve_later`).
        A small request reaching an idle server on SQLite is read on a connection kept for
        it: through the batcher's task, a reader thread and the pool its read took 0.6-1.5
        ms of a 2.4 ms first packet (timestamps, 3,000-port runs), here 0.3 ms, which is what
        it blocks the loop. PostgreSQL's reads wait on the network and stay off the loop.
        Anything else joins the batcher: a burst of misses is a few reads, not one each."""
        came = time.time()
        if len(queries) > INLINE_QUERIES or self.db.dialect != "sqlite" or not self._resolves.idle:
            return None
        try:
            reply = self._read_inline(build.resolve, queries)
        except sa.exc.SQLAlchemyError:
            log.exception("resolving on the loop failed; the batcher answers")
            return None
        if log.isEnabledFor(logging.DEBUG):  # `benchmarks/dataplane_ondemand.py`'s trace,
            # written once the answer is out: writing it first delayed what it measures
            asyncio.get_running_loop().call_later(
                TRACE_AFTER,
                log.debug,
                "resolved %d queries inline: came %.6f answered %.6f",
                len(queries),
                came,
                time.time(),
            )
        return reply

    def resolve_later(self, queries: Queries, answer: Answer) -> None:
        """`queries` answered by the batcher, with others waiting."""
        self._resolves.put((answer, queries))

    def _warm_inline(self) -> None:
        """Open `resolve_inline`'s connection and run its statements once (`build.warm_resolve`):
        the first miss after a start paid for opening and compiling, 1-2 ms (the slowest first
        packet of a run was always its first)."""
        try:
            self._read_inline(build.warm_resolve)
        except sa.exc.SQLAlchemyError:
            log.exception("warming the resolve connection failed; the first miss opens it")

    def _read_inline(self, fn: Callable[..., T], *args: Any) -> T:
        """`fn` on the connection kept for `resolve_inline` (opened if need be); a failure
        closes it, so the next read opens a fresh one."""
        try:
            if self._inline is None:
                self._inline = self.db.engine.connect()
            return self.db.read_on(self._inline, fn, *args)
        except sa.exc.SQLAlchemyError:
            self._close_inline()
            raise

    def _close_inline(self) -> None:
        if self._inline is not None:
            with contextlib.suppress(sa.exc.SQLAlchemyError):
                self._inline.close()
            self._inline = None

    async def _resolve_replies(self, asked: list[tuple[Answer, Queries]]) -> None:
        """Every waiting host's misses in one read transaction."""
        replies = await self.db.read(_resolve_all, [queries for _, queries in asked])
        for (answer, _), reply in zip(asked, replies, strict=True):
            await answer(reply)

    async def _reply_chunked(
        self, waiting: list[nats.aio.msg.Msg], full: pb.NeighborTable | pb.AddressSet, field: str
    ) -> None:
        """`full` split on `field` to fit a NATS message, every part to every asker."""
        max_bytes = max(64 * 1024, int(self.nc.max_payload) - chunks.ENVELOPE_MARGIN)
        parts = chunks.split(full, field, max_bytes)
        for i, part in enumerate(parts):
            part.chunk, part.chunks = i, len(parts)
        payloads = [p.SerializeToString() for p in parts]
        for m in waiting:
            for data in payloads:
                await self._reply(m, data)

    async def _registrations(self, msgs: list[nats.aio.msg.Msg]) -> None:
        infos = [pb.AgentInfo.FromString(m.data) for m in msgs]
        own = [subjects.sent_by(m.subject, i.host_id) for m, i in zip(msgs, infos, strict=True)]
        try:
            await self.db.write(register_hosts, [i for i, ok in zip(infos, own, strict=True) if ok])
            reply = pb.RegisterReply(ok=True, heartbeat_interval_ms=int(self.interval * 1000))
        except Exception as exc:
            reply = pb.RegisterReply(ok=False, error=str(exc)[:500])
        refused = pb.RegisterReply(ok=False, error="host_id is not the host of the subject")
        for m, ok in zip(msgs, own, strict=True):
            await self._reply(m, (reply if ok else refused).SerializeToString())
