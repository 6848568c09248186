"""The OpenFlow pipeline of br-int, as pure functions from goal state to flow text.

Nothing here touches OVS: every function maps protobuf goal-state entries (plus the few local
facts only the host knows, such as OpenFlow port numbers) to `Flow` tuples, so the whole
pipeline is unit-testable and a resync can recompute the full desired set cheaply.

Pipeline (table map; the numbers are spaced so that later features slot in without
renumbering, and reserved tables already pass packets through):

=====  ===================  ===========================================================
table  name                 what it does
=====  ===================  ===========================================================
0      CLASSIFY             VIF in_port -> tun_id := network VNI, reg6 := ofport, goto 10;
                            tunnel port + known VNI -> reg0[0] := 1 (from tunnel), goto 30;
                            anything else is dropped
10     PORT_SECURITY        DHCP and DHCPv6 client packets and router solicitations ->
                            CONTROLLER (answered by the agent); with port security: only
                            the port's MAC + IPs (and allowed address pairs) for IPv4, ARP
                            and IPv6 (plus its link-local address, DAD and MLD from ::),
                            neighbour advertisements only for its own addresses, never a
                            router advertisement, redirect or DHCPv6 reply -> 15; else
                            drop. Without port security: everything -> 15
15     EGRESS_ACL           network ACL of the sending port (stateless, numbered rules,
                            `acl`); default: pass -> 20
20     EGRESS_SG            egress security groups (`security`): per port with port security,
                            IP -> conntrack in its zone (reg6); others pass -> 30
21     EGRESS_SG_CT         its rules after conntrack (`security`); default -> 30
30     DISPATCH             ARP requests and neighbour solicitations (not DAD's, from ::)
                            from local VIFs -> 31 (xxreg3 := the sender's MAC); IPv4/IPv6
                            from a local VIF to a router interface's MAC -> reg5 := router
                            number, 40 (`routing`); everything else -> 50
31     ARP_RESPONDER        ARP request for a known (VNI, IP) -> arp_tha := its MAC,
                            goto 32; neighbour solicitation for a known (VNI, IPv6) ->
                            eth_src := its MAC (reg2 := 1 for a router's address), goto 33
                            (one action per neighbour: this table holds one flow per
                            neighbour IP, so its flows are kept as cheap as possible);
                            unknown targets -> 50 (flooded)
32     ARP_REPLY            turns the request into the reply, the same for every entry:
                            eth_dst := eth_src, eth_src := arp_tha (the answer),
                            arp_tha := arp_sha, arp_sha := the answer, op := 2, swap
                            arp_spa/arp_tpa (via reg2), IN_PORT. No ARP for a known
                            neighbour crosses a tunnel
33     ND_REPLY             turns the solicitation into the advertisement: eth_dst :=
                            xxreg3, ipv6_dst := ipv6_src, ipv6_src := nd_target, flags
                            S|O (R|S|O when reg2 = 1), option type 2, type 136 -> 34
34     ND_REPLY_TLL         target link-layer option := eth_src, IN_PORT. Two tables:
                            OVS checks nd_tll's prerequisite (an NA) against the match,
                            so it can only be set after the type changed
40     ROUTING              distributed routing (`routing`): longest prefix of the router
                            in reg5 -> tun_id := destination VNI, eth_src := router MAC,
                            reg4 := next hop (the destination or an extra route's next
                            hop), dec_ttl, -> 41; echo requests to the router answered;
                            no route: drop
41     ROUTE_NEIGHBOR       (VNI, reg4) -> eth_dst := that neighbour's MAC, -> 50 (one flow
                            per address of each routed network); unknown: drop
45     NAT                  reserved for floating IPs (next issue); drop
50     L2_FORWARD           (VNI, dst MAC) -> local port: reg7 := ofport, resubmit 55;
                            remote port: tun_dst := neighbour VTEP, output tunnel (only
                            for traffic not received from a tunnel); broadcast/multicast:
                            explicit flood list per network (local ports via 55, plus one
                            tunnel copy per remote host; from a tunnel: local ports only).
                            Unknown unicast is dropped: no NORMAL, no MAC learning
55     INGRESS_ACL          network ACL of the receiving port (`acl`); default: pass -> 60
60     INGRESS_SG           ingress security groups (`security`), zone reg7; others output:reg7
61     INGRESS_SG_CT        its rules after conntrack (`security`); default output:reg7
=====  ===================  ===========================================================

Registers: reg0[0] = packet came from a tunnel (or must not be tunnelled); reg2 = scratch
(ARP reply address swap; 1 = a router answers an NS); reg3 = the routed packet's address
scope bit (`routing.scope_bits`); reg4 = routed next hop (IPv4); reg5 =
router number; reg6 = source ofport (egress conntrack zone); reg7 = destination ofport
(ingress zone); xxreg2 = routed next hop (IPv6); xxreg3[0..47] = the MAC an NA goes to.
`tun_id` carries the network's VNI through the whole pipeline, also for local traffic; a flat
network carries a host-local key instead, and its patch-port flows are `physnets`'.

On-demand networks (`ondemand`): the tables above hold only the neighbours learnt so far, and
a local VIF's misses go to the agent, through a meter per VIF (`miss_flows`, priority 1): an
ARP request or neighbour solicitation without an answer in 31, unicast to an unknown MAC in 50;
packets routed into such a network with an unknown next hop in 41 (`routed_miss`, one meter
for all). The agent resolves them and re-injects the packet into the table that missed.

Ownership: every flow carries a cookie naming what owns it (the static pipeline, one local
port, one network, one neighbour entry), high byte = kind, low 56 bits = a hash of the id.
The hash is stable, so a restarted agent recomputes the same cookies and `replace-flows`
leaves unchanged flows (and their counters) alone.
"""

