"""DHCPv4 answered by the agent itself, from the goal state (distributed DHCP, no dnsmasq).

Why here: every port's address, subnet and options already sit in the host's goal state, so
the host can answer its own VMs' DISCOVER/REQUEST through packet-in/packet-out in about a
millisecond, with no DHCP namespace, no DHCP port and nothing crossing a tunnel. Only the
os-ken packet library is used (parsing and building the frames); this module is pure.

Options sent: 53/54/51/58/59, 1 (mask), 3 (router), 6 (DNS), 15 (domain), 26 (MTU),
28 (broadcast), 12 (host name, from dns_name), 121 (classless static routes from host_routes,
plus the default route: RFC 3442 clients ignore option 3 when 121 is present), then the port's
`extra_dhcp_opts` (by Neutron/dnsmasq name or number), which override the defaults.
"""

from __future__ import annotations

import ipaddress
import struct
from typing import NamedTuple

from os_ken.lib import addrconv
from os_ken.lib.packet import dhcp, ether_types, ethernet, ipv4, packet, udp

from alcor.agent.flows import dhcp_server
from alcor.southbound.protocol import goalstate_pb2 as pb

LEASE_TIME = 86400
DHCP_NAK = 6  # os-ken names DISCOVER/OFFER/REQUEST/ACK only
DEFAULT_MTU = {"vxlan": 1450, "geneve": 1442}
OPTION_NAMES = {
    "netmask": 1,
    "router": 3,
    "dns-server": 6,
    "log-server": 7,
    "hostname": 12,
    "domain-name": 15,
    "ip-forward-enable": 19,
    "mtu": 26,
    "interface-mtu": 26,
    "broadcast": 28,
    "static-route": 33,
    "ntp-server": 42,
    "netbios-ns": 44,
    "lease-time": 51,
    "server-identifier": 54,
    "T1": 58,
    "T2": 59,
    "tftp-server": 66,
    "bootfile-name": 67,
    "domain-search": 119,
    "classless-static-route": 121,
}
IP_LIST_TAGS = {1, 3, 6, 7, 28, 42, 44, 54}
UINT16_TAGS = {26, 57}
UINT32_TAGS = {51, 58, 59}


class Lease(NamedTuple):
    """What one port gets, resolved from its goal state (testable without packets)."""

    ip: str
    prefixlen: int
    server_ip: str
    server_mac: str
    options: dict[int, bytes]


def _ip(addr: str) -> bytes:
    return bytes(addrconv.ipv4.text_to_bin(addr))


def _mask(prefixlen: int) -> str:
    return str(ipaddress.IPv4Network(f"0.0.0.0/{prefixlen}").netmask)


def classless_routes(routes: list[tuple[str, str]]) -> bytes:
    """RFC 3442 encoding: prefix length, significant destination octets, router."""
    out = b""
    for dest, nexthop in routes:
        net = ipaddress.IPv4Network(dest, strict=False)
        significant = (net.prefixlen + 7) // 8
        out += bytes([net.prefixlen]) + net.network_address.packed[:significant] + _ip(nexthop)
    return out


def encode_option(tag: int, value: str) -> bytes:
    """An extra_dhcp_opt value in the wire format its tag expects."""
    if tag in IP_LIST_TAGS:
        return b"".join(_ip(v.strip()) for v in value.split(",") if v.strip())
    if tag in UINT16_TAGS:
        return struct.pack("!H", int(value))
    if tag in UINT32_TAGS:
        return struct.pack("!I", int(value))
    if tag == 121:
        pairs = [p.strip() for p in value.split(",") if p.strip()]
        return classless_routes([(pairs[i], pairs[i + 1]) for i in range(0, len(pairs) - 1, 2)])
    return value.encode()


def option_tag(name: str) -> int | None:
    name = name.strip().removeprefix("option:")
    if name.isdecimal():
        return int(name)
    return OPTION_NAMES.get(name)


