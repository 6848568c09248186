"""Floating IPs on the host of their port: 1:1 NAT with userspace conntrack, and the ARP that
makes the external segment find them.

Why on the port's host (distributed, like Neutron's DVR floating IPs and OVN's
`dnat_and_snat` with a logical port): a floating IP's traffic then never crosses another
host, and moving the address is re-sending two ports. The host reaches the external network
through its physical bridge (`physnets`); a floating IP answers ARP there with a MAC derived
from its address (`FloatingIpState.mac_address`), so the MAC moves with the address and no
two hosts ever claim one MAC on the segment.

Flows of one floating IP F of a local port (fixed IP X, MAC M, network key V) whose router R
has the MAC RM on the port's subnet, on a physical bridge with key K and patch port P (all in
the port's owner, so they come and go with it):

* CLASSIFY, from P: ARP requests for F -> ARP_REPLY with F's MAC; ARP replies to F -> the
  agent (it learns the external gateway's MAC); IPv4 to F -> conntrack (NAT_ZONE, nat) ->
  NAT.
* ROUTING, below every route: IPv4 from the port routed by R (reg5) with source X, i.e. to
  nothing R routes to -> conntrack (NAT_ZONE, nat) -> NAT.
* NAT (45), after conntrack: a new inbound connection is committed with dst := X, an outbound
  one with src := F, both marked with F's number (ct_mark), so that established packets of
  either direction are told apart even when two projects' ports share X. Inbound then goes
  into V with RM -> M, TTL decremented, through L2_FORWARD (and so through the port's ingress
  ACL and security groups); outbound goes to K with F's MAC -> the external gateway's MAC,
  out P. Until the gateway's MAC is known (the agent asks by ARP), outbound is dropped.

Router SNAT, for ports without a floating IP (`gateways` on the server says why one host per
router and which): every host routing for R sends what R has no route for (ROUTING, below the
floating IPs) through the tunnel to R's SNAT host, unchanged (still in the source network,
to R's MAC there). The SNAT host takes those (CLASSIFY, from the tunnel, to one of R's
interface MACs) and its own VMs' alike into conntrack (R's zone): new connections committed
with src := R's gateway address and R's number as ct_mark, then out P like a floating IP's.
Replies come in on P to the gateway address and MAC, are de-NATed by conntrack and routed by R
to the VM (the route into its network, then the tunnel to its host). The gateway address also
answers ARP and ping on the segment there.
"""

from __future__ import annotations

import ipaddress
import struct
from typing import NamedTuple

from alcor.agent import flows, routing
from alcor.agent.flows import Flow
from alcor.agent.physnets import Bridge
from alcor.southbound.protocol import goalstate_pb2 as pb

NAT_ZONE = 0xFFF0  # one conntrack zone for every floating IP of the host (above ofports)
PRIO_FIP = 120  # CLASSIFY: above the physical network's own classification of P
PRIO_EGRESS = 99  # ROUTING: below every route (100 + prefix length)
PRIO_NEW = 100
PRIO_EST = 90
PRIO_SNAT = 98  # ROUTING: below the floating IPs' egress
PRIO_SNAT_NEW = 95  # NAT: below the floating IPs' flows (a port with one uses it)
PRIO_SNAT_EST = 85
PRIO_GATEWAY_ECHO = 130
BROADCAST_MAC = b"\xff" * 6


class FipPort(NamedTuple):
    """What the flows of a port's floating IPs need besides the floating IP itself."""

    ofport: int
    mac: str
    key: int  # the port's network key (VNI)
    router_mac: str  # the router's MAC on the port's subnet
    router_number: int
    bridge: Bridge  # the external network's physical bridge


def fip_number(fip_id: str) -> int:
    """The ct_mark of a floating IP's connections (non-zero, 32 bits, from its id)."""
    return routing.numbers([fip_id])[fip_id]