from __future__ import annotations

import contextlib
import hashlib
import ipaddress
import socket
from collections.abc import Iterable
from typing import NamedTuple

from alcor.southbound.protocol import goalstate_pb2 as pb

CLASSIFY = 0
PORT_SECURITY = 10
EGRESS_ACL = 15
EGRESS_SG = 20
EGRESS_SG_CT = 21
DISPATCH = 30
ARP_RESPONDER = 31
ARP_REPLY = 32
ND_REPLY = 33
ND_REPLY_TLL = 34
ROUTING = 40
ROUTE_NEIGHBOR = 41
NAT = 45
L2_FORWARD = 50
INGRESS_ACL = 55
INGRESS_SG = 60
INGRESS_SG_CT = 61

TABLE_MAP: dict[int, str] = {
    CLASSIFY: "classify: VIF -> VNI + reg6, tunnel -> reg0[0]=1; else drop",
    PORT_SECURITY: "port security (MAC/IP/AAP, IPv6 ND), DHCP/DHCPv6/RS -> controller",
    EGRESS_ACL: "egress network ACL of the sending port; default -> 20",
    EGRESS_SG: "egress security groups: conntrack zone reg6 (security.py); default -> 30",
    EGRESS_SG_CT: "egress security-group rules after conntrack; default -> 30",
    DISPATCH: "ARP requests, NS -> 31, IPv4/IPv6 to a router MAC -> 40, rest -> 50",
    ARP_RESPONDER: "ARP/ND responder from the neighbour tables: the answer MAC, -> 32/33",
    ARP_REPLY: "ARP request -> reply with the MAC left in arp_tha, IN_PORT",
    ND_REPLY: "NS -> NA from eth_src (the answer) to xxreg3, -> 34",
    ND_REPLY_TLL: "NA: target link-layer option := eth_src, IN_PORT",
    ROUTING: "distributed routing: longest prefix of the router in reg5 -> 41",
    ROUTE_NEIGHBOR: "routed next hop (VNI, reg4) -> its MAC, -> 50",
    NAT: "reserved: floating IP NAT (drop)",
    L2_FORWARD: "L2 by (VNI, dst MAC): local or tunnel; explicit flood lists",
    INGRESS_ACL: "ingress network ACL of the receiving port; default -> 60",
    INGRESS_SG: "ingress security groups: conntrack zone reg7 (security.py); default output",
    INGRESS_SG_CT: "ingress security-group rules after conntrack; default output:reg7",
}