def lease_for(
    port: pb.PortState, network: pb.NetworkState, subnets: dict[str, pb.SubnetState]
) -> Lease | None:
    """The IPv4 lease of `port`, or None when it has no address in a DHCP-enabled subnet."""
    for fixed in port.fixed_ips:
        subnet = subnets.get(fixed.subnet_id)
        if subnet is None or subnet.ip_version != 4 or not subnet.enable_dhcp:
            continue
        net = ipaddress.IPv4Network(subnet.cidr, strict=False)
        server_ip, server_mac = dhcp_server(subnet)
        mtu = network.mtu or DEFAULT_MTU.get(network.network_type, 1450)
        opts: dict[int, bytes] = {
            51: struct.pack("!I", LEASE_TIME),
            58: struct.pack("!I", LEASE_TIME // 2),
            59: struct.pack("!I", LEASE_TIME * 7 // 8),
            1: _ip(_mask(net.prefixlen)),
            28: _ip(str(net.broadcast_address)),
            26: struct.pack("!H", mtu),
        }
        routes = [(r.destination, r.nexthop) for r in subnet.host_routes]
        if subnet.gateway_ip:
            opts[3] = _ip(subnet.gateway_ip)
            if routes:
                routes.append(("0.0.0.0/0", subnet.gateway_ip))
        if routes:
            opts[121] = classless_routes(routes)
        if subnet.dns_nameservers:
            opts[6] = b"".join(_ip(d) for d in subnet.dns_nameservers)
        if subnet.dns_domain:
            opts[15] = subnet.dns_domain.encode()
        host = port.dns_name or "host-" + fixed.ip_address.replace(".", "-")
        opts[12] = host.encode()
        for extra in port.extra_dhcp_opts:
            tag = option_tag(extra.opt_name)
            if tag is not None and extra.ip_version in (0, 4) and 0 < tag < 255:
                opts[tag] = encode_option(tag, extra.opt_value)
        return Lease(fixed.ip_address, net.prefixlen, server_ip, server_mac, opts)
    return None


def _message_type(req: dhcp.dhcp) -> int | None:
    for opt in req.options.option_list:
        if opt.tag == dhcp.DHCP_MESSAGE_TYPE_OPT:
            return int(opt.value[0])
    return None


def _requested_ip(req: dhcp.dhcp) -> str | None:
    for opt in req.options.option_list:
        if opt.tag == dhcp.DHCP_REQUESTED_IP_ADDR_OPT and len(opt.value) == 4:
            return str(ipaddress.IPv4Address(opt.value))
    return None


def parse_request(frame: bytes) -> dhcp.dhcp | None:
    pkt = packet.Packet(frame)
    req = pkt.get_protocol(dhcp.dhcp)
    if req is None or req.op != dhcp.DHCP_BOOT_REQUEST:
        return None
    return req


def build_reply(frame: bytes, port_mac: str, lease: Lease) -> bytes | None:
    """The OFFER/ACK/NAK frame answering the client frame `frame`, or None to stay silent."""
    req = parse_request(frame)
    if req is None or req.chaddr.lower() != port_mac.lower():
        return None
    mtype = _message_type(req)
    if mtype == dhcp.DHCP_DISCOVER:
        rtype = dhcp.DHCP_OFFER
    elif mtype == dhcp.DHCP_REQUEST:
        wanted = _requested_ip(req) or (req.ciaddr if req.ciaddr != "0.0.0.0" else None)
        rtype = dhcp.DHCP_ACK if wanted in (None, lease.ip) else DHCP_NAK
    else:
        return None
    opts = [
        dhcp.option(tag=dhcp.DHCP_MESSAGE_TYPE_OPT, value=bytes([rtype])),
        dhcp.option(tag=dhcp.DHCP_SERVER_IDENTIFIER_OPT, value=_ip(lease.server_ip)),
    ]
    if rtype != DHCP_NAK:
        opts += [dhcp.option(tag=t, value=v) for t, v in sorted(lease.options.items()) if t != 54]
    yiaddr = lease.ip if rtype != DHCP_NAK else "0.0.0.0"
    reply = dhcp.dhcp(
        op=dhcp.DHCP_BOOT_REPLY,
        chaddr=req.chaddr,
        hlen=6,
        xid=req.xid,
        flags=req.flags,
        ciaddr=req.ciaddr,
        yiaddr=yiaddr,
        siaddr=lease.server_ip,
        options=dhcp.options(option_list=opts),
    )
    if req.ciaddr != "0.0.0.0" and rtype != DHCP_NAK:
        dst_mac, dst_ip = req.chaddr, req.ciaddr
    elif req.flags & 0x8000 or rtype == DHCP_NAK:
        dst_mac, dst_ip = "ff:ff:ff:ff:ff:ff", "255.255.255.255"
    else:
        dst_mac, dst_ip = req.chaddr, lease.ip
    out = packet.Packet()
    out.add_protocol(
        ethernet.ethernet(dst=dst_mac, src=lease.server_mac, ethertype=ether_types.ETH_TYPE_IP)
    )
    out.add_protocol(ipv4.ipv4(src=lease.server_ip, dst=dst_ip, proto=17, ttl=64))
    out.add_protocol(udp.udp(src_port=67, dst_port=68))
    out.add_protocol(reply)
    out.serialize()
    return bytes(out.data)
