"""Router advertisements sent by the agent itself (no radvd), from the goal state.

Why here: as for DHCPv4, everything an RA says (prefixes, their modes, MTU, DNS, whether a
router serves the subnet) is in the host's goal state, so the host answers its own VMs'
router solicitations by packet-in and announces unsolicited RAs to them (when a port is
first programmed: three a second apart, then every 100 s), with nothing crossing a tunnel.

What is advertised, per network, for its IPv6 subnets with an `ipv6_ra_mode` (Neutron sends
RAs only for those; a subnet with only `ipv6_address_mode` expects an outside router):
* flags: M for `dhcpv6-stateful`, O for it and `dhcpv6-stateless`; per prefix L, and A
  (autonomous: SLAAC) for `slaac` and `dhcpv6-stateless`;
* the router: when a router interface is on the subnet, its link-local address (from its MAC)
  is the source and the default router (lifetime 1800 s); otherwise the agent's service MAC
  is the source and the router lifetime is 0 (addresses, no default route);
* MTU (option 5) and the subnets' IPv6 DNS servers (RDNSS, option 25).
"""

from __future__ import annotations

import ipaddress
import struct
from collections.abc import Iterable, Mapping

from alcor.agent import flows, frames6, routing
from alcor.southbound.protocol import goalstate_pb2 as pb

ROUTER_LIFETIME = 1800
VALID_LIFETIME = 86400
PREFERRED_LIFETIME = 14400
DNS_LIFETIME = 1800
# How often each VM hears an unsolicited RA (radvd's default MaxRtrAdvInterval is 600 s;
# Neutron's radvd uses 100), after an initial burst of INITIAL a second apart (radvd sends
# its first three faster too). A VM that solicits is answered at once.
INTERVAL = 100.0
INITIAL = 3
INITIAL_GAP = 1.0
SLAAC = "slaac"
STATEFUL = "dhcpv6-stateful"
STATELESS = "dhcpv6-stateless"
DEFAULT_MTU = {"vxlan": 1450, "geneve": 1442}
_M, _O = 0x80, 0x40
_L, _A = 0x80, 0x40


def by_network(subnets: Iterable[pb.SubnetState]) -> dict[str, list[pb.SubnetState]]:
    """network id -> its subnets whose prefixes RAs carry (one pass over the host's subnets,
    so that a round costs nothing on hosts without them)."""
    out: dict[str, list[pb.SubnetState]] = {}
    for s in subnets:
        if s.ip_version == 6 and s.ipv6_ra_mode and s.cidr:
            out.setdefault(s.network_id, []).append(s)
    return out


def advertisement(
    network: pb.NetworkState,
    prefixes: list[pb.SubnetState],
    routers: Mapping[str, pb.RouterState],
    dst_mac: str = "33:33:00:00:00:01",
    dst: str = frames6.ALL_NODES,
) -> bytes | None:
    """The RA frame for `network` carrying `prefixes` (its advertised subnets, `by_network`)
    to all nodes unless told otherwise, or None when there are none."""
    if not prefixes:
        return None
    iface = next(
        (i for s in prefixes if (i := routing.interface_on(routers, s.id)) is not None), None
    )
    src_mac = iface.mac_address.lower() if iface is not None else flows.DHCP_MAC
    modes = {s.ipv6_ra_mode for s in prefixes}
    flags = (_M if STATEFUL in modes else 0) | (_O if modes & {STATEFUL, STATELESS} else 0)
    lifetime = ROUTER_LIFETIME if iface is not None else 0
    # type, code, checksum (filled in by `frames6.frame`), hop limit, flags, router lifetime,
    # reachable time, retransmission timer
    body = struct.pack("!BBHBBHII", 134, 0, 0, 64, flags, lifetime, 0, 0)
    body += struct.pack("!BB6s", 1, 1, bytes.fromhex(src_mac.replace(":", "")))
    mtu = network.mtu or DEFAULT_MTU.get(network.network_type, 1500)
    body += struct.pack("!BBHI", 5, 1, 0, mtu)
    for s in prefixes:
        net = ipaddress.IPv6Network(s.cidr, strict=False)
        pflags = _L | (_A if s.ipv6_ra_mode in (SLAAC, STATELESS) else 0)
        body += struct.pack(
            "!BBBBIII16s",
            3,
            4,
            net.prefixlen,
            pflags,
            VALID_LIFETIME,
            PREFERRED_LIFETIME,
            0,
            net.network_address.packed,
        )
    dns = list(dict.fromkeys(d for s in prefixes for d in s.dns_nameservers if ":" in d))
    if dns:
        body += struct.pack("!BBHI", 25, 1 + 2 * len(dns), 0, DNS_LIFETIME)
        body += b"".join(ipaddress.IPv6Address(d).packed for d in dns)
    src = flows.link_local(src_mac)
    return frames6.frame(src_mac, dst_mac, src, dst, frames6.PROTO_ICMPV6, body)


def is_solicitation(packet: frames6.Packet6) -> bool:
    return packet.proto == frames6.PROTO_ICMPV6 and packet.payload[:1] == b"\x85"