KIND_STATIC = 0x01
KIND_PORT = 0x02
KIND_NETWORK = 0x03
KIND_NEIGHBOR = 0x04
KIND_ROUTER = 0x09  # 0x05-0x08 are the security-group and ACL kinds

BROADCAST = "dl_dst=01:00:00:00:00:00/01:00:00:00:00:00"
FROM_LOCAL = "reg0=0/0x1"
FROM_TUNNEL = "reg0=0x1/0x1"
DHCP_CLIENT = "udp,tp_src=68,tp_dst=67"
DHCP6_CLIENT = "udp6,tp_src=546,tp_dst=547"
ROUTER_SOLICITATION = "icmp6,icmp_type=133"
NEIGHBOR_SOLICITATION = "icmp6,icmp_type=135"
NEIGHBOR_ADVERTISEMENT = "icmp6,icmp_type=136"
# NA flags (the 32-bit field after the ICMPv6 header): Router, Solicited, Override.
NA_SOLICITED = 0x60000000
NA_ROUTER = 0x80000000
# Source MAC of DHCP replies and ARP answers for DHCP/gateway addresses when the subnet has no
# router MAC: locally administered (bit 1 of the first octet), never allocated by Neutron.
DHCP_MAC = "fe:a1:c0:00:00:01"
# Priorities: a neighbour's own ARP entry beats the gateway/DHCP address entry of its subnet,
# so a router port that really holds the gateway IP answers with its own MAC.
PRIO_ARP_NEIGHBOR = 100
PRIO_ARP_SERVICE = 90
PRIO_L2_LOCAL = 110  # beats a stale remote entry for a port that just moved here
PRIO_L2_REMOTE = 100
PRIO_FLOOD = 50
PRIO_MISS = 1  # on-demand networks: what no neighbour entry matched goes to the agent
# Meters of the misses sent to the agent (on-demand networks): one per local VIF, numbered
# after its ofport, and one shared by routed misses.
SHARED_METER = 1
METER_BASE = 16


def port_meter(ofport: int) -> int:
    return METER_BASE + ofport


class Flow(NamedTuple):
    """One OpenFlow rule; (table, priority, match) identifies it inside the bridge."""

    table: int
    priority: int
    match: str
    actions: str

    @property
    def key(self) -> tuple[int, int, str]:
        return (self.table, self.priority, self.match)

    def text(self, cookie: int) -> str:
        """The rule as an `ovs-ofctl add-flows` line."""
        match = f",{self.match}" if self.match else ""
        return (
            f"table={self.table},priority={self.priority},cookie={cookie:#x}{match},"
            f"actions={self.actions}"
        )


def delete_text(key: tuple[int, int, str]) -> str:
    """A `delete_strict` bundle line removing the flow with this key."""
    table, priority, match = key
    return f"delete_strict table={table},priority={priority}" + (f",{match}" if match else "")


def cookie(kind: int, owner: str = "") -> int:
    """Cookie of the flows owned by `owner`: kind in the high byte, 56-bit id hash below."""
    if not owner:
        return kind << 56
    digest = hashlib.blake2b(owner.encode(), digest_size=7).digest()
    return (kind << 56) | int.from_bytes(digest, "big")


def cookie_kind(value: int) -> int:
    return value >> 56


