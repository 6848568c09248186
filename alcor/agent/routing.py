"""Distributed routing: the flows of the routers a host routes for, as pure functions.

Why distributed (as Neutron's DVR and OVN do, without their per-host namespaces): every host
with a port on a network a router connects routes that port's packets itself, so a packet to
another subnet leaves its source host already in the destination network and goes straight
to the destination's host over the tunnel; nothing hairpins through a network node.

How a packet is routed (tables in `flows`):

* DISPATCH (30): an IPv4 or IPv6 packet a local VM sends to the MAC of a router interface on its
  network loads the router's number into reg5 and goes to ROUTING. Numbers are per host,
  derived from the router id (`numbers`), so routers of different projects with overlapping
  subnets never share a route.
* ROUTING (40): the longest prefix wins (priority 100 + prefix length). A connected subnet
  sets tun_id to its network's VNI, eth_src to the router's MAC there, reg4 (xxreg2 for
  IPv6) to the destination address; an extra route the same towards its next hop; both
  decrement the TTL (hop limit). ICMP and ICMPv6 echo requests to any address of the router
  are answered in place. IPv6 is routed the same way, never NATed.
* Address scopes (Neutron's address-scope marks): when a router's interfaces are in more
  than one scope (a subnet's scope is its pool's; no scope is a scope of its own), DISPATCH
  loads the ingress interface's scope bit into reg3 and every route matches the bit of the
  interface it leads to, so nothing is routed between scopes; a packet the router translated
  (a port forwarding, SNAT replies) re-enters ROUTING with every bit set. Leaving through a
  floating IP or SNAT (below the routes) is open to every scope, as Neutron's NAT is.
* ROUTE_NEIGHBOR (41): reg4/xxreg2 + VNI -> the neighbour's MAC (one flow per address of every
  network a local router connects; `flows.spec_flows` renders them with the neighbour
  entries), then L2_FORWARD delivers locally or tunnels it, as for a same-subnet packet.

So a host needs, besides its routers, the neighbour tables of every network they connect,
also those without a local port (`HostModel.served_networks`).

The router interface's MAC and address answer the VMs' ARP and neighbour solicitations (with
the R flag; its global and its link-local address, the source of router advertisements and the
VMs' default route), at a priority above the DHCP-server answer of the subnet, which falls
back to a MAC no router owns.
"""

from __future__ import annotations

import hashlib
import ipaddress
from collections.abc import Iterable, Mapping

from alcor.agent import flows
from alcor.agent.flows import Flow
from alcor.southbound.protocol import goalstate_pb2 as pb

PRIO_ARP_ROUTER = 105  # above a subnet's service answer (90), apart from neighbours (100)
PRIO_DISPATCH = 90
PRIO_ECHO = 300
PRIO_ROUTE = 100  # plus the prefix length: longest prefix first
ALL_SCOPES = 0xFFFFFFFF  # reg3 of a packet the router translated: it may reach every scope

# An echo request turned into its reply on the spot: swap MACs and addresses, type 0.
ECHO_REPLY = (
    "push:NXM_OF_ETH_SRC[],push:NXM_OF_ETH_DST[],pop:NXM_OF_ETH_SRC[],pop:NXM_OF_ETH_DST[],"
    "push:NXM_OF_IP_SRC[],push:NXM_OF_IP_DST[],pop:NXM_OF_IP_SRC[],pop:NXM_OF_IP_DST[],"
    "set_field:0->icmp_type,set_field:64->nw_ttl,IN_PORT"
)
ECHO6_REPLY = (
    "push:NXM_OF_ETH_SRC[],push:NXM_OF_ETH_DST[],pop:NXM_OF_ETH_SRC[],pop:NXM_OF_ETH_DST[],"
    "push:NXM_NX_IPV6_SRC[],push:NXM_NX_IPV6_DST[],pop:NXM_NX_IPV6_SRC[],pop:NXM_NX_IPV6_DST[],"
    "set_field:129->icmpv6_type,set_field:64->nw_ttl,IN_PORT"
)
# per family: the L3 match, its destination field, the next-hop register, echo request, reply
_L3 = {4: "ip", 6: "ipv6"}
_DST = {4: "nw_dst", 6: "ipv6_dst"}
_HOP = {4: "NXM_NX_REG4[]", 6: "NXM_NX_XXREG2[]"}
_DST_FIELD = {4: "NXM_OF_IP_DST[]", 6: "NXM_NX_IPV6_DST[]"}
_ECHO = {4: ("icmp,icmp_type=8", ECHO_REPLY), 6: ("icmp6,icmp_type=128", ECHO6_REPLY)}


def numbers(router_ids: Iterable[str]) -> dict[str, int]:
    """A distinct non-zero 32-bit reg5 value per router, the same on every restart for the
    same routers (a hash, probed past collisions in id order)."""
    taken: set[int] = set()
    out: dict[str, int] = {}
    for rid in sorted(router_ids):
        n = int.from_bytes(hashlib.blake2b(rid.encode(), digest_size=4).digest(), "big") or 1
        while n in taken:
            n = n % 0xFFFFFFFF + 1
        taken.add(n)
        out[rid] = n
    return out


