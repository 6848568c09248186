"""Port forwarding of floating IPs, on the SNAT host of their router.

Why there (as Neutron's DVR centralises port forwarding on its SNAT node, and OVN on the
gateway chassis): the forwardings of one floating IP may lead to ports on several hosts, so
its address must be answered and translated in one place, and the router's SNAT host already
answers on the external segment for the router, follows all its networks and moves to another
host when it dies (`alcor.southbound.gateways`): a forwarding moves with it (the new host
programs it from the same router state; connections through the dead host are lost, as SNAT's).

Flows of one forwarding F:e1-e2 -> X:i1-i2 (protocol P) of router R (number N, SNAT zone Z,
ct_mark M = the floating IP's number), on the SNAT host with physical bridge patch port PP:

* CLASSIFY, from PP: ARP for F answered with F's MAC; ARP replies to F -> the agent (the next
  hop's MAC); IPv4 to F -> conntrack (Z, nat) -> NAT.
* NAT: a new connection to F on P, destination port in e1-e2 -> committed with ct_mark M and
  dst := X (the port kept when the ranges are equal, i1 for a 1-N forwarding, i1 + offset
  port by port for an N-N one with another offset), then recirculated into ROUTING as R
  (conntrack's translation is visible only after a recirculation); established or related
  ones (mark M) -> ROUTING as R. The router routes to X like any packet: into X's network,
  through the tunnel to X's host, through X's ingress ACL and security groups there.
* Replies: every host routing R sends what X sends from i1-i2 and R has no route for
  (ROUTING, with the floating IPs' egress, below every route) to the SNAT host through the
  tunnel, still in X's network to R's MAC (CLASSIFY there: -> R, conntrack); the SNAT host
  de-NATs them (src := F:e) and sends them out PP from F's MAC to the next hop's MAC.

Addresses other than F, ports outside e1-e2 and other protocols find no flow in NAT: dropped.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator

from alcor.agent import flows, nat, routing
from alcor.agent.flows import Flow
from alcor.southbound.protocol import goalstate_pb2 as pb

PRIO_TUNNEL_IN = nat.PRIO_FIP + 1  # above the SNAT's "from the tunnel to R's MAC"


def port_masks(lo: int, hi: int) -> list[str]:
    """The range lo-hi as the fewest value/mask matches of a 16-bit port field."""
    out: list[str] = []
    while lo <= hi:
        size = lo & -lo if lo else 1 << 16
        while size > hi - lo + 1:
            size >>= 1
        out.append(f"{lo:#x}/{0xFFFF & ~(size - 1):#x}")
        lo += size
    return out


def _translations(pf: pb.PortForwardingState) -> Iterator[tuple[str, str]]:
    """(external port match, nat target) pairs of one forwarding."""
    x, width = pf.internal_ip_address, pf.external_port_max - pf.external_port_min
    same = (pf.internal_port_min, pf.internal_port_max) == (
        pf.external_port_min,
        pf.external_port_max,
    )
    if same or pf.internal_port_min == pf.internal_port_max:
        target = x if same else f"{x}:{pf.internal_port_min}"
        for mask in port_masks(pf.external_port_min, pf.external_port_max):
            yield mask, target
        return
    for i in range(width + 1):
        yield f"{pf.external_port_min + i}", f"{x}:{pf.internal_port_min + i}"


def _interface(router: pb.RouterState, address: str) -> pb.RouterInterface | None:
    ip = ipaddress.ip_address(address)
    return next(
        (i for i in router.interfaces if i.vni and ip in ipaddress.ip_network(i.cidr)), None
    )


def forwarding_flows(
    router: pb.RouterState,
    number: int,
    here: str,
    tunnel_ofport: int,
    where: nat.SnatHost | None,
) -> list[Flow]:
    """Every flow of the router's port forwardings on this host (`here`): the replies sent to
    the SNAT host, or on that host (`where`) the translation itself."""
    gw = router.gateway
    if not router.admin_state_up or not router.port_forwardings or not gw.snat_host:
        return []
    local = gw.snat_host == here
    if not local and not gw.snat_tunnel_ip:
        return []
    if local and where is None:
        return []
    zone = nat.snat_zone(number)
    into_nat = f"ct(zone={zone},nat,table={flows.NAT})"
    to_snat = f"set_field:{gw.snat_tunnel_ip}->tun_dst,output:{tunnel_ofport}"
    out: list[Flow] = []
    for pf in router.port_forwardings:
        proto, x = pf.protocol, pf.internal_ip_address
        for mask in port_masks(pf.internal_port_min, pf.internal_port_max):
            reply = f"{proto},reg5={number:#x},nw_src={x},tp_src={mask}"
            out.append(Flow(flows.ROUTING, nat.PRIO_EGRESS, reply, into_nat if local else to_snat))
        if local and where is not None:
            out.extend(_translation_flows(router, pf, number, tunnel_ofport, where))
    return flows.dedupe(out)


def _translation_flows(
    router: pb.RouterState,
    pf: pb.PortForwardingState,
    number: int,
    tunnel_ofport: int,
    where: nat.SnatHost,
) -> list[Flow]:
    """The SNAT host's flows of one forwarding (see the module docstring)."""
    f, fm, pp = pf.floating_ip_address, pf.mac_address.lower(), where.bridge.patch_ofport
    mark, zone = nat.fip_number(pf.floatingip_id), nat.snat_zone(number)
    into_nat = f"ct(zone={zone},nat,table={flows.NAT})"
    route = f"load:{number:#x}->NXM_NX_REG5[],load:{routing.ALL_SCOPES:#x}->NXM_NX_REG3[]"
    out = [
        Flow(
            flows.CLASSIFY,
            nat.PRIO_FIP,
            f"in_port={pp},arp,arp_op=1,arp_tpa={f}",
            f"set_field:{fm}->arp_tha,goto_table:{flows.ARP_REPLY}",
        ),
        Flow(
            flows.CLASSIFY,
            nat.PRIO_FIP,
            f"in_port={pp},arp,arp_op=2,arp_tpa={f}",
            "CONTROLLER:65535",
        ),
        Flow(flows.CLASSIFY, nat.PRIO_FIP, f"in_port={pp},ip,dl_dst={fm},nw_dst={f}", into_nat),
    ]
    for ports, target in _translations(pf):
        out.append(
            Flow(
                flows.NAT,
                nat.PRIO_NEW,
                f"in_port={pp},ct_state=+new+trk,{pf.protocol},nw_dst={f},tp_dst={ports}",
                f"{route},ct(commit,zone={zone},exec(set_field:{mark:#x}->ct_mark),"
                f"nat(dst={target}),table={flows.ROUTING})",
            )
        )
    iface = _interface(router, pf.internal_ip_address)
    if iface is not None:
        for mask in port_masks(pf.internal_port_min, pf.internal_port_max):
            out.append(
                Flow(
                    flows.CLASSIFY,
                    PRIO_TUNNEL_IN,
                    f"in_port={tunnel_ofport},tun_id={iface.vni},{pf.protocol},"
                    f"dl_dst={iface.mac_address.lower()},nw_src={pf.internal_ip_address},"
                    f"tp_src={mask}",
                    f"load:{number:#x}->NXM_NX_REG5[],{into_nat}",
                )
            )
    for state in ("+est", "+rel"):
        match = f"ct_state={state}+trk,ct_mark={mark:#x},ip"
        out.append(
            Flow(
                flows.NAT,
                nat.PRIO_EST,
                f"in_port={pp},{match}",
                f"{route},resubmit(,{flows.ROUTING})",
            )
        )
        if where.next_hop_mac:
            outward = (
                f"set_field:{where.bridge.key}->tun_id,set_field:{fm}->eth_src,"
                f"set_field:{where.next_hop_mac}->eth_dst,dec_ttl,output:{pp}"
            )
            out.append(Flow(flows.NAT, nat.PRIO_EST, f"reg5={number:#x},{match}", outward))
    return out


def addresses(router: pb.RouterState, here: str) -> list[tuple[str, str, str]]:
    """(key, MAC, address) of the floating IPs this host forwards for the router (its SNAT
    host): announced on arrival, and asking for the next hop's MAC."""
    if router.gateway.snat_host != here or not router.admin_state_up:
        return []
    found = {pf.floatingip_id: pf for pf in router.port_forwardings}
    return [(f"pf:{k}", pf.mac_address, pf.floating_ip_address) for k, pf in sorted(found.items())]