# -- static pipeline -------------------------------------------------------------------------
def static_flows() -> list[Flow]:
    """Defaults of every table: drops, pass-throughs of reserved tables, dispatch."""
    return [
        Flow(CLASSIFY, 0, "", "drop"),
        Flow(PORT_SECURITY, 0, "", "drop"),
        Flow(EGRESS_ACL, 0, "", f"goto_table:{EGRESS_SG}"),
        Flow(EGRESS_SG, 0, "", f"goto_table:{DISPATCH}"),
        Flow(EGRESS_SG_CT, 0, "", f"goto_table:{DISPATCH}"),
        Flow(DISPATCH, 100, f"{FROM_LOCAL},arp,arp_op=1", f"goto_table:{ARP_RESPONDER}"),
        Flow(
            DISPATCH,
            100,
            f"{FROM_LOCAL},{NEIGHBOR_SOLICITATION}",
            f"move:NXM_OF_ETH_SRC[]->NXM_NX_XXREG3[0..47],goto_table:{ARP_RESPONDER}",
        ),
        # duplicate address detection (from ::) is never answered on the owner's behalf
        Flow(
            DISPATCH,
            110,
            f"{FROM_LOCAL},{NEIGHBOR_SOLICITATION},ipv6_src=::",
            f"goto_table:{L2_FORWARD}",
        ),
        Flow(DISPATCH, 0, "", f"goto_table:{L2_FORWARD}"),
        Flow(ARP_RESPONDER, 0, "", f"goto_table:{L2_FORWARD}"),
        Flow(ARP_REPLY, 100, "arp", ARP_REPLY_ACTIONS),
        Flow(ARP_REPLY, 0, "", "drop"),
        Flow(ND_REPLY, 100, NEIGHBOR_SOLICITATION, nd_reply_actions(NA_SOLICITED)),
        Flow(
            ND_REPLY,
            110,
            f"{NEIGHBOR_SOLICITATION},reg2=0x1",
            nd_reply_actions(NA_SOLICITED | NA_ROUTER),
        ),
        Flow(ND_REPLY, 0, "", "drop"),
        Flow(
            ND_REPLY_TLL,
            100,
            NEIGHBOR_ADVERTISEMENT,
            "move:NXM_OF_ETH_SRC[]->NXM_NX_ND_TLL[],IN_PORT",
        ),
        Flow(ND_REPLY_TLL, 0, "", "drop"),
        Flow(ROUTING, 0, "", "drop"),
        Flow(ROUTE_NEIGHBOR, 0, "", "drop"),
        Flow(NAT, 0, "", "drop"),
        Flow(L2_FORWARD, 0, "", "drop"),
        Flow(INGRESS_ACL, 0, "", f"goto_table:{INGRESS_SG}"),
        Flow(INGRESS_SG, 0, "", "output:NXM_NX_REG7[0..15]"),
        Flow(INGRESS_SG_CT, 0, "", "output:NXM_NX_REG7[0..15]"),
    ]


# -- helpers ---------------------------------------------------------------------------------
# The reply, built in place from a request whose arp_tha holds the answer (table 32).
ARP_REPLY_ACTIONS = (
    "move:NXM_OF_ETH_SRC[]->NXM_OF_ETH_DST[],"
    "move:NXM_NX_ARP_THA[]->NXM_OF_ETH_SRC[],"
    "move:NXM_NX_ARP_SHA[]->NXM_NX_ARP_THA[],"
    "move:NXM_OF_ETH_SRC[]->NXM_NX_ARP_SHA[],"
    "set_field:2->arp_op,"
    "move:NXM_OF_ARP_TPA[]->NXM_NX_REG2[],"
    "move:NXM_OF_ARP_SPA[]->NXM_OF_ARP_TPA[],"
    "move:NXM_NX_REG2[]->NXM_OF_ARP_SPA[],"
    "IN_PORT"
)


def nd_reply_actions(flags: int) -> str:
    """The solicitation (its answer MAC in eth_src, the asker's in xxreg3) turned into the
    advertisement, up to the target link-layer option (table 34)."""
    return (
        "move:NXM_NX_XXREG3[0..47]->NXM_OF_ETH_DST[],"
        "move:NXM_NX_IPV6_SRC[]->NXM_NX_IPV6_DST[],"
        "move:NXM_NX_ND_TARGET[]->NXM_NX_IPV6_SRC[],"
        f"set_field:{flags:#x}->nd_reserved,set_field:2->nd_options_type,"
        f"set_field:136->icmpv6_type,goto_table:{ND_REPLY_TLL}"
    )


def nd_answer(vni: int, ip: str, mac: str, priority: int, router: bool = False) -> Flow:
    """Answer a neighbour solicitation for `ip` in network `vni` with `mac` (tables 33/34
    build the advertisement; `router` sets its R flag)."""
    flag = "load:0x1->NXM_NX_REG2[]," if router else ""
    return Flow(
        ARP_RESPONDER,
        priority,
        f"{NEIGHBOR_SOLICITATION},tun_id={vni},nd_target={ip}",
        f"set_field:{mac}->eth_src,{flag}goto_table:{ND_REPLY}",
    )