def fip_flows(fip: pb.FloatingIpState, port: FipPort, gateway_mac: str | None) -> list[Flow]:
    """Every flow of one floating IP (see the module docstring)."""
    f, x, fm = fip.floating_ip_address, fip.fixed_ip_address, fip.mac_address.lower()
    pp, mark = port.bridge.patch_ofport, fip_number(fip.id)
    nat = f"ct(zone={NAT_ZONE},nat,table={flows.NAT})"
    inward = (
        f"set_field:{port.key}->tun_id,set_field:{port.router_mac}->eth_src,"
        f"set_field:{port.mac}->eth_dst,dec_ttl,goto_table:{flows.L2_FORWARD}"
    )
    out = [
        Flow(
            flows.CLASSIFY,
            PRIO_FIP,
            f"in_port={pp},arp,arp_op=1,arp_tpa={f}",
            f"set_field:{fm}->arp_tha,goto_table:{flows.ARP_REPLY}",
        ),
        Flow(
            flows.CLASSIFY, PRIO_FIP, f"in_port={pp},arp,arp_op=2,arp_tpa={f}", "CONTROLLER:65535"
        ),
        Flow(flows.CLASSIFY, PRIO_FIP, f"in_port={pp},ip,dl_dst={fm},nw_dst={f}", nat),
        Flow(
            flows.NAT,
            PRIO_NEW,
            f"in_port={pp},ct_state=+new+trk,ip,nw_dst={f}",
            f"ct(commit,zone={NAT_ZONE},exec(set_field:{mark:#x}->ct_mark),nat(dst={x}))," + inward,
        ),
        Flow(
            flows.ROUTING,
            PRIO_EGRESS,
            f"ip,reg5={port.router_number:#x},reg6={port.ofport},nw_src={x}",
            nat,
        ),
    ]
    for state in ("+est", "+rel"):
        match = f"ct_state={state}+trk,ct_mark={mark:#x},ip"
        out.append(Flow(flows.NAT, PRIO_EST, f"in_port={pp},{match}", inward))
    if gateway_mac:
        outward = (
            f"set_field:{port.bridge.key}->tun_id,set_field:{fm}->eth_src,"
            f"set_field:{gateway_mac}->eth_dst,dec_ttl,output:{pp}"
        )
        out.append(
            Flow(
                flows.NAT,
                PRIO_NEW,
                f"in_port={port.ofport},ct_state=+new+trk,ip,nw_src={x}",
                f"ct(commit,zone={NAT_ZONE},exec(set_field:{mark:#x}->ct_mark),nat(src={f})),"
                + outward,
            )
        )
        for state in ("+est", "+rel"):
            match = f"ct_state={state}+trk,ct_mark={mark:#x},ip"
            out.append(Flow(flows.NAT, PRIO_EST, f"in_port={port.ofport},{match}", outward))
    return out


class SnatHost(NamedTuple):
    """What a router's SNAT needs on the host that does it."""

    bridge: Bridge  # the external network's physical bridge
    next_hop_mac: str | None  # the external gateway's MAC, once learnt by ARP


def snat_zone(number: int) -> int:
    """The conntrack zone of a router's SNAT (apart from ports' zones and NAT_ZONE): two
    routers' VMs may share an address, so each router translates in its own table."""
    return 0x8000 + number % 0x7F00