def _routed(router: pb.RouterState) -> list[pb.RouterInterface]:
    return [i for i in router.interfaces if i.ip_version in _L3 and i.vni]


def scope_bits(router: pb.RouterState) -> dict[str, int]:
    """address scope id ("" = none) -> its reg3 bit on this router, when the router's
    interfaces are in more than one scope (else {}: nothing to tell apart, no match on reg3).
    From the router state alone, so every host computes the same bits; past 31 scopes on one
    router, scopes share bits (and route to each other)."""
    found = sorted({i.address_scope_id for i in _routed(router)})
    if len(found) < 2:
        return {}
    return {scope: 1 << (n % 31) for n, scope in enumerate(found)}


def _scope_match(bits: Mapping[str, int], iface: pb.RouterInterface) -> str:
    """Match the packet's source scope (reg3, loaded in DISPATCH) against `iface`'s."""
    bit = bits.get(iface.address_scope_id)
    return f",reg3={bit:#x}/{bit:#x}" if bit else ""


def _route(
    number: int, cidr: str, iface: pb.RouterInterface, hop: str, bits: Mapping[str, int]
) -> Flow:
    net = ipaddress.ip_network(cidr, strict=False)
    v = net.version
    return Flow(
        flows.ROUTING,
        PRIO_ROUTE + net.prefixlen,
        f"{_L3[v]},reg5={number:#x}{_scope_match(bits, iface)},{_DST[v]}={net}",
        f"set_field:{iface.vni}->tun_id,set_field:{iface.mac_address.lower()}->eth_src,"
        f"{hop},dec_ttl,goto_table:{flows.ROUTE_NEIGHBOR}",
    )


def router_flows(router: pb.RouterState, number: int, local_networks: set[str]) -> list[Flow]:
    """Every flow of one router on a host whose VMs sit on `local_networks`."""
    if not router.admin_state_up:
        return []
    ifaces = _routed(router)
    bits = scope_bits(router)
    out: list[Flow] = []
    for i in ifaces:
        if i.network_id not in local_networks:
            continue  # no VM here sends to this interface
        mac = i.mac_address.lower()
        for ip in _addresses(i):
            out.append(flows.neighbor_answer(i.vni, ip, mac, PRIO_ARP_ROUTER, router=True))
        scope = f"load:{bits[i.address_scope_id]:#x}->NXM_NX_REG3[]," if bits else ""
        out.append(
            Flow(
                flows.DISPATCH,
                PRIO_DISPATCH,
                f"{flows.FROM_LOCAL},{_L3[i.ip_version]},tun_id={i.vni},dl_dst={mac}",
                f"{scope}load:{number:#x}->NXM_NX_REG5[],goto_table:{flows.ROUTING}",
            )
        )
    for i in ifaces:
        v = i.ip_version
        request, reply = _ECHO[v]
        for ip in _addresses(i):
            out.append(
                Flow(flows.ROUTING, PRIO_ECHO, f"{request},reg5={number:#x},{_DST[v]}={ip}", reply)
            )
        out.append(_route(number, i.cidr, i, f"move:{_DST_FIELD[v]}->{_HOP[v]}", bits))
    for route in router.routes:
        hop = ipaddress.ip_address(route.nexthop)
        via = next((i for i in ifaces if hop in ipaddress.ip_network(i.cidr)), None)
        if via is None:
            continue  # the API refuses those; a state racing a detach may still say it
        hop_reg = f"load:{int(hop):#x}->{_HOP[hop.version]}"
        out.append(_route(number, route.destination, via, hop_reg, bits))
    return flows.dedupe(out)


def _addresses(iface: pb.RouterInterface) -> list[str]:
    """The addresses a router interface answers for: its own, and on IPv6 also the link-local
    address of its MAC (where router advertisements come from)."""
    if iface.ip_version == 6:
        return [iface.ip_address, flows.link_local(iface.mac_address)]
    return [iface.ip_address]


def interface_on(
    routers: Mapping[str, pb.RouterState], subnet_id: str
) -> pb.RouterInterface | None:
    """The interface of an (administratively up) router on `subnet_id`, if any."""
    for router in routers.values():
        if router.admin_state_up:
            for i in router.interfaces:
                if i.subnet_id == subnet_id:
                    return i
    return None  # a connected subnet wins over an extra route to the same prefix


def on_demand_networks(routers: Mapping[str, pb.RouterState]) -> set[str]:
    """The networks these routers connect that resolve their neighbours on demand."""
    return {i.network_id for r in routers.values() for i in _routed(r) if i.on_demand}


def routed_networks(routers: Mapping[str, pb.RouterState]) -> dict[str, int]:
    """network id -> VNI of every network these routers connect (their neighbour tables are
    needed to route into them)."""
    return {i.network_id: i.vni for r in routers.values() for i in _routed(r) if r.admin_state_up}