def neighbor_answer(vni: int, ip: str, mac: str, priority: int, router: bool = False) -> Flow:
    """ARP or ND answer for `ip`, by its family."""
    if ":" in ip:
        return nd_answer(vni, ip, mac, priority, router)
    return arp_reply(vni, ip, mac, priority)


def link_local(mac: str) -> str:
    """The IPv6 link-local address of `mac` (modified EUI-64, RFC 4291): the address a VM
    forms for itself and the one a router's interface advertises from."""
    raw = bytearray(mac_bytes(mac))
    raw[0] ^= 0x02
    iid = bytes(raw[:3]) + b"\xff\xfe" + bytes(raw[3:])
    return str(ipaddress.IPv6Address(b"\xfe\x80" + b"\0" * 6 + iid))


def arp_reply(vni: int, ip: str, mac: str, priority: int) -> Flow:
    """Answer `who-has ip` in network `vni` with `mac` (table 32 builds the reply)."""
    return Flow(
        ARP_RESPONDER,
        priority,
        f"arp,arp_op=1,tun_id={vni},arp_tpa={ip}",
        f"set_field:{mac}->arp_tha,goto_table:{ARP_REPLY}",
    )


def tunnel_out(tunnel_ip: str, tunnel_ofport: int) -> str:
    return f"set_field:{tunnel_ip}->tun_dst,output:{tunnel_ofport}"


def local_out(ofport: int) -> str:
    """Deliver to a local port through its ingress filters (network ACL, then security
    groups): every way into a local port, from this host or a tunnel, passes them."""
    return f"load:{ofport}->NXM_NX_REG7[],resubmit(,{INGRESS_ACL})"


def ipv4_fixed_ips(fixed_ips: Iterable[pb.FixedIp]) -> list[str]:
    return [f.ip_address for f in fixed_ips if _is_v4(f.ip_address)]


def ipv6_fixed_ips(fixed_ips: Iterable[pb.FixedIp]) -> list[str]:
    return [f.ip_address for f in fixed_ips if ":" in f.ip_address]


def _is_v4(addr: str) -> bool:
    try:
        socket.inet_pton(socket.AF_INET, addr)  # the common case, 20x cheaper than ipaddress
        return True
    except OSError:
        pass
    try:
        return ipaddress.ip_network(addr, strict=False).version == 4
    except ValueError:
        return False


def _pair_macs(mac: str, pairs: Iterable[pb.AddressPair]) -> list[str]:
    """The port's MAC plus the distinct MACs of its allowed address pairs (lower case)."""
    macs = [mac.lower()]
    for pair in pairs:
        other = (pair.mac_address or mac).lower()
        if other not in macs:
            macs.append(other)
    return macs


def dhcp_server(subnet: pb.SubnetState) -> tuple[str, str]:
    """(IP, MAC) the agent's DHCP answers come from for `subnet`.

    The gateway when the subnet has one (its router MAC if known), else the last host address
    of the subnet: the client unicasts renewals there, so ARP for it is answered too.
    """
    mac = subnet.gateway_mac.lower() or DHCP_MAC
    if subnet.gateway_ip:
        return subnet.gateway_ip, mac
    net = ipaddress.ip_network(subnet.cidr, strict=False)
    return str(net.broadcast_address - 1), mac


