"""The host agent: NATS goal state in, OVS programming out, port status back.

Lifecycle: open the OpenFlow channel (DHCP), connect OVSDB and bootstrap br-int and the
tunnel port, connect NATS, register (retried until a server answers), subscribe the host
subject and fetch the full host state, then the subject and full state of every router of
the local networks, and of every network with a local port or routed into by those routers
(plus the address sets of remote groups). Only when all of that is in hand does the first
flow programming happen, as one diff-based `replace-flows`: a restarted agent therefore never
programs a partial state, and flows that were right stay untouched (kill -9 invariant).

Afterwards every change (host delta, neighbour delta, VIF plugged/unplugged, resync) marks the
flow owners it touches; one programmer task coalesces them into one programming round, then
reports the ports whose state changed (PENDING until the VIF is plugged, SUCCESS once its flows are
acknowledged by OVS, REMOVED when it is unplugged or deleted) on the status subject.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import gc
import logging
import os
import signal
import time
from typing import Any

import nats
import nats.aio.client
import nats.aio.msg
import nats.errors
from google.protobuf.message import Message

from alcor.agent import audit, dhcp, dhcp6, flows, frames6, metrics, nat, physnets, radv
from alcor.agent.busypoll import BusyPollSelector
from alcor.agent.conntrack import Conntrack
from alcor.agent.direct import DirectChannel
from alcor.agent.groups import SG_MEMBERS, SG_OWNER
from alcor.agent.model import HostModel, Owner
from alcor.agent.ofctl import Ofctl, OfctlError
from alcor.agent.ondemand import Resolver
from alcor.agent.openflow_channel import OpenFlowChannel, PacketIn
from alcor.agent.ovsdb import Interface, OvsDriver
from alcor.agent.reconciler import Reconciler
from alcor.config import AgentSettings, nats_servers
from alcor.southbound.protocol import goalstate_pb2 as pb
from alcor.southbound.protocol import subjects
from alcor.southbound.protocol.auth import NatsAuth
from alcor.southbound.protocol.chunks import request_address_set, request_router, request_table
from alcor.southbound.protocol.seqstream import SeqStream

log = logging.getLogger(__name__)

AGENT_VERSION = "0.1.0"
CHANNEL_SOCKET = "alcor-agent.sock"
FREEZE_AFTER = 50_000  # objects allocated in a round after which the survivors are frozen
# Tables whose packet-ins are misses of on-demand networks (`flows.miss_flows`)
MISS_TABLES = frozenset((flows.ARP_RESPONDER, flows.L2_FORWARD, flows.ROUTE_NEIGHBOR))


class Agent:
    """One hypervisor's agent; `run()` until `stop()` (or SIGTERM)."""

    def __init__(
        self,
        settings: AgentSettings,
        rpc_timeout: float = 10.0,
        poller: BusyPollSelector | None = None,
    ) -> None:
        if not settings.host_id or not settings.tunnel_ip:
            raise ValueError("host_id and tunnel_ip are required")
        self.settings = settings
        self.host_id = settings.host_id
        self.rpc_timeout = rpc_timeout
        self.poller = poller  # the loop's selector, when it polls for answers (`busypoll`)
        self.model = HostModel(self.host_id)
        self.model.tunnel_ip = settings.tunnel_ip
        self.model.neighbor_idle_timeout = settings.neighbor_idle_timeout
        self.bridge_mappings = physnets.parse_bridge_mappings(settings.bridge_mappings)
        rundir = settings.ovs_rundir
        self.resolver = Resolver(self)
        # The server's direct resolve channel (`alcor.agent.direct`), once a NATS answer names it
        self.direct = (
            DirectChannel(self.host_id, settings.resolve_direct_timeout)
            if settings.resolve_direct
            else None
        )
        self.channel = OpenFlowChannel(
            os.path.join(rundir, CHANNEL_SOCKET), self._on_packet_in, self.resolver.on_flow_removed
        )
        self.ovs = OvsDriver(
            settings.ovsdb,
            settings.integration_bridge,
            settings.datapath_type,
            settings.tunnel_type,
            settings.tunnel_ip,
            self.bridge_mappings,
        )
        mgmt = f"unix:{os.path.join(rundir, settings.integration_bridge)}.mgmt"
        self.reconciler = Reconciler(Ofctl(mgmt))
        self.conntrack = Conntrack(rundir)
        self.nc: nats.aio.client.Client = nats.aio.client.Client()
        self.host_stream = SeqStream(
            f"host {self.host_id}", self._apply_host, self._fetch_host, self._replace_host
        )
        self.net_streams: dict[str, SeqStream] = {}
        self.group_streams: dict[str, SeqStream] = {}  # remote groups' address sets
        self.router_streams: dict[str, SeqStream] = {}  # routers of the local networks
        self.subs: dict[str, Any] = {}  # subject -> subscription (networks, groups)
        self.interfaces: dict[str, Interface] = {}  # OVSDB Interface uuid -> row snapshot
        self.dirty: set[Owner] = set()
        self.wake = asyncio.Event()
        self.cut_wanted = asyncio.Event()  # stale connections to cut (`_cutter`)
        self.programmed_once = False
        self.reported: dict[str, tuple[int, pb.ProgramState]] = {}  # port id -> (revision, state)
        self.fips_reported: dict[str, tuple[int, pb.ProgramState]] = {}  # same, floating IPs
        self.announced: dict[str, str] = {}  # external address key -> address announced
        self.asked_at = 0.0  # last ARP request for unknown external gateways
        # local port id -> (the RA it should hear, initial sends left, when the next is due)
        self.advertised: dict[str, tuple[bytes, int, float]] = {}
        self.digester = audit.Digester()
        self.resyncs_asked = 0  # by the server's audit
        self._before_resync: dict[str, dict[str, Message]] | None = None
        self.beat_soon = asyncio.Event()  # a round changed what we hold: report it
        self.heartbeat_interval = settings.heartbeat_interval
        self.stopping = asyncio.Event()
        self.started_at = time.time()
        self.applied = asyncio.Condition()
        self._received_at = 0.0  # when the host delta being applied arrived
        self.programs = 0  # completed programming rounds (tests and benchmarks wait on it)
        self.rounds_started = 0
        self._tasks: list[asyncio.Task[None]] = []
        self._spawned: set[asyncio.Task[None]] = set()
        # for `alcor.agent.metrics`: full-state fetches of streams no longer followed, by
        # kind, and NATS connections made
        self.resyncs_gone: collections.Counter[str] = collections.Counter()
        self.nats_connections = 0
        self.exporter: metrics.Exporter | None = None

    # -- lifecycle ---------------------------------------------------------------------------
    async def start(self) -> None:
        if self.settings.metrics_bind:
            try:
                self.exporter = metrics.Exporter(self, self.settings.metrics_bind)
            except (OSError, ValueError) as exc:  # the data plane matters more than metrics
                log.error("metrics not served on %s: %s", self.settings.metrics_bind, exc)
        await self.channel.start()
        await self.ovs.connect()
        self.model.tunnel_ofport = await self.ovs.bootstrap(self.channel.target)
        self.reconciler.meters = await self.reconciler.ofctl.meters()
        await self._bind_physnets()
        self._drain_interfaces()
        self.nc = await nats.connect(
            nats_servers(self.settings.nats_url),
            name=f"alcor-agent-{self.host_id}",
            max_reconnect_attempts=-1,
            reconnect_time_wait=0.5,
            allow_reconnect=True,
            pending_size=512 * 1024 * 1024,
            reconnected_cb=self._on_reconnected,
            error_cb=self._on_error,
            disconnected_cb=self._on_disconnected,
            **NatsAuth(
                self.settings.nats_credentials,
                self.settings.nats_tls_ca,
                subjects.inbox(self.host_id),
            ).options(),
        )
        self.nats_connections = 1
        self._tasks = [
            asyncio.create_task(self._programmer()),
            asyncio.create_task(self._cutter()),
            asyncio.create_task(self._watch_interfaces()),
            asyncio.create_task(self._periodic_advertisements()),
        ]
        await self._register()
        self._tasks.append(asyncio.create_task(self._heartbeats()))
        self.host_stream.resync()
        await self.nc.subscribe(subjects.host(self.host_id), cb=self._on_host_msg)
        self._spawn(self.resolver.discover())

    async def _bind_physnets(self) -> None:
        """Tell the model how each mapped physical network is reached (after bootstrap)."""
        ofports = await self.ovs.patch_ofports()
        keys = physnets.keys(self.bridge_mappings)
        self.model.physnets = {
            name: physnets.Bridge(bridge, keys[name], ofports[name])
            for name, bridge in self.bridge_mappings.items()
        }

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.stopping.set)
        await self.start()
        await self.stopping.wait()
        await self.stop()

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        self.host_stream.cancel()
        for stream in self._followed():
            stream.cancel()
        with contextlib.suppress(Exception):
            await self.nc.close()
        await self.reconciler.close()
        await self.channel.stop()
        if self.direct is not None:
            self.direct.close()
        self.ovs.stop()
        if self.exporter is not None:
            self.exporter.stop()

    # -- NATS --------------------------------------------------------------------------------
    def _info(self) -> pb.AgentInfo:
        s = self.settings
        return pb.AgentInfo(
            host_id=self.host_id,
            tunnel_ip=s.tunnel_ip,
            tunnel_types=[s.tunnel_type],
            datapath_type=s.datapath_type,
            agent_version=AGENT_VERSION,
            agent_type="Open vSwitch agent",
            binary="alcor-agent",
            configurations={
                "integration_bridge": s.integration_bridge,
                "ovs_rundir": s.ovs_rundir,
                "agent_mode": "dvr_snat" if s.gateway else "dvr",
                "availability_zone": s.availability_zone,
            },
            started_at=self.started_at,
            bridge_mappings=self.bridge_mappings,
        )

    async def _register(self) -> None:
        """RPC_REGISTER until a server says ok (servers may start after the agents)."""
        delay = 0.2
        while True:
            try:
                msg = await self.nc.request(
                    subjects.of_host(subjects.RPC_REGISTER, self.host_id),
                    self._info().SerializeToString(),
                    self.rpc_timeout,
                )
                reply = pb.RegisterReply.FromString(msg.data)
                if reply.ok:
                    if reply.heartbeat_interval_ms:
                        self.heartbeat_interval = reply.heartbeat_interval_ms / 1000
                    return
                log.warning("registration refused: %s", reply.error)
            except (TimeoutError, nats.errors.Error) as exc:
                log.info("registration not answered yet: %s", exc)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)

    async def _heartbeats(self) -> None:
        """Signs of life every interval, and (at most once a second) soon after a round that
        changed what we hold, with the digests of it once every followed subject is in step
        (a digest mid-sync would only tell the audit what it already knows)."""
        while True:
            beat = pb.Heartbeat(
                host_id=self.host_id, sent_at=time.time(), applied_seq=self.host_stream.seq
            )
            if self.programmed_once and self._ready() and not self.dirty:
                beat.digests.update(self.digester(self.model))
            with contextlib.suppress(nats.errors.Error):
                await self.nc.publish(
                    subjects.of_host(subjects.HEARTBEAT, self.host_id), beat.SerializeToString()
                )
            await asyncio.sleep(min(1.0, self.heartbeat_interval))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.beat_soon.wait(), max(0.0, self.heartbeat_interval - 1))
            self.beat_soon.clear()

    async def _on_reconnected(self) -> None:
        """We may have missed deltas while NATS was away: register again and resync all."""
        log.info("NATS reconnected: re-registering and resyncing")
        self.nats_connections += 1
        self._spawn(self._resync_all())

    async def _resync_all(self) -> None:
        await self._register()
        self._spawn(self.resolver.refresh())  # invalidations may have been missed meanwhile
        self.reported = {}
        self.fips_reported = {}
        self.host_stream.resync()
        for stream in self._followed():
            stream.resync()

    async def _on_error(self, exc: Exception) -> None:
        log.debug("NATS: %s", exc)

    async def _on_disconnected(self) -> None:
        log.info("NATS disconnected; OVS keeps forwarding with the flows it has")

    def _spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._spawned.add(task)
        task.add_done_callback(self._spawned.discard)

    # -- host subject ------------------------------------------------------------------------
    async def _on_host_msg(self, msg: nats.aio.msg.Msg) -> None:
        self._received_at = time.time()
        delta = pb.HostDelta.FromString(msg.data)
        if delta.resync:
            log.warning("the server's audit found our state differs from intent: full resync")
            self.resyncs_asked += 1
            self._before_resync = audit.snapshot(self.model)
            self.programmed_once = False  # and reprogram OVS from scratch (replace-flows)
            self._spawn(self._resync_all())
            return
        self.host_stream.offer(delta)

    async def _fetch_host(self) -> pb.HostGoalState:
        req = pb.HostStateRequest(host_id=self.host_id).SerializeToString()
        msg = await self.nc.request(
            subjects.of_host(subjects.RPC_HOST_STATE, self.host_id), req, self.rpc_timeout
        )
        return pb.HostGoalState.FromString(msg.data)

    def _apply_host(self, delta: pb.HostDelta) -> None:
        self._mark(self.model.apply_host_delta(delta, self._received_at or time.time()))
        self._sync_follows()

    def _replace_host(self, full: pb.HostGoalState) -> None:
        self.model.replace_host_state(full, time.time())
        if self._before_resync is not None:
            found = audit.drift(self._before_resync, self.model)
            log.warning(
                "resync %d repaired: %s", self.resyncs_asked, found or "no host-state entry changed"
            )
            self._before_resync = None
        self.reported = {pid: st for pid, st in self.reported.items() if pid in self.model.ports}
        self._mark(self.model.all_owners())
        self._sync_follows()

    def _followed(self) -> list[SeqStream]:
        return [
            *self.net_streams.values(),
            *self.group_streams.values(),
            *self.router_streams.values(),
        ]

    def _sync_follows(self) -> None:
        """Follow exactly the routers of the networks that have local ports, the networks
        those ports and routers need (`HostModel.served_networks`) and the remote groups
        named by the rules of local ports' groups."""
        routers = self.model.wanted_routers()
        for rid in routers - set(self.router_streams):
            self._follow_router(rid)
        for rid in set(self.router_streams) - routers:
            self._unfollow(self.router_streams, rid, subjects.router(rid))
            self._mark(self.model.drop_router(rid))
        wanted = self.model.served_networks()
        for nid in wanted - set(self.net_streams):
            self._join(nid)
        for nid in set(self.net_streams) - wanted:
            self._leave(nid)
        needed = self.model.needed_networks()
        on_demand = {n for n in needed if self.model.on_demand(n)}
        self.resolver.drop_networks(on_demand)
        for nid in set(self.model.tables) - wanted - on_demand:
            self._mark(self.model.drop_table(nid))
        groups = self.model.security.wanted()
        for gid in groups - set(self.group_streams):
            self._follow_group(gid)
        for gid in set(self.group_streams) - groups:
            self._unfollow(self.group_streams, gid, subjects.group(gid))
            self._mark(self.model.drop_address_set(gid))

    # -- network and group subjects ----------------------------------------------------------
    def _follow(
        self, streams: dict[str, SeqStream], key: str, subject: str, stream: SeqStream, decode: Any
    ) -> None:
        """Subscribe `subject` feeding `stream` (which fetches the full state first and
        buffers deltas from the moment we subscribe)."""
        streams[key] = stream
        stream.resync()

        async def on_msg(msg: nats.aio.msg.Msg) -> None:
            stream.offer(decode(msg.data))

        async def subscribe() -> None:
            self.subs[subject] = await self.nc.subscribe(subject, cb=on_msg)

        self._spawn(subscribe())

    def _unfollow(self, streams: dict[str, SeqStream], key: str, subject: str) -> None:
        stream = streams.pop(key)
        stream.cancel()
        self.resyncs_gone[stream.name.split()[0]] += stream.resyncs
        sub = self.subs.pop(subject, None)
        if sub is not None:
            self._spawn(sub.unsubscribe())

    def _join(self, network_id: str) -> None:
        async def fetch() -> pb.NeighborTable:
            req = pb.NeighborTableRequest(network_id=network_id, host_id=self.host_id)
            return await request_table(
                self.nc, subjects.RPC_NEIGHBORS, req.SerializeToString(), self.rpc_timeout
            )

        def apply(delta: pb.NeighborDelta) -> None:
            self._mark(self.model.apply_neighbor_delta(delta))

        def replace(table: pb.NeighborTable) -> None:
            self._mark(self.model.replace_table(table))

        stream = SeqStream(f"network {network_id}", apply, fetch, replace)
        self._follow(
            self.net_streams,
            network_id,
            subjects.network(network_id),
            stream,
            pb.NeighborDelta.FromString,
        )

    def _leave(self, network_id: str) -> None:
        self._unfollow(self.net_streams, network_id, subjects.network(network_id))
        self._mark(self.model.drop_table(network_id))

    def _follow_group(self, group_id: str) -> None:
        async def fetch() -> pb.AddressSet:
            req = pb.AddressSetRequest(group_id=group_id, host_id=self.host_id)
            return await request_address_set(
                self.nc, subjects.RPC_ADDRESS_SET, req.SerializeToString(), self.rpc_timeout
            )

        def apply(delta: pb.AddressSetDelta) -> None:
            self._mark(self.model.apply_address_delta(delta))

        def replace(full: pb.AddressSet) -> None:
            self._mark(self.model.replace_address_set(full))

        stream = SeqStream(f"group {group_id}", apply, fetch, replace)
        self._follow(
            self.group_streams,
            group_id,
            subjects.group(group_id),
            stream,
            pb.AddressSetDelta.FromString,
        )

    def _follow_router(self, router_id: str) -> None:
        async def fetch() -> pb.RouterDelta:
            req = pb.RouterStateRequest(router_id=router_id, host_id=self.host_id)
            return await request_router(
                self.nc, subjects.RPC_ROUTER, req.SerializeToString(), self.rpc_timeout
            )

        def apply(delta: pb.RouterDelta) -> None:
            self._mark(self.model.apply_router(delta))
            self._sync_follows()  # the networks it connects may have changed

        stream = SeqStream(f"router {router_id}", apply, fetch, apply)
        self._follow(
            self.router_streams,
            router_id,
            subjects.router(router_id),
            stream,
            pb.RouterDelta.FromString,
        )

    # -- VIFs --------------------------------------------------------------------------------
    def _drain_interfaces(self) -> None:
        while not self.ovs.queue.empty():
            self._interface(self.ovs.queue.get_nowait())

    async def _watch_interfaces(self) -> None:
        while True:
            self._interface(await self.ovs.queue.get())
            self._drain_interfaces()

    def _interface(self, iface: Interface) -> None:
        old = self.interfaces.pop(iface.uuid, None)
        if not iface.deleted:
            self.interfaces[iface.uuid] = iface
        for port_id in {i.iface_id for i in (old, iface) if i is not None and i.iface_id}:
            ofports = [
                i.ofport for i in self.interfaces.values() if i.iface_id == port_id and i.ofport > 0
            ]
            self._mark(self.model.set_vif(port_id, max(ofports) if ofports else None))

    # -- programming -------------------------------------------------------------------------
    def _mark(self, owners: set[Owner]) -> None:
        if owners:
            self.dirty |= owners
            self.wake.set()

    def _ready(self) -> bool:
        """True once the host state and every needed neighbour table, address set and router
        have been fetched."""
        if not self.host_stream.synced_once:
            return False
        return (
            all(
                nid in self.net_streams and self.net_streams[nid].synced_once
                for nid in self.model.served_networks()
            )
            and all(
                gid in self.group_streams and self.group_streams[gid].synced_once
                for gid in self.model.security.wanted()
            )
            and all(
                rid in self.router_streams and self.router_streams[rid].synced_once
                for rid in self.model.wanted_routers()
            )
        )

    async def _programmer(self) -> None:
        while True:
            await self.wake.wait()
            self.wake.clear()
            if not self._ready():
                continue
            if self.programs == 0 and not self.programmed_once:
                await self.resolver.recover()  # before the bridge is made to hold the model
            owners, self.dirty = self.dirty, set()
            self.rounds_started += 1
            kind = "incremental" if self.programmed_once else "full"
            started = time.perf_counter()
            # No cyclic GC while a round computes and streams: with 100k+ neighbour entries
            # held (protobuf objects are GC-tracked), the full collections the round's own
            # allocations trigger cost about as much as the round. Cycles made meanwhile are
            # collected after it, so nothing leaks.
            gc_was_enabled = gc.isenabled()
            gc.disable()
            try:
                await self.reconciler.ensure_meters(
                    self.model.meters(), self.settings.miss_rate_limit
                )
                if self.programmed_once:
                    text, neighbors = self.model.split_owners(owners)
                    desired = self.model.desired(text)
                    computed = time.perf_counter()
                    await self.reconciler.apply(desired, self.model.neighbor_updates(neighbors))
                    log.debug(
                        "round %d: %d owners (%d neighbour), desired %.3f s, applied %d in %.3f s",
                        self.rounds_started,
                        len(owners),
                        sum(map(len, neighbors.values())),
                        computed - started,
                        self.reconciler.last_lines,
                        self.reconciler.last_apply_s,
                    )
                else:
                    await self.reconciler.resync(
                        self.model.full(), self.model.all_neighbor_updates()
                    )
                    self.programmed_once = True
            except OfctlError:
                metrics.ROUNDS.labels(kind, "failed").inc()
                log.exception("flow programming failed; full resync in 1 s")
                self.programmed_once = False
                self.dirty |= owners
                await asyncio.sleep(1.0)
                self.wake.set()
                continue
            finally:
                if gc_was_enabled:
                    if gc.get_count()[0] >= FREEZE_AFTER:
                        # Everything allocated during the round is still in generation 0:
                        # collect its cycles, then move the survivors (mostly neighbour
                        # entries and their index, freed by refcount when replaced) out of
                        # the cyclic GC's sight. Otherwise the next collections rescan
                        # millions of them: seconds at 1M entries, between two rounds.
                        gc.collect(0)
                        gc.freeze()
                    gc.enable()
            metrics.ROUNDS.labels(kind, "ok").inc()
            metrics.ROUND_SECONDS.labels(kind).observe(time.perf_counter() - started)
            shrunk = self.model.security.take_shrunk()
            if self.programmed_once and (SG_OWNER in owners or (SG_MEMBERS in owners and shrunk)):
                self.cut_wanted.set()  # after this round's flows: see `_cutter`
            self.programs += 1
            self._floating_ip_arp()
            self._router_advertisements()
            self.beat_soon.set()
            await self._report(time.time())
            async with self.applied:
                self.applied.notify_all()

    async def _cutter(self) -> None:
        """Cut the established connections that a rule or member gone no longer admits.

        Off the programmer's path: a conntrack dump is a process and a pass over every entry,
        and the next change (a join right after a leave) must not wait for it. Requests
        coalesce and each pass judges by the rules as they are then; a round that removes more
        asks again once its flows are in, so a connection re-committed by flows about to go is
        cut by that next pass."""
        while True:
            await self.cut_wanted.wait()
            self.cut_wanted.clear()
            await self.conntrack.cut_stale(
                self.model.security.sg_ports(self.model.ports.values(), self.model.vifs),
                self.model.security.address_sets(),
            )

    def _floating_ip_arp(self) -> None:
        """After a round: announce our external addresses that arrived here (gratuitous ARP,
        so the segment moves them at once) and ask for next hops not known yet (again in a
        second while unanswered)."""
        addresses = self.model.external_addresses()
        for a in addresses:
            if self.announced.get(a.key) != a.ip:
                self.channel.packet_out(a.bridge.patch_ofport, nat.gratuitous(a.mac, a.ip))
        self.announced = {a.key: a.ip for a in addresses}
        missing = {a.next_hop: a for a in addresses if a.next_hop not in self.model.gateway_macs}
        if missing and time.monotonic() - self.asked_at >= 1.0:
            self.asked_at = time.monotonic()
            for (_, target), a in missing.items():
                self.channel.packet_out(a.bridge.patch_ofport, nat.who_has(a.mac, a.ip, target))
        if missing:
            asyncio.get_running_loop().call_later(1.0, self.wake.set)

    def _router_advertisements(self) -> None:
        """Unsolicited RAs to each local VM whose network advertises IPv6 prefixes: a burst
        of `radv.INITIAL` a second apart when what it should hear changed (it arrived, a
        router came or went, a mode changed; the first may be lost to a port the datapath is
        still adding, and a guest's own solicitations may all have gone before it was
        plugged), then one every `radv.INTERVAL`."""
        subnets = radv.by_network(self.model.subnets.values())
        by_network: dict[str, bytes | None] = {}
        heard: dict[str, tuple[bytes, int, float]] = {}
        now = time.monotonic()
        for pid, ofport in self.model.vifs.items() if subnets else ():
            port = self.model.ports.get(pid)
            network = self.model.networks.get(port.network_id) if port is not None else None
            if port is None or network is None or not port.admin_state_up:
                continue
            if network.id not in by_network:
                by_network[network.id] = radv.advertisement(
                    network, subnets.get(network.id, []), self.model.routers
                )
            ra = by_network[network.id]
            if ra is None:
                continue
            held = self.advertised.get(pid)
            if held is None or held[0] != ra:
                held = (ra, radv.INITIAL, now)
            _, left, due = held
            if due <= now:
                self.channel.packet_out(ofport, ra)
                left = max(0, left - 1)
                due = now + (radv.INITIAL_GAP if left else radv.INTERVAL)
            heard[pid] = (ra, left, due)
        self.advertised = heard

    async def _periodic_advertisements(self) -> None:
        while True:
            await asyncio.sleep(radv.INITIAL_GAP)
            if self.programmed_once:
                self._router_advertisements()

    def _fip_statuses(self, programmed_at: float) -> list[pb.ResourceStatus]:
        """Floating IPs whose programming state changed: SUCCESS once both directions are
        programmed, PENDING before, REMOVED when they left this host."""
        out: list[pb.ResourceStatus] = []
        held: dict[str, tuple[int, pb.ProgramState]] = {}
        for port in self.model.ports.values():
            for fip in port.floating_ips:
                ready = self.model.fip_ready(port, fip)
                held[fip.id] = (fip.revision, pb.SUCCESS if ready else pb.PENDING)
        gone = {fid: (rev, pb.REMOVED) for fid, (rev, _) in self.fips_reported.items()}
        for fid, (revision, state) in {**gone, **held}.items():
            if self.fips_reported.get(fid) == (revision, state):
                continue
            out.append(
                pb.ResourceStatus(
                    resource_type="floatingip",
                    id=fid,
                    revision=revision,
                    state=state,
                    programmed_at=programmed_at if state == pb.SUCCESS else 0.0,
                )
            )
        self.fips_reported = held
        return out

    async def _report(self, programmed_at: float) -> None:
        statuses: list[pb.ResourceStatus] = self._fip_statuses(programmed_at)
        for pid, port in self.model.ports.items():
            if ("port", pid) in self.dirty:
                continue  # changed during the round (its VIF plugged, say): the next one says
            state, received_at = self.model.port_state(pid)
            last = self.reported.get(pid)
            if state == pb.PENDING and last is not None and last[1] in (pb.SUCCESS, pb.REMOVED):
                state = pb.REMOVED  # it was plugged: now unplugged
            if last == (port.revision, state):
                continue
            self.reported[pid] = (port.revision, state)
            if port.request_id:
                log.debug(
                    "port %s revision %d %s [%s]",
                    pid,
                    port.revision,
                    pb.ProgramState.Name(state),
                    port.request_id,
                )
            statuses.append(
                pb.ResourceStatus(
                    resource_type="port",
                    id=pid,
                    revision=port.revision,
                    state=state,
                    reason="" if state == pb.SUCCESS else pb.ProgramState.Name(state).lower(),
                    received_at=received_at,
                    programmed_at=programmed_at if state == pb.SUCCESS else 0.0,
                    request_id=port.request_id,
                )
            )
        for pid in set(self.reported) - set(self.model.ports):
            revision, _ = self.reported.pop(pid)
            statuses.append(
                pb.ResourceStatus(
                    resource_type="port",
                    id=pid,
                    revision=revision,
                    state=pb.REMOVED,
                    reason="deleted",
                    programmed_at=programmed_at,
                )
            )
        if statuses:
            report = pb.StatusReport(host_id=self.host_id, statuses=statuses, sent_at=time.time())
            with contextlib.suppress(nats.errors.Error):
                await self.nc.publish(
                    subjects.of_host(subjects.STATUS, self.host_id), report.SerializeToString()
                )

    async def install(self, owners: set[Owner], timeout: float) -> None:
        """Mark `owners` and wait for the programming round that installs them (one that
        starts after this call); nothing to wait for when there are none."""
        if not owners:
            return
        target = self.rounds_started + 1
        self._mark(owners)
        async with self.applied:
            await asyncio.wait_for(self.applied.wait_for(lambda: self.programs >= target), timeout)

    # -- packet-in: DHCP, misses of on-demand networks, ARP replies for floating IPs ---------
    def _on_packet_in(self, packet: PacketIn) -> None:
        if packet.table_id in MISS_TABLES:
            self.resolver.on_miss(packet)
            return
        in_port, frame = packet.in_port, packet.frame
        bridge = next(
            (b for b in self.model.physnets.items() if b[1].patch_ofport == in_port), None
        )
        if bridge is not None:
            sender = nat.arp_reply_sender(frame)
            if sender is not None:
                self._mark(self.model.learn_gateway(bridge[0], *sender))
            return
        port_id = next((pid for pid, ofp in self.model.vifs.items() if ofp == in_port), None)
        port = self.model.ports.get(port_id or "")
        if port is None:
            return
        network = self.model.networks.get(port.network_id)
        if network is None:
            return
        if frame[12:14] == b"\x86\xdd":
            self._answer_ipv6(in_port, port, network, frame)
            return
        lease = dhcp.lease_for(port, network, self.model.subnets)
        if lease is None:
            return
        reply = dhcp.build_reply(frame, port.mac_address, lease)
        if reply is not None and self.channel.packet_out(in_port, reply):
            metrics.DHCP_REPLIES.inc()

    def _answer_ipv6(
        self, in_port: int, port: pb.PortState, network: pb.NetworkState, frame: bytes
    ) -> None:
        """A router solicitation (answered with the network's RA) or a DHCPv6 message."""
        packet = frames6.parse(frame)
        if packet is None:
            return
        reply: bytes | None
        if radv.is_solicitation(packet):
            subnets = radv.by_network(self.model.subnets.values()).get(network.id, [])
            reply = radv.advertisement(network, subnets, self.model.routers, packet.src_mac)
        else:
            config = dhcp6.config_for(port, self.model.subnets, self.model.routers)
            reply = dhcp6.answer(packet, config) if config is not None else None
        if reply is not None:
            self.channel.packet_out(in_port, reply)

    # -- observation (tests, benchmarks, metrics) --------------------------------------------
    async def wait_programmed(self, after: int, timeout: float = 30.0) -> None:
        """Wait until more than `after` programming rounds completed."""
        async with self.applied:
            await asyncio.wait_for(self.applied.wait_for(lambda: self.programs > after), timeout)

    def resync_counts(self) -> dict[str, int]:
        """Full-state fetches by stream kind (host, network, group, router), ever made."""
        out = collections.Counter(self.resyncs_gone)
        for stream in (self.host_stream, *self._followed()):
            out[stream.name.split()[0]] += stream.resyncs
        return dict(out)

    def connection_counts(self) -> dict[str, int]:
        return {
            "ovsdb": self.ovs.connections,
            "openflow": self.channel.connections,
            "nats": self.nats_connections,
        }