def snat_flows(
    router: pb.RouterState, number: int, here: str, tunnel_ofport: int, where: SnatHost | None
) -> list[Flow]:
    """A router's SNAT flows on this host (`here`): forwarding to its SNAT host, or, on that
    host (`where`: its bridge there), the translation itself. Nothing without SNAT or a
    placed host."""
    gw = router.gateway
    if not router.admin_state_up or not gw.enable_snat or not gw.snat_host:
        return []
    reg5 = f"reg5={number:#x}"
    if gw.snat_host != here:
        if not gw.snat_tunnel_ip:
            return []
        send = f"set_field:{gw.snat_tunnel_ip}->tun_dst,output:{tunnel_ofport}"
        return [Flow(flows.ROUTING, PRIO_SNAT, f"ip,{reg5}", send)]
    if where is None:
        return []
    zone, pp = snat_zone(number), where.bridge.patch_ofport
    nat = f"ct(zone={zone},nat,table={flows.NAT})"
    mac = gw.mac_address.lower()
    out = [
        Flow(flows.ROUTING, PRIO_SNAT, f"ip,{reg5}", nat),
        Flow(
            flows.CLASSIFY,
            PRIO_GATEWAY_ECHO,
            f"in_port={pp},icmp,nw_dst={gw.ip_address},icmp_type=8",
            routing.ECHO_REPLY,
        ),
        Flow(
            flows.CLASSIFY,
            PRIO_FIP,
            f"in_port={pp},arp,arp_op=1,arp_tpa={gw.ip_address}",
            f"set_field:{mac}->arp_tha,goto_table:{flows.ARP_REPLY}",
        ),
        Flow(
            flows.CLASSIFY,
            PRIO_FIP,
            f"in_port={pp},arp,arp_op=2,arp_tpa={gw.ip_address}",
            "CONTROLLER:65535",
        ),
        Flow(flows.CLASSIFY, PRIO_FIP, f"in_port={pp},ip,dl_dst={mac},nw_dst={gw.ip_address}", nat),
    ]
    for i in router.interfaces:
        if i.ip_version == 4 and i.vni:
            out.append(
                Flow(
                    flows.CLASSIFY,
                    PRIO_FIP,
                    f"in_port={tunnel_ofport},tun_id={i.vni},ip,dl_dst={i.mac_address.lower()}",
                    f"load:{number:#x}->NXM_NX_REG5[],{nat}",
                )
            )
    for state in ("+est", "+rel"):
        out.append(
            Flow(
                flows.NAT,
                PRIO_SNAT_EST,
                f"in_port={pp},ct_state={state}+trk,ct_mark={number:#x},ip",
                # back to an earlier table: a resubmit (goto_table only goes forward)
                f"load:{number:#x}->NXM_NX_REG5[],load:{routing.ALL_SCOPES:#x}->NXM_NX_REG3[],"
                f"resubmit(,{flows.ROUTING})",
            )
        )
    if where.next_hop_mac:
        outward = (
            f"set_field:{where.bridge.key}->tun_id,set_field:{mac}->eth_src,"
            f"set_field:{where.next_hop_mac}->eth_dst,dec_ttl,output:{pp}"
        )
        out.append(
            Flow(
                flows.NAT,
                PRIO_SNAT_NEW,
                f"{reg5},ct_state=+new+trk,ip",
                f"ct(commit,zone={zone},exec(set_field:{number:#x}->ct_mark),"
                f"nat(src={gw.ip_address})),{outward}",
            )
        )
        for state in ("+est", "+rel"):
            match = f"{reg5},ct_state={state}+trk,ct_mark={number:#x},ip"
            out.append(Flow(flows.NAT, PRIO_SNAT_EST, match, outward))
    return out


# -- ARP on the external segment -------------------------------------------------------------
def _mac(text: str) -> bytes:
    return bytes.fromhex(text.replace(":", ""))


def arp_frame(op: int, src_mac: str, src_ip: str, dst_mac: bytes, target_ip: str) -> bytes:
    """An Ethernet ARP frame: a request (op 1) for `target_ip`, broadcast, or a gratuitous
    announcement of `src_ip` (request with target = source)."""
    sha = _mac(src_mac)
    tha = b"\0" * 6 if op == 1 else dst_mac
    return (
        dst_mac
        + sha
        + b"\x08\x06"
        + struct.pack("!HHBBH", 1, 0x0800, 6, 4, op)
        + sha
        + ipaddress.IPv4Address(src_ip).packed
        + tha
        + ipaddress.IPv4Address(target_ip).packed
    )


def who_has(mac: str, ip: str, target_ip: str) -> bytes:
    """An address of ours (a floating IP, a router gateway) asking the segment for
    `target_ip` (its external gateway)."""
    return arp_frame(1, mac, ip, BROADCAST_MAC, target_ip)


def gratuitous(mac: str, ip: str) -> bytes:
    """An address of ours announcing where it is now (the segment's switches and neighbours
    update at once when it moves to another host)."""
    return arp_frame(1, mac, ip, BROADCAST_MAC, ip)


def arp_reply_sender(frame: bytes) -> tuple[str, str] | None:
    """(sender IP, sender MAC) of an ARP reply frame, else None."""
    if len(frame) < 42 or frame[12:14] != b"\x08\x06":
        return None
    if struct.unpack("!H", frame[20:22])[0] != 2:
        return None
    return str(ipaddress.IPv4Address(frame[28:32])), frame[22:28].hex(":")