# -- per local port --------------------------------------------------------------------------
def port_flows(port: pb.PortState, ofport: int, vni: int, on_demand: bool = False) -> list[Flow]:
    """Flows of one plugged local VIF: classification, port security, DHCP punt, delivery,
    and on an on-demand network its misses."""
    if not port.admin_state_up:
        return []
    mac = port.mac_address.lower()
    to_acl = f"goto_table:{EGRESS_ACL}"
    flows = [
        Flow(
            CLASSIFY,
            100,
            f"in_port={ofport}",
            f"set_field:{vni}->tun_id,load:{ofport}->NXM_NX_REG6[],goto_table:{PORT_SECURITY}",
        )
    ]
    if port.port_security_enabled:
        for punted in (DHCP_CLIENT, DHCP6_CLIENT, ROUTER_SOLICITATION):
            flows.append(
                Flow(
                    PORT_SECURITY,
                    200,
                    f"in_port={ofport},dl_src={mac},{punted}",
                    "CONTROLLER:65535",
                )
            )
        allowed: list[tuple[str, str]] = [(mac, ip) for ip in ipv4_fixed_ips(port.fixed_ips)]
        for pair in port.allowed_address_pairs:
            if _is_v4(pair.ip_address):
                allowed.append(((pair.mac_address or mac).lower(), pair.ip_address))
        for src_mac, ip in allowed:
            flows.append(
                Flow(
                    PORT_SECURITY, 100, f"in_port={ofport},dl_src={src_mac},ip,nw_src={ip}", to_acl
                )
            )
            flows.append(
                Flow(
                    PORT_SECURITY,
                    100,
                    f"in_port={ofport},dl_src={src_mac},arp,arp_sha={src_mac},arp_spa={ip}",
                    to_acl,
                )
            )
        flows.extend(_ipv6_port_security(port, ofport, to_acl))
    else:
        for punted in (DHCP_CLIENT, DHCP6_CLIENT, ROUTER_SOLICITATION):
            flows.append(Flow(PORT_SECURITY, 200, f"in_port={ofport},{punted}", "CONTROLLER:65535"))
        flows.append(Flow(PORT_SECURITY, 100, f"in_port={ofport}", to_acl))
    if not port.inactive:  # an inactive binding's port is still delivered to its active host
        for dst in _pair_macs(mac, port.allowed_address_pairs):
            flows.append(
                Flow(L2_FORWARD, PRIO_L2_LOCAL, f"tun_id={vni},dl_dst={dst}", local_out(ofport))
            )
    if on_demand:
        flows.extend(miss_flows(ofport))
    return dedupe(flows)


# What a VM may never send on IPv6: it is not the router nor the DHCPv6 server.
_IPV6_BANS = ("icmp6,icmp_type=134", "icmp6,icmp_type=137", "udp6,tp_src=547")


def _ipv6_port_security(port: pb.PortState, ofport: int, to_acl: str) -> list[Flow]:
    """IPv6 anti-spoofing of a port with port security: sources from its fixed IPs, its
    link-local address and its allowed address pairs (with their MACs), DAD and MLD from
    ::, advertisements only for those addresses; RAs, redirects and DHCPv6 replies never."""
    mac = port.mac_address.lower()
    allowed = [(mac, ip) for ip in ipv6_fixed_ips(port.fixed_ips)]
    for pair in port.allowed_address_pairs:
        if ":" in pair.ip_address:
            allowed.append(((pair.mac_address or mac).lower(), pair.ip_address))
    for own in dict.fromkeys(m for m, _ in [(mac, ""), *allowed]):
        with contextlib.suppress(ValueError):  # a malformed MAC has no link-local address
            allowed.append((own, link_local(own)))
    out = [Flow(PORT_SECURITY, 150, f"in_port={ofport},{ban}", "drop") for ban in _IPV6_BANS]
    out.append(Flow(PORT_SECURITY, 120, f"in_port={ofport},{NEIGHBOR_ADVERTISEMENT}", "drop"))
    for src_mac, ip in allowed:
        out.append(
            Flow(
                PORT_SECURITY,
                130,
                f"in_port={ofport},dl_src={src_mac},{NEIGHBOR_ADVERTISEMENT},nd_target={ip}",
                to_acl,
            )
        )
        out.append(
            Flow(
                PORT_SECURITY, 100, f"in_port={ofport},dl_src={src_mac},ipv6,ipv6_src={ip}", to_acl
            )
        )
    for icmp_type in (135, 143):  # DAD's solicitation, MLDv2 reports before an address
        out.append(
            Flow(
                PORT_SECURITY,
                100,
                f"in_port={ofport},dl_src={mac},icmp6,ipv6_src=::,icmp_type={icmp_type}",
                to_acl,
            )
        )
    return out


def to_agent(meter: int) -> str:
    return f"meter:{meter},CONTROLLER:65535"


