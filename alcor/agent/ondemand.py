"""Neighbours on demand, on the host: misses in, resolved entries and re-injected packets out.

On a network in on-demand mode (`alcor.southbound.ondemand` says which and why) the host does
not hold the network's table. A VM's packet that no entry matches reaches the agent through
its VIF's meter (`flows.miss_flows`): an ARP request or neighbour solicitation (table 31), a
frame to an unknown MAC (50), a packet routed to an unknown next hop (41). `Resolver`:

1. keys the miss by (network, address or MAC) and parks the packet; misses that arrive
   while one is being resolved join it, so a burst costs one question;
2. asks `alcor.rpc.resolve` once for every miss parked in the same turn of the event loop
   (batched: 10,000 destinations are a few dozen round trips, not 10,000), a small request
   on the server's direct channel when it offers one (`alcor.agent.direct`), else on NATS;
3. sends each parked packet on at once, with the actions the answer's flows will have (the
   ARP/ND answer, the routed next hop's MAC, the remote port's tunnel: `Resolver._shortcut`,
   with tun_id and registers as they were), and so does every packet missing the same key
   until the flows are in; hands the answers to the model as ordinary neighbour entries
   (the same flows as a followed table; remote ones with an idle timeout) and waits for
   the programming round that installs them (a first packet waited for that round: 2-3
   ms of its 5.6); a packet no shortcut takes (to a port of this host) is re-injected then
   into the table that missed it, which now matches (`OpenFlowChannel.reinject`);
4. subscribes each resolved port's subject `alcor.nbr.<network>.<port>`, on which the
   server publishes the port's changes; then, the subscription being in place at the server,
   asks once more for the same ports, so a change made between the first answer and the
   subscription is not missed (entries carry revisions: the newer one wins);
5. forgets an entry when its flow expired idle (FLOW_REMOVED) or the port went, and
   unsubscribes; after a NATS reconnection (changes may have been missed) asks again for
   every entry it holds, the flows in place forwarding meanwhile; a restarted agent first
   asks for the entries whose flows its predecessor left in the bridge (`recover`).

An address nobody holds is remembered as unknown for a second (`NEGATIVE_TTL`); an ARP or
neighbour solicitation for it is flooded as on a preloaded network (an address shared by
VRRP peers is answered by whichever holds it), but at most `FLOODS_PER_SECOND` per VIF (a
scan would otherwise make every miss a copy to every host); other packets are dropped. Flood
lists do not come from here but from `NetworkState.flood_tunnel_ips`.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import re
import socket
import time
from typing import TYPE_CHECKING, Any, NamedTuple

import nats.errors

from alcor.agent import flows
from alcor.agent.ofctl import OfctlError
from alcor.agent.openflow_channel import (
    NXM_TUN_IPV4_DST,
    OXM_ARP_THA,
    OXM_ETH_DST,
    OXM_ETH_SRC,
    OXM_TUNNEL_ID,
    PacketIn,
)
from alcor.southbound.protocol import goalstate_pb2 as pb
from alcor.southbound.protocol import subjects

if TYPE_CHECKING:
    from alcor.agent.main import Agent

log = logging.getLogger(__name__)

NEGATIVE_TTL = 1.0  # seconds an address nobody holds is not asked for again
# Unanswered ARP/ND a VIF may have flooded per second: each flood is a copy to every host of
# the network, so a VM scanning its network must not turn its misses into a broadcast storm.
FLOODS_PER_SECOND = 50
MAX_QUERIES = 512  # misses per request
PARKED_PER_KEY = 8  # packets kept per miss while it resolves (the rest are dropped)
ROUND_TIMEOUT = 5.0  # seconds to wait for the round installing an answer
# Seconds between an answer and the round installing it. The shortcut forwards meanwhile;
# a round started at once competed for the CPU with OVS forwarding that very shortcut (a
# first packet 0.6-1 ms later on 2 cores), and answers arriving meanwhile share the round.
INSTALL_DELAY = 0.01
# Seconds the agent polls on after answering an ARP or ND miss (`busypoll`): the VM sends the
# packet that waited for the answer about 0.2 ms later, and it misses too (the entry's flows
# are not installed yet), so its packet-in is read without a wake-up
FOLLOW_UP = 0.001
NXM_REG4 = (0x0001 << 7) | 4
NXM_XXREG2 = [(0x0001 << 7) | n for n in (8, 9, 10, 11)]  # xxreg2 = reg8..reg11, high first

Key = tuple[str, str, str]  # (network id, address, MAC): one of the last two empty
# A learnt entry's L2 flow as `ovs-ofctl dump-flows` prints it: its network key and MAC
_LEARNT = re.compile(r"idle_timeout=.*tun_id=(0x[0-9a-f]+),dl_dst=([0-9a-f:]{17})")


class Miss(NamedTuple):
    key: Key
    kind: str  # "arp" | "nd" | "l2" | "routed"


def _register(packet: PacketIn, field: int) -> bytes:
    return packet.fields.get(field, b"").rjust(4, b"\0")[-4:]


def classify(packet: PacketIn, network_id: str) -> Miss | None:
    """What a miss asks for, from the table it left and the frame (None: not a miss)."""
    frame, table = packet.frame, packet.table_id
    ethertype = frame[12:14]
    if table == flows.ARP_RESPONDER:
        if ethertype == b"\x08\x06" and len(frame) >= 42:
            return Miss((network_id, socket.inet_ntoa(frame[38:42]), ""), "arp")
        if ethertype == b"\x86\xdd" and len(frame) >= 78 and frame[20] == 58 and frame[54] == 135:
            return Miss((network_id, socket.inet_ntop(socket.AF_INET6, frame[62:78]), ""), "nd")
        return None
    if table == flows.L2_FORWARD and len(frame) >= 14:
        return Miss((network_id, "", frame[0:6].hex(":")), "l2")
    if table == flows.ROUTE_NEIGHBOR:
        if ethertype == b"\x08\x00":
            return Miss((network_id, socket.inet_ntoa(_register(packet, NXM_REG4)), ""), "routed")
        if ethertype == b"\x86\xdd":
            hop = b"".join(_register(packet, f) for f in NXM_XXREG2)
            return Miss((network_id, socket.inet_ntop(socket.AF_INET6, hop), ""), "routed")
    return None


def _canonical(ip: str) -> str:
    try:
        return socket.inet_ntop(
            socket.AF_INET6 if ":" in ip else socket.AF_INET,
            socket.inet_pton(socket.AF_INET6 if ":" in ip else socket.AF_INET, ip),
        )
    except OSError:
        return ip


def entry_keys(entry: pb.NeighborState) -> list[Key]:
    """The miss keys an entry answers: its MAC and each of its addresses."""
    nid = entry.network_id
    keys: list[Key] = [(nid, "", entry.mac_address.lower())]
    keys.extend((nid, _canonical(f.ip_address), "") for f in entry.fixed_ips)
    return keys


class Resolver:
    """The misses of one agent's on-demand networks (see the module docstring)."""

    def __init__(self, agent: Agent) -> None:
        self.agent = agent
        self.parked: dict[Key, list[PacketIn]] = {}
        self.asking: set[Key] = set()  # parked keys whose question is on its way
        # Answered keys whose flows are not installed yet: their packets take `_shortcut`
        self.answers: dict[Key, pb.NeighborState] = {}
        self.unknown: dict[Key, float] = {}  # key -> monotonic time until which it is unknown
        self.subs: dict[tuple[str, str], Any] = {}  # (network, port) -> its subscription
        self.cookies: dict[int, tuple[str, str]] = {}  # neighbour cookie -> (network, port)
        self.misses: collections.Counter[str] = collections.Counter()  # by kind
        self.resolved = 0  # entries learnt by asking
        self.unresolved = 0  # questions nobody answered
        self.expired = 0  # entries forgotten when their flow expired idle
        self.requests = 0  # resolve requests sent
        self.floods: dict[int, tuple[float, float]] = {}  # in_port -> (tokens, last refill)
        # When each parked key's first packet came in: kept only for the debug trace
        self.tracing = log.isEnabledFor(logging.DEBUG)
        self.parked_at: dict[Key, float] = {}
        self._pending = False

    # -- misses ------------------------------------------------------------------------------
    def on_miss(self, packet: PacketIn) -> None:
        """A packet-in from a miss flow (tables 31, 41, 50)."""
        key = int.from_bytes(packet.fields.get(OXM_TUNNEL_ID, b""), "big")
        network_id = self.agent.model.network_of_key(key)
        if network_id is None or not self.agent.model.on_demand(network_id):
            return  # a followed network's miss is a real miss: nothing to learn
        miss = classify(packet, network_id)
        if miss is None:
            return
        self.misses[miss.kind] += 1
        entry = self.answers.get(miss.key)
        if entry is not None and self._shortcut(packet, entry):
            return  # answered, its flows not installed yet: no second question
        parked = self.parked.get(miss.key)
        if parked is not None:
            if len(parked) < PARKED_PER_KEY:
                parked.append(packet)
            return
        if self.unknown.get(miss.key, 0.0) > time.monotonic():
            self._unanswered(packet)
            return
        self.parked[miss.key] = [packet]
        if self.tracing:
            self.parked_at[miss.key] = time.time()
        if not self._pending:
            self._pending = True
            asyncio.get_running_loop().call_soon(self._ask_parked)

    def _ask_parked(self) -> None:
        """Everything parked in this turn of the loop, in requests of `MAX_QUERIES`."""
        self._pending = False
        keys = [k for k in self.parked if k not in self.asking]
        for start in range(0, len(keys), MAX_QUERIES):
            part = keys[start : start + MAX_QUERIES]
            self.asking.update(part)
            self.agent._spawn(self._resolve(part))

    async def _ask(self, keys: list[Key]) -> pb.ResolveReply | None:
        queries = [
            pb.ResolveQuery(network_id=n, ip_address=ip, mac_address=mac) for n, ip, mac in keys
        ]
        self.requests += 1
        poller = self.agent.poller
        if poller is not None:
            poller.hold()  # the answer is due within a millisecond: poll, do not sleep
        direct = self.agent.direct
        try:
            if direct is not None and direct.usable(len(queries)):
                reply = await direct.ask(queries)
                if reply is not None:
                    return reply
            req = pb.ResolveRequest(host_id=self.agent.host_id, queries=queries)
            msg = await self.agent.nc.request(
                subjects.RPC_RESOLVE, req.SerializeToString(), self.agent.rpc_timeout
            )
        except (TimeoutError, nats.errors.Error) as exc:
            what = f"resolving {len(keys)} neighbour misses" if keys else "finding a direct channel"
            log.warning("%s failed: %s", what, exc)
            return None
        finally:
            if poller is not None:
                poller.release()
        reply = pb.ResolveReply.FromString(msg.data)
        if direct is not None:
            await direct.offer(reply.direct)
        return reply

    async def discover(self) -> None:
        """Learn the server's direct channel before the first miss needs it: a question of
        nothing, over NATS, whose answer names it."""
        if self.agent.direct is not None and self.agent.direct.transport is None:
            await self._ask([])

    async def _resolve(self, keys: list[Key]) -> None:
        try:
            asked_at = time.time()
            reply = await self._ask(keys)
            if reply is None:
                return
            answered_at = time.time()
            answered = {k: e for e in reply.neighbors for k in entry_keys(e)}
            self.answers.update(answered)
            learnt = [e for e in reply.neighbors if (e.network_id, e.port_id) not in self.subs]
            waiting: list[PacketIn] = []  # packets only the entry's flows can take on
            now = time.monotonic()
            for key in keys:
                packets = self.parked.pop(key, [])
                entry = answered.get(key)
                if entry is not None:
                    waiting.extend(p for p in packets if not self._shortcut(p, entry))
                else:
                    self.unresolved += 1
                    self.unknown[key] = now + NEGATIVE_TTL
                    for packet in packets:
                        self._unanswered(packet)
            self.asking.difference_update(keys)
            if self.tracing:
                self._trace(keys, asked_at, answered_at)
            if len(self.unknown) > 4 * MAX_QUERIES:
                self.unknown = {k: t for k, t in self.unknown.items() if t > now}
            try:
                await asyncio.sleep(INSTALL_DELAY)
                await self.agent.install(self.learn(reply.neighbors), ROUND_TIMEOUT)
            finally:
                for key, entry in answered.items():
                    if self.answers.get(key) is entry:
                        del self.answers[key]
            self.resolved += len(reply.neighbors)
            for packet in waiting:
                self.agent.channel.reinject(packet, packet.table_id)
            if learnt:
                await self._follow(learnt)
        except TimeoutError:
            log.warning("the round installing %d resolved neighbours did not come", len(keys))
        finally:
            self.asking.difference_update(keys)
            for key in keys:
                self.parked.pop(key, None)
                self.parked_at.pop(key, None)

    def _trace(self, keys: list[Key], asked_at: float, answered_at: float) -> None:
        """Where a resolved miss's time went, in wall-clock stamps comparable with the VM's
        and the server's (`benchmarks/dataplane_ondemand.py` joins them per first packet)."""
        came = min((self.parked_at.get(k, asked_at) for k in keys), default=asked_at)
        log.debug(
            "resolved %d misses: packet-in %.6f asked %.6f answered %.6f sent on %.6f",
            len(keys),
            came,
            asked_at,
            answered_at,
            time.time(),
        )

    def _shortcut(self, packet: PacketIn, entry: pb.NeighborState) -> bool:
        """Send a missed packet on as the entry's flows would, before they are installed
        (`flows.spec_flows`: the ARP or ND answer; the remote port's tunnel, after the
        routed next hop's MAC); False when only the installed flows can (a port of this
        host)."""
        table, mac = packet.table_id, flows.mac_bytes(entry.mac_address)
        channel = self.agent.channel
        if table == flows.ARP_RESPONDER:
            if self.agent.poller is not None:
                self.agent.poller.linger(FOLLOW_UP)
            if packet.frame[12:14] == b"\x08\x06":
                return channel.reinject(packet, flows.ARP_REPLY, [(OXM_ARP_THA, mac)])
            return channel.reinject(packet, flows.ND_REPLY, [(OXM_ETH_SRC, mac)])
        model = self.agent.model
        if (
            not entry.tunnel_ip
            or entry.host_id == self.agent.host_id
            or entry.port_id in model.ports
        ):
            return False
        tunnel = [(NXM_TUN_IPV4_DST, socket.inet_aton(entry.tunnel_ip))]
        if table == flows.ROUTE_NEIGHBOR:  # the next hop's MAC, then its L2 flow's tunnel
            # (table 50's own miss flow is a VIF's: a packet routed in from the physical
            # network, to a floating IP or a forwarded port, would be dropped there)
            tunnel.insert(0, (OXM_ETH_DST, mac))
        return channel.forward(packet, model.tunnel_ofport, tunnel)

    def _unanswered(self, packet: PacketIn) -> None:
        """An ARP or neighbour solicitation nobody holds the address of is flooded (as on a
        preloaded network), at most `FLOODS_PER_SECOND` per VIF; anything else is dropped."""
        if packet.table_id != flows.ARP_RESPONDER:
            return
        now = time.monotonic()
        tokens, at = self.floods.get(packet.in_port, (FLOODS_PER_SECOND, now))
        tokens = min(FLOODS_PER_SECOND, tokens + (now - at) * FLOODS_PER_SECOND)
        if tokens >= 1:
            self.agent.channel.reinject(packet, flows.L2_FORWARD)
            tokens -= 1
        self.floods[packet.in_port] = (tokens, now)

    # -- entries -----------------------------------------------------------------------------
    def learn(self, entries: Any) -> set[tuple[str, ...]]:
        """Entries into the model (resolved or invalidated); returns the dirty owners."""
        entries = list(entries)
        for entry in entries:
            ck = flows.cookie(flows.KIND_NEIGHBOR, entry.port_id)
            if entry.op == pb.DELETE:
                self._unfollow(entry.network_id, entry.port_id)
            else:
                self.cookies[ck] = (entry.network_id, entry.port_id)
        return self.agent.model.learn(entries)

    async def _follow(self, entries: list[pb.NeighborState]) -> None:
        """Subscribe the resolved ports' subjects, then confirm their entries (module
        docstring, step 4)."""
        nc = self.agent.nc
        for entry in entries:
            where = (entry.network_id, entry.port_id)
            if where in self.subs:
                continue
            subject = subjects.neighbor(*where)
            self.subs[where] = await nc.subscribe(subject, cb=self._on_change)
        with contextlib.suppress(TimeoutError, nats.errors.Error):
            await nc.flush(timeout=max(1, int(self.agent.rpc_timeout)))
        keys = [(e.network_id, "", e.mac_address.lower()) for e in entries]
        reply = await self._ask(keys)
        if reply is not None:
            self.agent._mark(self.learn(reply.neighbors))

    async def _on_change(self, msg: Any) -> None:
        delta = pb.NeighborDelta.FromString(msg.data)
        self.agent._mark(self.learn(delta.neighbors))

    def _unfollow(self, network_id: str, port_id: str) -> None:
        self.cookies.pop(flows.cookie(flows.KIND_NEIGHBOR, port_id), None)
        sub = self.subs.pop((network_id, port_id), None)
        if sub is not None:
            self.agent._spawn(sub.unsubscribe())

    def on_flow_removed(self, cookie: int, table_id: int) -> None:
        """A learnt entry's L2 flow expired idle: the entry goes (its other flows with it)."""
        where = self.cookies.get(cookie)
        if where is None or table_id != flows.L2_FORWARD:
            return
        self.expired += 1
        log.debug("learnt entry %s of network %s expired", where[1], where[0])
        self._unfollow(*where)
        self.agent._mark(self.agent.model.forget(*where))

    def drop_networks(self, keep: set[str]) -> None:
        """Stop following the learnt ports of networks no longer held on demand."""
        for where in [w for w in self.subs if w[0] not in keep]:
            self._unfollow(*where)

    async def refresh(self) -> None:
        """Ask again for every learnt entry (after a NATS reconnection, changes may have been
        missed): newer revisions replace what is held, ports gone are forgotten; the flows
        in place keep forwarding meanwhile."""
        held = [
            e
            for nid, table in self.agent.model.tables.items()
            if self.agent.model.on_demand(nid)
            for e in table.entries.values()
        ]
        for start in range(0, len(held), MAX_QUERIES):
            part = held[start : start + MAX_QUERIES]
            reply = await self._ask([(e.network_id, "", e.mac_address.lower()) for e in part])
            if reply is None:
                return
            dirty = self.learn(reply.neighbors)
            found = {(e.network_id, e.port_id) for e in reply.neighbors}
            for e in part:
                if (e.network_id, e.port_id) not in found:
                    self._unfollow(e.network_id, e.port_id)
                    dirty |= self.agent.model.forget(e.network_id, e.port_id)
            self.agent._mark(dirty)

    async def recover(self) -> None:
        """Before a restarted agent's first programming: learn again what its predecessor
        had learnt, from the expiring L2 flows still in the bridge, so that the full
        replacement keeps them (kill -9 invariant: flows that are right stay untouched)."""
        try:
            dumped = await self.agent.reconciler.ofctl.dump(
                f"table={flows.L2_FORWARD},cookie={flows.KIND_NEIGHBOR << 56:#x}/{0xFF << 56:#x}"
            )
        except OfctlError as exc:
            log.warning("learnt neighbours not recovered from the bridge: %s", exc)
            return
        keys: list[Key] = []
        for line in dumped.splitlines():
            found = _LEARNT.search(line)
            if found is None:
                continue
            nid = self.agent.model.network_of_key(int(found.group(1), 16))
            if nid is not None and self.agent.model.on_demand(nid):
                keys.append((nid, "", found.group(2)))
        for start in range(0, len(keys), MAX_QUERIES):
            reply = await self._ask(keys[start : start + MAX_QUERIES])
            if reply is not None and reply.neighbors:
                self.learn(reply.neighbors)  # the first programming installs everything
                self.agent._spawn(self._follow(list(reply.neighbors)))
