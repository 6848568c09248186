"""Simulated host agents: thousands of them in one asyncio process, for scale tests.

Each simulated host behaves like a real agent on the wire: it registers, subscribes its host
subject, fetches its full goal state, applies deltas only in prev_seq order (a gap triggers a
full resync; a message at or behind what it applied is a duplicate), subscribes the subjects
of the networks it has ports on and fetches their neighbour tables, acknowledges ports with
StatusReport SUCCESS and heartbeats. "Programming" is writing dicts.

What is shared, and why: a 10,000-port neighbour table held by each of 10,000 hosts would be
10^8 entries, more than this machine has memory for. Hosts of one fleet therefore share one
`NetView` per network: one subscription, one table, one resync, exactly as if the fleet were
one big host for neighbour purposes. Host subjects, full states and acks stay per host.

Security groups: each host holds the groups of its ports (from its host subject) and follows,
itself, the address set of every group their rules name as remote group: its own subscription
on the group's subject, its own seq chain, its own full fetch on a gap (`GroupFollower`), so
that the fan-out of a membership change is real (one delivery per following host). Only the
members are kept once per fleet (`GroupView`): the first host to apply a seq applies it there.

Routers: each host follows, itself, the subject of every router attached to its networks
(`NetworkState.router_ids`) and keeps the router's state (`RouterFollower`); the fleet records
when each host applied each router seq (`router_applies`), as real agents would program it.

Apply rules (the contract real agents follow too): an UPSERT or DELETE applies only when its
revision is >= the revision held (status-only revision bumps may make a full state carry a
higher revision than the deltas did, and the rule keeps late deltas from going backwards).
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
import hashlib
import ipaddress
import logging
import random
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any

import nats
import nats.aio.client
import nats.aio.msg
import sqlalchemy as sa

from alcor.config import nats_servers
from alcor.southbound import build
from alcor.southbound.protocol import chunks, subjects
from alcor.southbound.protocol import goalstate_pb2 as pb
from alcor.southbound.protocol.auth import OPEN, NatsAuth
from alcor.southbound.protocol.seqstream import SeqStream

log = logging.getLogger(__name__)

RPC_TIMEOUT = 30.0
UNDERLAY = ipaddress.IPv4Address("198.18.0.1")
# Seqs whose apply times are kept per record (`applied_at`, `group_applies`, `router_applies`):
# benchmarks and tests read the one just published, and a long `alcor sim` must not grow by
# one entry per message (an hour's soak: +41 MB with no bound; +12 MB/h still with 4,096 seqs,
# which that hour's ~3,000 router and group seqs, each applied by up to 100 hosts, never hit).
APPLIES_KEPT = 256


def _recent(record: dict[Any, Any], key: Any, value: Any) -> Any:
    """`record.setdefault(key, value)`, dropping the oldest keys beyond `APPLIES_KEPT`."""
    found = record.setdefault(key, value)
    if len(record) > APPLIES_KEPT:
        del record[next(iter(record))]
    return found


def _key(entry: Any) -> str:
    if isinstance(entry, pb.NeighborState | pb.AddressSetMember):
        return str(entry.port_id)
    return str(entry.id)


def _content(entry: Any) -> bytes:
    clean = type(entry)()
    clean.CopyFrom(entry)
    clean.revision = 0  # status-only bumps change revisions, never content
    if isinstance(clean, pb.PortState):
        clean.request_id = ""  # which request made it is no content (full states omit it)
    return clean.SerializeToString(deterministic=True)


def state_hash(
    ports: Iterable[Any],
    networks: Iterable[Any],
    subnets: Iterable[Any],
    groups: Iterable[Any],
    tables: Mapping[str, Iterable[Any]],
    sets: Mapping[str, Iterable[Any]],
    routers: Iterable[Any] = (),
) -> str:
    """A stable digest of what a host holds (or should hold): its resources, its neighbours,
    the address sets and the routers it follows."""
    h = hashlib.sha256()
    resources = (
        ("port", ports),
        ("net", networks),
        ("subnet", subnets),
        ("sg", groups),
        ("router", routers),
    )
    for label, entries in resources:
        for entry in sorted(entries, key=_key):
            h.update(label.encode() + _key(entry).encode() + _content(entry))
    for label, held in (("table", tables), ("set", sets)):
        for key in sorted(held):
            h.update(label.encode() + key.encode())
            for entry in sorted(held[key], key=_key):
                h.update(_content(entry))
    return h.hexdigest()


def expected_hash(conn: sa.Connection, host_id: str) -> str:
    """The digest of the state the database implies for `host_id` (test oracle)."""
    full = build.host_goal_states(conn, [host_id])[host_id]
    tables = {nid: build.neighbor_table(conn, nid).neighbors for nid in full.network_seqs}
    sets = {gid: build.address_set(conn, gid).members for gid in full.group_seqs}
    routers = [r for rid in full.router_seqs for r in build.router_delta(conn, rid).routers]
    return state_hash(
        full.ports, full.networks, full.subnets, full.security_groups, tables, sets, routers
    )


def _apply(held: dict[str, Any], entry: Any) -> bool:
    """Apply one UPSERT/DELETE with the revision guard; True when it changed anything."""
    key = _key(entry)
    current = held.get(key)
    if current is not None and entry.revision < current.revision:
        return False
    if entry.op == pb.DELETE:
        return held.pop(key, None) is not None
    held[key] = entry
    return True


class NetView:
    """One network's neighbour table, shared by the fleet's hosts that have ports there."""

    def __init__(self, fleet: Fleet, network_id: str) -> None:
        self.fleet = fleet
        self.network_id = network_id
        self.table: dict[str, pb.NeighborState] = {}
        self.members: set[str] = set()
        self.applied_at: dict[int, float] = {}  # seq -> when first applied (benchmarks)
        self.stream = SeqStream(f"network {network_id}", self._apply, self._fetch, self._replace)
        self.sub: Any = None

    async def start(self) -> None:
        self.stream.resync()  # buffer from the moment we subscribe
        self.sub = await self.fleet.nc.subscribe(subjects.network(self.network_id), cb=self._on_msg)

    async def stop(self) -> None:
        if self.sub is not None:
            with contextlib.suppress(nats.errors.Error):
                await self.sub.unsubscribe()
        if self.stream.task is not None:
            self.stream.task.cancel()

    async def _on_msg(self, msg: nats.aio.msg.Msg) -> None:
        self.stream.offer(pb.NeighborDelta.FromString(msg.data))

    def _apply(self, delta: pb.NeighborDelta) -> None:
        for n in delta.neighbors:
            _apply(self.table, n)
        _recent(self.applied_at, delta.seq, time.time())

    async def _fetch(self) -> pb.NeighborTable:
        req = pb.NeighborTableRequest(network_id=self.network_id).SerializeToString()
        return await chunks.request_table(self.fleet.nc, subjects.RPC_NEIGHBORS, req, RPC_TIMEOUT)

    def _replace(self, table: pb.NeighborTable) -> None:
        self.table = {n.port_id: n for n in table.neighbors}
        _recent(self.applied_at, table.seq, time.time())


class GroupView:
    """One group's members, kept once for the fleet's hosts that follow the group."""

    def __init__(self, group_id: str) -> None:
        self.group_id = group_id
        self.members: dict[str, pb.AddressSetMember] = {}
        self.seq = 0
        self.followers: set[str] = set()

    def apply(self, delta: pb.AddressSetDelta) -> None:
        """Every follower applies the same chain: the first one to reach a seq does the work."""
        if delta.seq > self.seq:
            for m in delta.members:
                _apply(self.members, m)
            self.seq = delta.seq

    def replace(self, full: pb.AddressSet) -> None:
        if full.seq >= self.seq:
            self.members = {m.port_id: m for m in full.members}
            self.seq = full.seq


class Follower(abc.ABC):
    """One host following one subject with its own seq chain, as a real agent does."""

    def __init__(self, host: SimHost, name: str, subject: str) -> None:
        self.host = host
        self.subject = subject
        name = f"{name} on {host.host_id}"
        self.stream = SeqStream(name, self._apply, self._fetch, self._replace)
        self.sub: Any = None

    async def start(self) -> None:
        self.stream.resync()  # buffer from the moment we subscribe
        self.sub = await self.host.fleet.nc.subscribe(self.subject, cb=self._on_msg)

    async def stop(self) -> None:
        if self.sub is not None:
            with contextlib.suppress(nats.errors.Error):
                await self.sub.unsubscribe()
        self.stream.cancel()

    @abc.abstractmethod
    async def _on_msg(self, msg: nats.aio.msg.Msg) -> None: ...

    @abc.abstractmethod
    def _apply(self, delta: Any) -> None: ...

    @abc.abstractmethod
    async def _fetch(self) -> Any: ...

    @abc.abstractmethod
    def _replace(self, full: Any) -> None: ...


class GroupFollower(Follower):
    """One host following one group's address set (members kept in the fleet's view)."""

    def __init__(self, host: SimHost, view: GroupView) -> None:
        super().__init__(host, f"group {view.group_id}", subjects.group(view.group_id))
        self.view = view

    async def _on_msg(self, msg: nats.aio.msg.Msg) -> None:
        self.host.fleet.group_received += 1
        self.stream.offer(pb.AddressSetDelta.FromString(msg.data))

    def _apply(self, delta: pb.AddressSetDelta) -> None:
        self.view.apply(delta)
        self.host.fleet.group_applied(self.host, self.view.group_id, delta.seq)

    async def _fetch(self) -> pb.AddressSet:
        req = pb.AddressSetRequest(group_id=self.view.group_id, host_id=self.host.host_id)
        return await chunks.request_address_set(
            self.host.fleet.nc, subjects.RPC_ADDRESS_SET, req.SerializeToString(), RPC_TIMEOUT
        )

    def _replace(self, full: pb.AddressSet) -> None:
        self.view.replace(full)
        self.host.fleet.group_applied(self.host, self.view.group_id, full.seq)


class RouterFollower(Follower):
    """One host following one router: every message holds the whole router."""

    def __init__(self, host: SimHost, router_id: str) -> None:
        super().__init__(host, f"router {router_id}", subjects.router(router_id))
        self.router_id = router_id
        self.state: pb.RouterState | None = None

    async def _on_msg(self, msg: nats.aio.msg.Msg) -> None:
        self.host.fleet.router_received += 1
        self.stream.offer(pb.RouterDelta.FromString(msg.data))

    def _apply(self, delta: pb.RouterDelta) -> None:
        state = delta.routers[0] if delta.routers else None
        self.state = state if state is not None and state.op == pb.UPSERT else None
        self.host.fleet.router_applied(self.host, self.router_id, delta.seq)

    async def _fetch(self) -> pb.RouterDelta:
        req = pb.RouterStateRequest(router_id=self.router_id, host_id=self.host.host_id)
        return await chunks.request_router(
            self.host.fleet.nc, subjects.RPC_ROUTER, req.SerializeToString(), RPC_TIMEOUT
        )

    def _replace(self, full: pb.RouterDelta) -> None:
        self._apply(full)


class SimHost:
    """One simulated agent: its own ports, networks and subnets, and its host subject."""

    def __init__(self, fleet: Fleet, host_id: str, tunnel_ip: str) -> None:
        self.fleet = fleet
        self.host_id = host_id
        self.tunnel_ip = tunnel_ip
        self.ports: dict[str, pb.PortState] = {}
        self.networks: dict[str, pb.NetworkState] = {}
        self.subnets: dict[str, pb.SubnetState] = {}
        self.groups: dict[str, pb.SecurityGroupState] = {}
        self.following: dict[str, GroupFollower] = {}
        self.routers: dict[str, RouterFollower] = {}
        self.stream = SeqStream(f"host {host_id}", self._apply, self._fetch, self._replace)
        self.sub: Any = None
        self.alive = False
        self.next_beat = 0.0
        self.received_at = 0.0

    def info(self) -> pb.AgentInfo:
        return pb.AgentInfo(
            host_id=self.host_id,
            tunnel_ip=self.tunnel_ip,
            tunnel_types=["vxlan"],
            datapath_type="simulated",
            agent_version="sim",
            agent_type="Alcor simulated agent",
            binary="alcor-sim",
            started_at=time.time(),
        )

    async def start(self) -> None:
        """Register, subscribe, then fetch and apply the full state."""
        reply = pb.RegisterReply.FromString(
            (
                await self.fleet.nc.request(
                    subjects.of_host(subjects.RPC_REGISTER, self.host_id),
                    self.info().SerializeToString(),
                    RPC_TIMEOUT,
                )
            ).data
        )
        if not reply.ok:
            raise RuntimeError(f"{self.host_id}: registration refused: {reply.error}")
        self.fleet.heartbeat_interval = reply.heartbeat_interval_ms / 1000 or 10.0
        self.alive = True
        self.next_beat = time.monotonic() + random.random() * self.fleet.heartbeat_interval
        self.stream.resync()
        self.sub = await self.fleet.nc.subscribe(subjects.host(self.host_id), cb=self._on_msg)
        if self.stream.task is not None:
            await self.stream.task  # the first full state; deltas buffer meanwhile

    async def stop(self) -> None:
        """The host dies: no more messages, acks or heartbeats (its state is kept)."""
        self.alive = False
        if self.sub is not None:
            with contextlib.suppress(nats.errors.Error):
                await self.sub.unsubscribe()
            self.sub = None
        if self.stream.task is not None:
            self.stream.task.cancel()
        for nid in list(self.networks):
            await self.fleet.leave(nid, self.host_id)
        for gid in list(self.following):
            await self.unfollow(gid)
        for rid in list(self.routers):
            await self.routers.pop(rid).stop()

    async def pause(self) -> None:
        """Stop hearing the host subject (a partition) while staying alive otherwise."""
        if self.sub is not None:
            await self.sub.unsubscribe()
            self.sub = None
            await self.fleet.nc.flush()

    async def resume(self) -> None:
        """Hear the host subject again; missed messages surface as a gap on the next one.

        The flush waits until nats-server holds the subscription: a delta published before
        that would be missed too, and with nothing after it no gap would ever show.
        """
        if self.sub is None:
            self.sub = await self.fleet.nc.subscribe(subjects.host(self.host_id), cb=self._on_msg)
            await self.fleet.nc.flush()

    async def _on_msg(self, msg: nats.aio.msg.Msg) -> None:
        delta = pb.HostDelta.FromString(msg.data)
        self.fleet.received += 1
        self.received_at = time.time()
        self.stream.offer(delta)

    async def _fetch(self) -> pb.HostGoalState:
        req = pb.HostStateRequest(host_id=self.host_id).SerializeToString()
        msg = await self.fleet.nc.request(
            subjects.of_host(subjects.RPC_HOST_STATE, self.host_id), req, RPC_TIMEOUT
        )
        return pb.HostGoalState.FromString(msg.data)

    def _apply(self, delta: pb.HostDelta) -> None:
        received = self.received_at or time.time()
        for n in delta.networks:
            _apply(self.networks, n)
        for s in delta.subnets:
            _apply(self.subnets, s)
        for g in delta.security_groups:
            _apply(self.groups, g)
        changed = [p for p in delta.ports if _apply(self.ports, p) and p.op == pb.UPSERT]
        self._sync_networks()
        self._sync_groups()
        self._sync_routers()
        self.fleet.ack(self, changed, received)

    def _replace(self, full: pb.HostGoalState) -> None:
        self.ports = {p.id: p for p in full.ports}
        self.networks = {n.id: n for n in full.networks}
        self.subnets = {s.id: s for s in full.subnets}
        self.groups = {g.id: g for g in full.security_groups}
        self._sync_networks()
        self._sync_groups()
        self._sync_routers()
        self.fleet.ack(self, list(self.ports.values()), time.time())

    def _sync_networks(self) -> None:
        """Keep only networks (and subnets) with local ports; join/leave neighbour views."""
        used = {p.network_id for p in self.ports.values()}
        for nid in list(self.networks):
            if nid not in used:
                del self.networks[nid]
        self.subnets = {k: s for k, s in self.subnets.items() if s.network_id in used}
        joined = self.fleet.joined.setdefault(self.host_id, set())
        for nid in used - joined:
            self.fleet.join(nid, self.host_id)
        for nid in joined - used:
            self.fleet.schedule_leave(nid, self.host_id)

    def _sync_groups(self) -> None:
        """Keep only groups with local ports; follow the address sets their rules name."""
        used = {g for p in self.ports.values() for g in p.security_group_ids}
        self.groups = {k: g for k, g in self.groups.items() if k in used}
        needed = build.remote_groups(self.groups.values())
        for gid in needed - self.following.keys():
            view = self.fleet.group_views.setdefault(gid, GroupView(gid))
            view.followers.add(self.host_id)
            self.following[gid] = follower = GroupFollower(self, view)
            self.fleet.spawn(follower.start())
        for gid in self.following.keys() - needed:
            self.fleet.spawn(self.unfollow(gid))

    def _sync_routers(self) -> None:
        """Follow the routers attached to the networks of local ports."""
        needed = {r for n in self.networks.values() for r in n.router_ids}
        for rid in needed - self.routers.keys():
            self.routers[rid] = follower = RouterFollower(self, rid)
            self.fleet.spawn(follower.start())
        for rid in self.routers.keys() - needed:
            self.fleet.spawn(self.routers.pop(rid).stop())

    async def unfollow(self, group_id: str) -> None:
        follower = self.following.pop(group_id, None)
        if follower is None:
            return
        await follower.stop()
        view = follower.view
        view.followers.discard(self.host_id)
        if not view.followers and self.fleet.group_views.get(group_id) is view:
            del self.fleet.group_views[group_id]

    def state_hash(self) -> str:
        tables = {
            nid: self.fleet.views[nid].table.values()
            for nid in self.networks
            if nid in self.fleet.views
        }
        sets = {gid: f.view.members.values() for gid, f in self.following.items()}
        return state_hash(
            self.ports.values(),
            self.networks.values(),
            self.subnets.values(),
            self.groups.values(),
            tables,
            sets,
            [f.state for f in self.routers.values() if f.state is not None],
        )

    def synced(self) -> bool:
        views = [self.fleet.views.get(nid) for nid in self.networks]
        return (
            not self.stream.syncing
            and all(v is not None and not v.stream.syncing for v in views)
            and not any(f.stream.syncing for f in self.following.values())
            and not any(f.stream.syncing for f in self.routers.values())
        )


class Fleet:
    """N simulated hosts sharing one NATS connection, one ack batcher, one heartbeat loop."""

    def __init__(
        self,
        nats_url: str,
        count: int,
        prefix: str = "sim",
        first: int = 0,
        auth: NatsAuth = OPEN,  # fleet credentials (`alcor hosts add --fleet`)
    ) -> None:
        self.nats_url = nats_url
        self.auth = auth
        self.hosts: dict[str, SimHost] = {}
        for i in range(first, first + count):
            host_id = f"{prefix}-{i:05d}"
            self.hosts[host_id] = SimHost(self, host_id, str(UNDERLAY + i))
        self.views: dict[str, NetView] = {}
        self.joined: dict[str, set[str]] = {}
        self.group_views: dict[str, GroupView] = {}
        # (group id, seq) -> when each following host applied it (benchmarks, tests)
        self.group_applies: dict[tuple[str, int], dict[str, float]] = {}
        self.heartbeat_interval = 10.0
        self.received = 0
        self.group_received = 0  # address-set deltas delivered, over all following hosts
        # (router id, seq) -> when each following host applied it (benchmarks, tests)
        self.router_applies: dict[tuple[str, int], dict[str, float]] = {}
        self.router_received = 0  # router messages delivered, over all following hosts
        self.acks_sent = 0
        self._acks: dict[str, list[pb.ResourceStatus]] = {}
        self._ack_event = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._pending: set[asyncio.Task[None]] = set()
        self.nc: nats.aio.client.Client = nats.aio.client.Client()

    async def start(
        self, progress: Callable[[int], None] | None = None, concurrency: int = 256
    ) -> None:
        """Connect, then start every host (`progress(n)` after each registration)."""
        self.nc = await nats.connect(
            nats_servers(self.nats_url),
            name="alcor-sim",
            max_reconnect_attempts=-1,
            reconnect_time_wait=0.2,
            pending_size=256 * 1024 * 1024,
            reconnected_cb=self._on_reconnect,
            **self.auth.options(),
        )
        self._tasks = [
            asyncio.create_task(self._ack_loop()),
            asyncio.create_task(self._heartbeat_loop()),
        ]
        gate = asyncio.Semaphore(concurrency)

        async def one(host: SimHost) -> None:
            async with gate:
                await host.start()
            if progress is not None:
                progress(1)

        await asyncio.gather(*(one(h) for h in self.hosts.values()))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for host in self.hosts.values():
            if host.stream.task is not None:
                host.stream.task.cancel()
        for view in self.views.values():
            if view.stream.task is not None:
                view.stream.task.cancel()
        for host in self.hosts.values():
            for follower in host.following.values():
                follower.stream.cancel()
        with contextlib.suppress(Exception):
            await self.nc.close()

    async def _on_reconnect(self) -> None:
        """Anything may have been published while we were away: resync everything.

        Waiting for the next delta to reveal a gap is not enough, since a quiet subject would
        stay stale for good; real agents do the same on reconnect.
        """
        for host in self.hosts.values():
            if host.alive:
                host.stream.resync()
        for view in self.views.values():
            view.stream.resync()
        for host in self.hosts.values():
            for follower in host.following.values():
                follower.stream.resync()

    # -- neighbour views ---------------------------------------------------------------------
    def join(self, network_id: str, host_id: str) -> None:
        self.joined.setdefault(host_id, set()).add(network_id)
        view = self.views.get(network_id)
        if view is None:
            view = self.views[network_id] = NetView(self, network_id)
            self.spawn(view.start())
        view.members.add(host_id)

    def schedule_leave(self, network_id: str, host_id: str) -> None:
        self.spawn(self.leave(network_id, host_id))

    async def leave(self, network_id: str, host_id: str) -> None:
        self.joined.get(host_id, set()).discard(network_id)
        view = self.views.get(network_id)
        if view is None:
            return
        view.members.discard(host_id)
        if not view.members:
            del self.views[network_id]
            await view.stop()

    def spawn(self, coro: Awaitable[None]) -> None:
        task = asyncio.ensure_future(coro)
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    # -- acks and heartbeats -----------------------------------------------------------------
    def group_applied(self, host: SimHost, group_id: str, seq: int) -> None:
        """A host applied an address set up to `seq` (no wire ack exists for address sets:
        hosts report on ports only; benchmarks and tests read these times)."""
        if host.alive:
            _recent(self.group_applies, (group_id, seq), {})[host.host_id] = time.time()

    def router_applied(self, host: SimHost, router_id: str, seq: int) -> None:
        """A host applied a router's state as of `seq` (like address sets, no wire ack)."""
        if host.alive:
            _recent(self.router_applies, (router_id, seq), {})[host.host_id] = time.time()

    def ack(self, host: SimHost, ports: list[pb.PortState], received_at: float) -> None:
        if not host.alive or not ports:
            return
        now = time.time()
        self._acks.setdefault(host.host_id, []).extend(
            pb.ResourceStatus(
                resource_type="port",
                id=p.id,
                revision=p.revision,
                state=pb.SUCCESS,
                received_at=received_at,
                programmed_at=now,
                request_id=p.request_id,
            )
            for p in ports
        )
        self._ack_event.set()

    async def _ack_loop(self) -> None:
        while True:
            await self._ack_event.wait()
            await asyncio.sleep(0)  # let the callbacks already queued add theirs
            self._ack_event.clear()
            acks, self._acks = self._acks, {}
            now = time.time()
            for host_id, statuses in acks.items():
                report = pb.StatusReport(host_id=host_id, statuses=statuses, sent_at=now)
                await self.nc.publish(
                    subjects.of_host(subjects.STATUS, host_id), report.SerializeToString()
                )
                self.acks_sent += len(statuses)

    async def _heartbeat_loop(self) -> None:
        while True:
            tick = min(1.0, self.heartbeat_interval / 10)
            await asyncio.sleep(tick)
            now = time.monotonic()
            for host in self.hosts.values():
                if host.alive and host.next_beat <= now:
                    host.next_beat = now + self.heartbeat_interval
                    beat = pb.Heartbeat(
                        host_id=host.host_id, sent_at=time.time(), applied_seq=host.stream.seq
                    )
                    with contextlib.suppress(nats.errors.Error):
                        await self.nc.publish(
                            subjects.of_host(subjects.HEARTBEAT, host.host_id),
                            beat.SerializeToString(),
                        )

    # -- observation -------------------------------------------------------------------------
    def all_synced(self) -> bool:
        return all(h.synced() for h in self.hosts.values() if h.alive)

    def hashes(self) -> dict[str, str]:
        return {h.host_id: h.state_hash() for h in self.hosts.values()}


async def run_fleet(
    nats_url: str,
    count: int,
    prefix: str,
    progress: Callable[[int], None] | None = None,
    auth: NatsAuth = OPEN,
) -> Fleet:
    """Start a fleet and return it once every host registered (used by `alcor sim`)."""
    fleet = Fleet(nats_url, count, prefix, auth=auth)
    await fleet.start(progress)
    return fleet