def miss_flows(ofport: int) -> list[Flow]:
    """A local VIF's misses on an on-demand network, to the agent through the VIF's meter:
    ARP and neighbour solicitations nothing answered, unicast to an unknown MAC."""
    to = to_agent(port_meter(ofport))
    return [
        Flow(ARP_RESPONDER, PRIO_MISS, f"reg6={ofport},arp,arp_op=1", to),
        Flow(ARP_RESPONDER, PRIO_MISS, f"reg6={ofport},{NEIGHBOR_SOLICITATION}", to),
        Flow(L2_FORWARD, PRIO_MISS, f"{FROM_LOCAL},reg6={ofport}", to),
    ]


def routed_miss(vni: int) -> Flow:
    """A packet routed into on-demand network `vni` whose next hop is not known yet."""
    return Flow(ROUTE_NEIGHBOR, PRIO_MISS, f"tun_id={vni}", to_agent(SHARED_METER))


# -- per network -----------------------------------------------------------------------------
def network_flows(
    network: pb.NetworkState,
    subnets: Iterable[pb.SubnetState],
    local_ofports: Iterable[int],
    remote_tunnel_ips: Iterable[str],
    tunnel_ofport: int,
) -> list[Flow]:
    """Tunnel classification, flood lists and service-address ARP of one network."""
    vni = network.vni
    flows = [
        Flow(
            CLASSIFY,
            100,
            f"in_port={tunnel_ofport},tun_id={vni}",
            f"load:1->NXM_NX_REG0[0],goto_table:{DISPATCH}",
        )
    ]
    local = ",".join(local_out(p) for p in sorted(set(local_ofports)))
    remote = ",".join(tunnel_out(ip, tunnel_ofport) for ip in sorted(set(remote_tunnel_ips)))
    from_local = ",".join(a for a in (local, remote) if a)
    if from_local:
        flows.append(
            Flow(L2_FORWARD, PRIO_FLOOD, f"{FROM_LOCAL},tun_id={vni},{BROADCAST}", from_local)
        )
    if local:
        flows.append(Flow(L2_FORWARD, PRIO_FLOOD, f"{FROM_TUNNEL},tun_id={vni},{BROADCAST}", local))
    for subnet in subnets:
        if subnet.ip_version == 4 and subnet.cidr:
            ip, mac = dhcp_server(subnet)
            flows.append(arp_reply(vni, ip, mac, PRIO_ARP_SERVICE))
        elif subnet.ipv6_ra_mode or subnet.ipv6_address_mode:
            # the source of RAs and DHCPv6 replies when no router interface is there
            flows.append(nd_answer(vni, link_local(DHCP_MAC), DHCP_MAC, PRIO_ARP_SERVICE, True))
    return dedupe(flows)


# -- per neighbour entry ---------------------------------------------------------------------
class NeighborSpec(NamedTuple):
    """What a neighbour entry's flows depend on, in wire form (see `ofwire`).

    `mac` (6 bytes) answers ARP for each IPv4 address of `ips` (4 bytes) and neighbour
    solicitations for each IPv6 address (16 bytes); when the port lives on
    another host, each MAC of `l2_macs` (its own plus allowed-address-pair MACs) is sent to
    `tunnel_ip` (4 bytes; empty for a port on this host, whose delivery flows belong to it).
    `routed`: a router this host routes for connects the network, so packets routed to each
    of `ips` get `mac` as destination (ROUTE_NEIGHBOR).
    """

    cookie: int
    mac: bytes
    ips: tuple[bytes, ...]
    l2_macs: tuple[bytes, ...]
    tunnel_ip: bytes
    routed: bool = False


def mac_bytes(mac: str) -> bytes:
    raw = bytes.fromhex(mac.replace(":", ""))
    if len(raw) != 6:
        raise ValueError(f"bad MAC {mac!r}")
    return raw


def mac_text(raw: bytes) -> str:
    return raw.hex(":")


def _ipv4_bytes(addr: str) -> bytes | None:
    try:
        return socket.inet_pton(socket.AF_INET, addr)
    except OSError:
        return None


def _ip_bytes(addr: str) -> bytes | None:
    """An address (not a CIDR) of either family in wire form, else None."""
    try:
        return socket.inet_pton(socket.AF_INET6 if ":" in addr else socket.AF_INET, addr)
    except OSError:
        return None


def ip_text(raw: bytes) -> str:
    return socket.inet_ntop(socket.AF_INET6 if len(raw) == 16 else socket.AF_INET, raw)


