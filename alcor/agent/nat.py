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


def who_has(fip: pb.FloatingIpState, target_ip: str) -> bytes:
    """The floating IP asking the segment for `target_ip` (its external gateway)."""
    return arp_frame(1, fip.mac_address, fip.floating_ip_address, BROADCAST_MAC, target_ip)


def gratuitous(fip: pb.FloatingIpState) -> bytes:
    """The floating IP announcing where it is now (the segment's switches and neighbours
    update at once when it moves to another host)."""
    f = fip.floating_ip_address
    return arp_frame(1, fip.mac_address, f, BROADCAST_MAC, f)


def arp_reply_sender(frame: bytes) -> tuple[str, str] | None:
    """(sender IP, sender MAC) of an ARP reply frame, else None."""
    if len(frame) < 42 or frame[12:14] != b"\x08\x06":
        return None
    if struct.unpack("!H", frame[20:22])[0] != 2:
        return None
    return str(ipaddress.IPv4Address(frame[28:32])), frame[22:28].hex(":")
