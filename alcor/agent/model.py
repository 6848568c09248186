"""The agent's view of its goal state, and which flow owners a change touches.

The agent holds exactly what the controller said (its ports, their networks and subnets, and
the neighbour table of every network it has ports on) plus one local fact: which VIFs are
plugged, at which OpenFlow port. Every change returns the set of *owners* whose flows may
have changed; the agent recomputes only those (see `flows` for the owners' flows), which keeps
a neighbour added to a 100k-port network at a few flows.

Routers come whole on their own subjects (`apply_router`); a host routes for those attached
to its networks (`NetworkState.router_ids`) and therefore also holds the neighbour tables of
the networks they connect (`served_networks`); their flows are one owner per router
(`routing`).

Networks on demand (`ondemand`; `NetworkState.on_demand`, or the router interface's flag for
a network only routed into) are needed but not followed: their table holds only the entries
learnt by resolving misses (`learn`), which expire with the traffic (`forget`).

Every entry is applied with the revision guard of `revisions`. Security groups and the
address sets of remote groups are held by `groups.GroupState`; their flows form one owner
(`SG_OWNER`), recomputed as a whole when a port, a group, a member or a VIF changes; network
ACLs likewise by `acls.AclState` (`ACL_OWNER`), when a port, an ACL or a VIF changes.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Iterable
from typing import NamedTuple

from alcor.agent import flows, forwarding, nat, physnets, routing
from alcor.agent.acls import ACL_OWNER, AclState
from alcor.agent.groups import SG_MEMBERS, SG_OWNER, GroupState
from alcor.agent.reconciler import NeighborUpdate, SpecStream
from alcor.agent.revisions import guarded_apply
from alcor.southbound.protocol import goalstate_pb2 as pb

# ("static",) | ("port", port_id) | ("net", network_id) | ("neigh", network_id, port_id) |
# ("router", router_id) | ("sg",): every security-group flow of the host | ("acl",): every
# network-ACL flow of the host
Owner = tuple[str, ...]
STATIC: Owner = ("static",)

log = logging.getLogger(__name__)


class NeighborSet:
    """One network's neighbour table, with a count of entries per remote VTEP (flood list)
    and who claims each allowed-address-pair address.

    The ARP responder answers for a pair address only while exactly one port claims it with
    its own MAC: a VRRP address shared by two ports must reach whichever holds it now, so its
    ARP keeps being flooded and answered by that VM.
    """

    def __init__(self, host_id: str) -> None:
        self.host_id = host_id
        self.entries: dict[str, pb.NeighborState] = {}
        self.vteps: Counter[str] = Counter()
        self.claims: dict[str, set[str]] = {}  # pair address -> ports claiming it
        self.version = 0  # bumped by every change (the audit's digest cache key)

    def _count(self, entry: pb.NeighborState | None, step: int) -> None:
        if entry is not None and entry.host_id != self.host_id and entry.tunnel_ip:
            self.vteps[entry.tunnel_ip] += step
            if self.vteps[entry.tunnel_ip] <= 0:
                del self.vteps[entry.tunnel_ip]

    @staticmethod
    def _pair_ips(entry: pb.NeighborState | None) -> set[str]:
        """Host addresses an entry's pairs claim with the port's own MAC."""
        if entry is None:
            return set()
        mac = entry.mac_address.lower()
        return {
            p.ip_address
            for p in entry.allowed_address_pairs
            if "/" not in p.ip_address and (p.mac_address or mac).lower() == mac
        }

    def _claim(self, pid: str, old: set[str], new: set[str]) -> set[str]:
        """Move `pid`'s claims from `old` to `new`; returns the other ports whose answers
        change (an address whose claimants went from one to several, or back)."""
        touched: set[str] = set()
        for ip in old ^ new:
            holders = self.claims.setdefault(ip, set())
            before = len(holders)
            if ip in new:
                holders.add(pid)
            else:
                holders.discard(pid)
            if (before == 1) != (len(holders) == 1):
                touched |= holders - {pid}
            if not holders:
                del self.claims[ip]
        return touched

    def apply(self, entry: pb.NeighborState) -> set[str] | None:
        """Apply one entry; None if nothing changed, else the other ports whose answers
        change with it."""
        old = self.entries.get(entry.port_id)
        if not guarded_apply(self.entries, entry.port_id, entry):
            return None
        self.version += 1
        new = self.entries.get(entry.port_id)
        self._count(old, -1)
        self._count(new, +1)
        return self._claim(entry.port_id, self._pair_ips(old), self._pair_ips(new))

    def replace(self, entries: Iterable[pb.NeighborState]) -> None:
        self.version += 1
        self.entries = {e.port_id: e for e in entries if e.op == pb.UPSERT}
        self.vteps = Counter()
        self.claims = {}
        for entry in self.entries.values():
            self._count(entry, +1)
            self._claim(entry.port_id, set(), self._pair_ips(entry))

    def unique_pairs(self, entry: pb.NeighborState) -> list[str]:
        """The pair addresses the responder answers for this entry (only it claims them)."""
        return sorted(ip for ip in self._pair_ips(entry) if self.claims.get(ip) == {entry.port_id})


class ExternalAddress(NamedTuple):
    """An address of ours on an external segment (a floating IP, a router's gateway)."""

    key: str  # floating IP id, or "gw:<router id>"
    bridge: physnets.Bridge
    mac: str
    ip: str
    next_hop: tuple[str, str]  # (physical network, address) whose MAC it sends to


def _only_floating_ips_differ(old: pb.PortState | None, new: pb.PortState) -> bool:
    """Whether a port came again for its floating IPs alone (an association elsewhere): then
    only its own flows change, not every security-group and ACL flow of the host."""
    if old is None or old.op != new.op or old.floating_ips == new.floating_ips:
        return False
    a, b = pb.PortState(), pb.PortState()
    a.CopyFrom(old)
    b.CopyFrom(new)
    for msg in (a, b):
        msg.ClearField("floating_ips")
        msg.ClearField("request_id")
        msg.revision = 0
    return a == b


class HostModel:
    """Goal state of one host plus plugged VIFs; answers "which flows should exist"."""

    def __init__(self, host_id: str) -> None:
        self.host_id = host_id
        self.ports: dict[str, pb.PortState] = {}
        self.networks: dict[str, pb.NetworkState] = {}
        self.subnets: dict[str, pb.SubnetState] = {}
        self.tables: dict[str, NeighborSet] = {}
        self.security = GroupState()
        self.acls = AclState()
        self.routers: dict[str, pb.RouterState] = {}  # the followed routers' states
        # (physical network, address) -> MAC learnt by ARP: floating IPs' external gateways
        self.gateway_macs: dict[tuple[str, str], str] = {}
        self.vifs: dict[str, int] = {}  # port id (iface-id) -> ofport
        self.received_at: dict[str, float] = {}  # port id -> when its revision arrived
        self.tunnel_ofport = 0
        self.tunnel_ip = ""  # this host's VTEP (left out of on-demand flood lists)
        self.neighbor_idle_timeout = 300  # seconds an on-demand entry lives without traffic
        self.physnets: dict[str, physnets.Bridge] = {}  # physical network -> its bridge

    # -- what the host needs -----------------------------------------------------------------
    def wanted_networks(self) -> set[str]:
        """Networks with at least one local port: the neighbour tables we must hold."""
        return {p.network_id for p in self.ports.values()}

    def wanted_routers(self) -> set[str]:
        """Routers attached to a network with a local port: the ones this host routes for."""
        nets = self.networks
        return {r for n in self.wanted_networks() if n in nets for r in nets[n].router_ids}

    def needed_networks(self) -> set[str]:
        """Networks whose neighbours the host needs: its own and those its routers route
        into."""
        return self.wanted_networks() | routing.routed_networks(self.routers).keys()

    def on_demand(self, network_id: str) -> bool:
        """Whether the network's neighbours are learnt by the first packet: as its state
        says, or for a network only routed into, as the router's interface says."""
        net = self.networks.get(network_id)
        if net is not None:
            return net.on_demand
        return network_id in routing.on_demand_networks(self.routers)

    def served_networks(self) -> set[str]:
        """Networks whose whole neighbour table the host follows (the needed ones not on
        demand)."""
        return {n for n in self.needed_networks() if not self.on_demand(n)}

    def network_of_key(self, key: int) -> str | None:
        """The needed network whose key in br-int (`tun_id`) is `key`."""
        for nid in self.needed_networks():
            if self._key(nid) == key:
                return nid
        return None

    def meters(self) -> set[int]:
        """The meters the miss flows of on-demand networks name (`flows.miss_flows`)."""
        out = {
            flows.port_meter(self.vifs[pid])
            for pid, p in self.ports.items()
            if pid in self.vifs and self.on_demand(p.network_id)
        }
        if routing.on_demand_networks(self.routers):
            out.add(flows.SHARED_METER)
        return out

    def _key(self, network_id: str) -> int | None:
        """The network's key in br-int: from its state, or, for a network only routed into
        (no local port, so no state here), the VNI the router's interface names."""
        net = self.networks.get(network_id)
        if net is not None:
            return self.network_key(net)
        return routing.routed_networks(self.routers).get(network_id)

    def _router_owners(self) -> set[Owner]:
        return {("router", rid) for rid in self.routers}

    def _network_owners(self, network_id: str) -> set[Owner]:
        owners: set[Owner] = {("net", network_id)}
        owners.update(("port", pid) for pid, p in self.ports.items() if p.network_id == network_id)
        table = self.tables.get(network_id)
        if table is not None:
            owners.update(("neigh", network_id, pid) for pid in table.entries)
        return owners

    # -- host subject ------------------------------------------------------------------------
    def apply_host_delta(self, delta: pb.HostDelta, received_at: float) -> set[Owner]:
        dirty: set[Owner] = set()
        for group in delta.security_groups:
            if guarded_apply(self.security.groups, group.id, group):
                dirty.add(SG_OWNER)
        for network_acl in delta.network_acls:
            if guarded_apply(self.acls.acls, network_acl.id, network_acl):
                dirty.add(ACL_OWNER)
        for net in delta.networks:
            if guarded_apply(self.networks, net.id, net):
                dirty |= self._network_owners(net.id)
        for sub in delta.subnets:
            old = self.subnets.get(sub.id)
            if guarded_apply(self.subnets, sub.id, sub):
                dirty.add(("net", (old or sub).network_id))
        if delta.networks or delta.ports:
            dirty |= self._router_owners()  # the local networks a router serves may change
        for port in delta.ports:
            old_port = self.ports.get(port.id)
            if guarded_apply(self.ports, port.id, port):
                self.received_at[port.id] = received_at
                if _only_floating_ips_differ(old_port, port):
                    dirty.add(("port", port.id))  # its NAT flows; nothing filters by them
                    continue
                dirty |= {SG_OWNER, ACL_OWNER}
                for p in (old_port, self.ports.get(port.id)):
                    if p is not None:
                        dirty |= {
                            ("port", p.id),
                            ("net", p.network_id),
                            ("neigh", p.network_id, p.id),
                        }
        if delta.ports:
            dirty |= self._forget_unused()
        return dirty

    def _forget_unused(self) -> set[Owner]:
        """Drop the networks, subnets, groups and ACLs no held port uses any more (the last
        port of a network left this host): a full state would not hold them either."""
        nets = self.wanted_networks()
        gone = set(self.networks) - nets
        dirty: set[Owner] = {("net", n) for n in gone}
        for nid in gone:
            del self.networks[nid]
        for sid in [s for s, sub in self.subnets.items() if sub.network_id not in nets]:
            del self.subnets[sid]
        groups = {g for p in self.ports.values() for g in p.security_group_ids}
        acls = {p.network_acl_id for p in self.ports.values()}
        for held, used, owner in (
            (self.security.groups, groups, SG_OWNER),
            (self.acls.acls, acls, ACL_OWNER),
        ):
            for key in set(held) - used:
                del held[key]
                dirty.add(owner)
        return dirty

    def replace_host_state(self, full: pb.HostGoalState, received_at: float) -> None:
        for port in full.ports:
            old = self.ports.get(port.id)
            if old is None or old.revision != port.revision:
                self.received_at[port.id] = received_at
        self.ports = {p.id: p for p in full.ports if p.op == pb.UPSERT}
        self.networks = {n.id: n for n in full.networks if n.op == pb.UPSERT}
        self.subnets = {s.id: s for s in full.subnets if s.op == pb.UPSERT}
        self.security.groups = {g.id: g for g in full.security_groups if g.op == pb.UPSERT}
        self.acls.acls = {a.id: a for a in full.network_acls if a.op == pb.UPSERT}
        for pid in set(self.received_at) - set(self.ports):
            del self.received_at[pid]

    # -- network subjects --------------------------------------------------------------------
    def table(self, network_id: str) -> NeighborSet:
        if network_id not in self.tables:
            self.tables[network_id] = NeighborSet(self.host_id)
        return self.tables[network_id]

    def learn(self, entries: Iterable[pb.NeighborState]) -> set[Owner]:
        """Entries of on-demand networks, resolved or invalidated (revision-guarded): only
        their own flows change (the network's flood list does not come from its table)."""
        dirty: set[Owner] = set()
        for entry in entries:
            if not self.on_demand(entry.network_id):
                continue  # a late answer for a network followed whole by now
            others = self.table(entry.network_id).apply(entry)
            if others is not None:
                dirty.add(("neigh", entry.network_id, entry.port_id))
                dirty.update(("neigh", entry.network_id, pid) for pid in others)
        return dirty

    def forget(self, network_id: str, port_id: str) -> set[Owner]:
        """An on-demand entry whose traffic stopped (its flow expired): it goes, and the next
        packet to it is a miss again."""
        table = self.tables.get(network_id)
        if table is None or port_id not in table.entries:
            return set()
        entry = pb.NeighborState()
        entry.CopyFrom(table.entries[port_id])
        entry.op = pb.DELETE
        others = table.apply(entry) or set()
        return {("neigh", network_id, port_id), *(("neigh", network_id, p) for p in others)}

    def apply_neighbor_delta(self, delta: pb.NeighborDelta) -> set[Owner]:
        table = self.table(delta.network_id)
        dirty: set[Owner] = set()
        for entry in delta.neighbors:
            others = table.apply(entry)
            if others is not None:
                dirty.add(("neigh", delta.network_id, entry.port_id))
                dirty.update(("neigh", delta.network_id, pid) for pid in others)
        if dirty:
            dirty.add(("net", delta.network_id))
        return dirty

    def replace_table(self, table: pb.NeighborTable) -> set[Owner]:
        """Replace a network's table; returns the owners of the old and the new entries."""
        held = self.table(table.network_id)
        dirty: set[Owner] = {("net", table.network_id)}
        dirty.update(("neigh", table.network_id, pid) for pid in held.entries)
        held.replace(table.neighbors)
        dirty.update(("neigh", table.network_id, pid) for pid in held.entries)
        return dirty

    # -- router subjects ---------------------------------------------------------------------
    def apply_router(self, delta: pb.RouterDelta) -> set[Owner]:
        """Take a router's whole state (every router message is complete): its flows, every
        router's (numbers follow the set of routers) and the neighbour entries of networks
        that became routed or stopped being routed."""
        state = delta.routers[0] if delta.routers else None
        if state is None or state.op == pb.DELETE:
            return self.drop_router(delta.router_id)
        return self._set_router(delta.router_id, state)

    def drop_router(self, router_id: str) -> set[Owner]:
        return self._set_router(router_id, None)

    def _set_router(self, router_id: str, state: pb.RouterState | None) -> set[Owner]:
        before = routing.routed_networks(self.routers)
        dirty = self._router_owners() | {("router", router_id)}
        if state is None:
            self.routers.pop(router_id, None)
        else:
            self.routers[router_id] = state
        after = routing.routed_networks(self.routers)
        for nid in before.keys() ^ after.keys():
            table = self.tables.get(nid)
            if table is not None:
                dirty.update(("neigh", nid, pid) for pid in table.entries)
        # floating IPs NAT with the router's MAC and number
        dirty.update(("port", pid) for pid, p in self.ports.items() if p.floating_ips)
        return dirty

    # -- floating IPs --------------------------------------------------------------------------
    def learn_gateway(self, physnet: str, ip: str, mac: str) -> set[Owner]:
        """An ARP reply on a physical network: the ports whose floating IPs go out through
        that address now can."""
        if self.gateway_macs.get((physnet, ip)) == mac:
            return set()
        self.gateway_macs[(physnet, ip)] = mac
        dirty: set[Owner] = {
            ("port", pid)
            for pid, p in self.ports.items()
            for f in p.floating_ips
            if f.physical_network == physnet and f.external_gateway_ip == ip
        }
        dirty.update(
            ("router", rid)
            for rid, r in self.routers.items()
            if r.gateway.physical_network == physnet and r.gateway.next_hop == ip
        )
        return dirty

    def external_addresses(self) -> list[ExternalAddress]:
        """Our addresses on external segments: the floating IPs of plugged local ports and
        the gateways of the routers whose SNAT this host does (announced on arrival; they ask
        for their next hop's MAC)."""
        out: list[ExternalAddress] = []
        for pid, port in self.ports.items():
            for f in port.floating_ips if pid in self.vifs else ():
                bridge = self.physnets.get(f.physical_network)
                if bridge is not None and self._fip_port(port, f) is not None:
                    key = (f.physical_network, f.external_gateway_ip)
                    out.append(
                        ExternalAddress(f.id, bridge, f.mac_address, f.floating_ip_address, key)
                    )
        for rid, router in self.routers.items():
            gw = router.gateway
            bridge = self.physnets.get(gw.physical_network)
            if bridge is None:
                continue
            key = (gw.physical_network, gw.next_hop)
            if gw.snat_host == self.host_id and gw.enable_snat:
                out.append(ExternalAddress(f"gw:{rid}", bridge, gw.mac_address, gw.ip_address, key))
            for name, mac, ip in forwarding.addresses(router, self.host_id):
                out.append(ExternalAddress(name, bridge, mac, ip, key))
        return out

    def _fip_port(self, port: pb.PortState, fip: pb.FloatingIpState) -> nat.FipPort | None:
        """What `fip`'s flows need from its port, router and bridge; None while any is
        missing (the VIF not plugged, the router not fetched yet, no bridge for it here)."""
        ofport = self.vifs.get(port.id)
        router = self.routers.get(fip.router_id)
        bridge = self.physnets.get(fip.physical_network)
        key = self.network_key(self.networks.get(port.network_id))
        if ofport is None or router is None or bridge is None or key is None:
            return None
        subnets = {f.subnet_id for f in port.fixed_ips if f.ip_address == fip.fixed_ip_address}
        iface = next((i for i in router.interfaces if i.subnet_id in subnets), None)
        if iface is None or not router.admin_state_up:
            return None
        number = routing.numbers(self.routers)[fip.router_id]
        return nat.FipPort(
            ofport, port.mac_address.lower(), key, iface.mac_address.lower(), number, bridge
        )

    def fip_flows(self, port: pb.PortState) -> list[flows.Flow]:
        out: list[flows.Flow] = []
        for fip in port.floating_ips:
            where = self._fip_port(port, fip)
            if where is not None:
                gateway = self.gateway_macs.get((fip.physical_network, fip.external_gateway_ip))
                out.extend(nat.fip_flows(fip, where, gateway))
        return out

    def _snat_host(self, router: pb.RouterState) -> nat.SnatHost | None:
        gw = router.gateway
        bridge = self.physnets.get(gw.physical_network)
        if gw.snat_host != self.host_id or bridge is None:
            return None
        return nat.SnatHost(bridge, self.gateway_macs.get((gw.physical_network, gw.next_hop)))

    def fip_ready(self, port: pb.PortState, fip: pb.FloatingIpState) -> bool:
        """Whether both directions of `fip` are programmable (what ACTIVE reports)."""
        gateway = (fip.physical_network, fip.external_gateway_ip)
        return self._fip_port(port, fip) is not None and gateway in self.gateway_macs

    def drop_table(self, network_id: str) -> set[Owner]:
        held = self.tables.pop(network_id, None)
        dirty: set[Owner] = {("net", network_id)}
        if held is not None:
            dirty.update(("neigh", network_id, pid) for pid in held.entries)
        return dirty

    # -- local facts -------------------------------------------------------------------------
    def set_vif(self, port_id: str, ofport: int | None) -> set[Owner]:
        if ofport is None or ofport <= 0:
            if self.vifs.pop(port_id, None) is None:
                return set()
        elif self.vifs.get(port_id) == ofport:
            return set()
        else:
            self.vifs[port_id] = ofport
        port = self.ports.get(port_id)
        if port is None:
            return set()
        return {("port", port_id), ("net", port.network_id), SG_OWNER, ACL_OWNER}

    # -- security-group subjects ---------------------------------------------------------------
    def apply_address_delta(self, delta: pb.AddressSetDelta) -> set[Owner]:
        return {SG_MEMBERS} if self.security.apply_members(delta) else set()

    def replace_address_set(self, full: pb.AddressSet) -> set[Owner]:
        self.security.replace_members(full)
        return {SG_MEMBERS}

    def drop_address_set(self, group_id: str) -> set[Owner]:
        self.security.drop_members(group_id)
        return {SG_MEMBERS}

    # -- flows -------------------------------------------------------------------------------
    def owner_cookie(self, owner: Owner) -> int:
        kind = owner[0]
        if kind == "static":
            return flows.cookie(flows.KIND_STATIC)
        if kind == "port":
            return flows.cookie(flows.KIND_PORT, owner[1])
        if kind == "net":
            return flows.cookie(flows.KIND_NETWORK, owner[1])
        if kind == "router":
            return flows.cookie(flows.KIND_ROUTER, owner[1])
        return flows.cookie(flows.KIND_NEIGHBOR, owner[2])

    def owner_flows(self, owner: Owner) -> list[flows.Flow]:
        kind = owner[0]
        if kind == "static":
            return flows.static_flows()
        if kind == "port":
            port = self.ports.get(owner[1])
            ofport = self.vifs.get(owner[1])
            if port is None or ofport is None:
                return []
            key = self.network_key(self.networks.get(port.network_id))
            if key is None:
                return []
            own = flows.port_flows(port, ofport, key, self.on_demand(port.network_id))
            return own + self.fip_flows(port) if own else []
        if kind == "net":
            return self._network_flows(owner[1])
        if kind == "router":
            router = self.routers.get(owner[1])
            if router is None:
                return []
            number = routing.numbers(self.routers)[owner[1]]
            misses = [
                flows.routed_miss(i.vni)
                for i in router.interfaces
                if router.admin_state_up and self.on_demand(i.network_id)
            ]
            where = self._snat_host(router)
            return (
                routing.router_flows(router, number, self.wanted_networks())
                + nat.snat_flows(router, number, self.host_id, self.tunnel_ofport, where)
                + forwarding.forwarding_flows(
                    router, number, self.host_id, self.tunnel_ofport, where
                )
                + misses
            )
        table = self.tables.get(owner[1])
        key = self._key(owner[1])
        entry = table.entries.get(owner[2]) if table is not None else None
        if entry is None or key is None or owner[1] not in self.needed_networks():
            return []
        remote = self._tunnelled(owner[1], entry.host_id, entry.port_id)
        routed = owner[1] in routing.routed_networks(self.routers)
        return flows.neighbor_flows(entry, key, self.tunnel_ofport, remote, routed)

    def network_key(self, net: pb.NetworkState | None) -> int | None:
        """The network's key in br-int (`tun_id`): the VNI of an overlay, the local key of a
        flat network (`physnets`); None when unknown or its physical network is not mapped
        here (then nothing of it is programmed)."""
        if net is None or not physnets.is_physnet(net):
            return net.vni if net is not None else None
        bridge = self.physnets.get(net.physical_network)
        return bridge.key if bridge is not None else None

    def _tunnelled(self, network_id: str, host_id: str, port_id: str) -> bool:
        """Whether frames to a neighbour go through a tunnel: only on an overlay, and only
        when the port lives elsewhere (a flat network's go through the physical segment)."""
        net = self.networks.get(network_id)
        overlay = net is None or not physnets.is_physnet(net)  # routed into: an overlay
        return overlay and host_id != self.host_id and not self._claims(port_id)

    def _claims(self, port_id: str) -> bool:
        """Whether the port is this host's to deliver to: held here, and not only as an
        inactive binding (a live migration's destination, before activation)."""
        port = self.ports.get(port_id)
        return port is not None and not port.inactive

    def _network_flows(self, network_id: str) -> list[flows.Flow]:
        net = self.networks.get(network_id)
        if net is None or network_id not in self.wanted_networks():
            return []
        local = [
            self.vifs[pid]
            for pid, p in self.ports.items()
            if p.network_id == network_id
            and pid in self.vifs
            and p.admin_state_up
            and not p.inactive
        ]
        if physnets.is_physnet(net):
            bridge = self.physnets.get(net.physical_network)
            return physnets.network_flows(bridge, local) if bridge is not None else []
        if net.on_demand:  # no table to count VTEPs in: the list the server keeps
            remote = [ip for ip in net.flood_tunnel_ips if ip != self.tunnel_ip]
        else:
            table = self.tables.get(network_id)
            remote = list(table.vteps) if table is not None else []
        subnets = [s for s in self.subnets.values() if s.network_id == network_id]
        return flows.network_flows(net, subnets, local, remote, self.tunnel_ofport)

    def all_owners(self) -> set[Owner]:
        owners: set[Owner] = {STATIC, SG_OWNER, ACL_OWNER}
        for nid in self.wanted_networks() | set(self.networks) | set(self.tables):
            owners |= self._network_owners(nid)
        owners.update(("port", pid) for pid in self.ports)
        return owners | self._router_owners()

    def desired(self, owners: Iterable[Owner]) -> dict[int, list[flows.Flow]]:
        """Flows of `owners` by cookie (an owner with nothing to install maps to [])."""
        out: dict[int, list[flows.Flow]] = {}
        owners = set(owners)
        if SG_OWNER in owners:
            out.update(self.security.flows(self.ports.values(), self.vifs))
        elif SG_MEMBERS in owners:
            out.update(self.security.member_flows())
        if ACL_OWNER in owners:
            out.update(self.acls.flows(self.ports.values(), self.vifs))
        for owner in owners - {SG_OWNER, SG_MEMBERS, ACL_OWNER}:
            out.setdefault(self.owner_cookie(owner), []).extend(self.owner_flows(owner))
        return out

    def full(self) -> dict[int, list[flows.Flow]]:
        """Every text-encoded flow (all owners but the neighbour entries) by cookie."""
        owners = {o for o in self.all_owners() if o[0] != "neigh"}
        return {ck: fl for ck, fl in self.desired(owners).items() if fl}

    # -- neighbour entries (the bulk: encoded as OpenFlow bytes by the reconciler) -----------
    def split_owners(self, owners: Iterable[Owner]) -> tuple[set[Owner], dict[str, set[str]]]:
        """(text owners, {network id: neighbour port ids}) of a set of dirty owners."""
        text: set[Owner] = set()
        neigh: dict[str, set[str]] = {}
        for owner in owners:
            if owner[0] == "neigh":
                neigh.setdefault(owner[1], set()).add(owner[2])
            else:
                text.add(owner)
        return text, neigh

    def neighbor_updates(self, dirty: dict[str, set[str]]) -> dict[str, NeighborUpdate | None]:
        """What the reconciler needs for the dirty neighbour entries of each network
        (None: the host does not serve the network any more, its neighbour flows go)."""
        wanted = self.needed_networks()
        return {nid: self._neighbor_update(nid, pids, wanted) for nid, pids in dirty.items()}

    def all_neighbor_updates(self) -> dict[str, NeighborUpdate]:
        wanted = self.needed_networks()
        out = {nid: self._neighbor_update(nid, (), wanted) for nid in self.tables}
        return {nid: update for nid, update in out.items() if update is not None}

    def _neighbor_update(
        self, network_id: str, port_ids: Iterable[str], wanted: set[str]
    ) -> NeighborUpdate | None:
        key = self._key(network_id)
        table = self.tables.get(network_id)
        if key is None or table is None or network_id not in wanted:
            return None
        host_id = self.host_id
        ports = {pid for pid, p in self.ports.items() if not p.inactive}  # claimed here
        net = self.networks.get(network_id)
        overlay = net is None or not physnets.is_physnet(net)  # `_tunnelled`, inlined for 100k
        routed = network_id in routing.routed_networks(self.routers)

        def specs(pids: Iterable[str] | None) -> SpecStream:
            # All entries: a snapshot, since deltas may change the table while the flow_mods
            # stream (they mark their entries dirty again: the next round catches up).
            # Dirty ids: looked up lazily, so the first messages leave at once.
            entries = table.entries
            items: Iterable[tuple[str, pb.NeighborState | None]] = (
                list(entries.items()) if pids is None else ((p, entries.get(p)) for p in pids)
            )
            spec = flows.neighbor_spec
            for pid, entry in items:
                if entry is None:
                    yield pid, None
                    continue
                try:
                    pairs = table.unique_pairs(entry) if entry.allowed_address_pairs else ()
                    remote = overlay and entry.host_id != host_id and pid not in ports
                    yield pid, spec(entry, remote, pairs, routed)
                except ValueError as exc:
                    log.warning("neighbour %s of network %s: %s", pid, network_id, exc)
                    yield pid, None

        idle = self.neighbor_idle_timeout if self.on_demand(network_id) else 0
        return NeighborUpdate(key, self.tunnel_ofport, port_ids, specs, idle)

    def port_state(self, port_id: str) -> tuple[pb.ProgramState, float]:
        """(ProgramState, received_at) the agent should report for a port it holds."""
        state: pb.ProgramState = pb.SUCCESS if port_id in self.vifs else pb.PENDING
        port = self.ports.get(port_id)
        net = self.networks.get(port.network_id) if port is not None else None
        if net is not None and self.network_key(net) is None:
            state = pb.FAILURE  # on a physical network this host has no bridge for
        return state, self.received_at.get(port_id, time.time())