def neighbor_spec(
    neighbor: pb.NeighborState, remote: bool, pair_ips: Iterable[str] = (), routed: bool = False
) -> NeighborSpec:
    """The flows of one neighbour entry, as data (raises ValueError for a malformed MAC/IP).

    `remote` is False for ports bound to this host: their delivery flows belong to the port.
    `pair_ips` are allowed-address-pair addresses the ARP responder answers for this port
    too (the model picks those only this port claims, see `model.NeighborSet`).
    """
    mac = neighbor.mac_address.lower()
    fixed = neighbor.fixed_ips
    if len(fixed) == 1 and not pair_ips:  # the common case, without the generic loop
        ip = _ip_bytes(fixed[0].ip_address)
        ips: tuple[bytes, ...] = (ip,) if ip else ()
    else:
        addrs = [f.ip_address for f in fixed] + list(pair_ips)
        ips = tuple(dict.fromkeys(ip for a in addrs if (ip := _ip_bytes(a))))
    raw_mac = mac_bytes(mac)
    tunnel = b""
    l2: tuple[bytes, ...] = ()
    if remote and neighbor.tunnel_ip:
        tunnel = _ipv4_bytes(neighbor.tunnel_ip) or b""
        if not tunnel:
            raise ValueError(f"bad tunnel IP {neighbor.tunnel_ip!r}")
        if neighbor.allowed_address_pairs:
            l2 = tuple(mac_bytes(m) for m in _pair_macs(mac, neighbor.allowed_address_pairs))
        else:
            l2 = (raw_mac,)
    return NeighborSpec(cookie(KIND_NEIGHBOR, neighbor.port_id), raw_mac, ips, l2, tunnel, routed)


def spec_flows(
    spec: NeighborSpec, vni: int, tunnel_ofport: int, idle_timeout: int = 0
) -> list[Flow]:
    """The text flows of a neighbour spec (what `ofwire.NeighborEncoder` sends as bytes; on
    an on-demand network the remote L2 flow expires idle and says so)."""
    mac = mac_text(spec.mac)
    expiry = f"idle_timeout={idle_timeout},send_flow_rem," if idle_timeout else ""
    out = [neighbor_answer(vni, ip_text(ip), mac, PRIO_ARP_NEIGHBOR) for ip in spec.ips]
    if spec.routed:
        out.extend(routed_to(vni, ip, mac) for ip in spec.ips)
    if spec.tunnel_ip:
        action = tunnel_out(socket.inet_ntoa(spec.tunnel_ip), tunnel_ofport)
        for dst in spec.l2_macs:
            out.append(
                Flow(
                    L2_FORWARD,
                    PRIO_L2_REMOTE,
                    f"{expiry}{FROM_LOCAL},tun_id={vni},dl_dst={mac_text(dst)}",
                    action,
                )
            )
    return out


def routed_to(vni: int, ip: bytes, mac: str) -> Flow:
    """A packet routed into network `vni` with next hop `ip` (reg4, or xxreg2 for IPv6)
    goes to `mac`."""
    match = "ipv6,tun_id={},xxreg2={:#x}" if len(ip) == 16 else "ip,tun_id={},reg4={:#x}"
    return Flow(
        ROUTE_NEIGHBOR,
        PRIO_ARP_NEIGHBOR,
        match.format(vni, int.from_bytes(ip, "big")),
        f"set_field:{mac}->eth_dst,goto_table:{L2_FORWARD}",
    )


def neighbor_flows(
    neighbor: pb.NeighborState, vni: int, tunnel_ofport: int, remote: bool, routed: bool = False
) -> list[Flow]:
    """ARP/ND answers for a port's addresses, when it lives elsewhere its L2 route, and
    when its network is routed here the next-hop entries of its addresses."""
    return spec_flows(neighbor_spec(neighbor, remote, routed=routed), vni, tunnel_ofport)


def dedupe(flows: list[Flow]) -> list[Flow]:
    """Keep the first flow of each key (one owner must never emit two rules with one key)."""
    seen: dict[tuple[int, int, str], Flow] = {}
    for flow in flows:
        seen.setdefault(flow.key, flow)
    return list(seen.values())
