"""DHCPv6 answered by the agent itself, from the goal state (like DHCPv4: no dnsmasq).

Stateful subnets (`ipv6_address_mode: dhcpv6-stateful`) lease the port's own address on
them (IA_NA); stateless ones (`dhcpv6-stateless`, whose addresses come from SLAAC) answer only
information requests. Both carry the subnets' IPv6 DNS servers (option 23) and the network's
DNS domain (option 24). Leases are the port's fixed IPs, so a renew never changes anything and
there is nothing to remember between messages.

Messages answered: SOLICIT (ADVERTISE, or REPLY with Rapid Commit when asked), REQUEST,
RENEW, REBIND, CONFIRM, INFORMATION-REQUEST, RELEASE and DECLINE (REPLY). A message naming
another server (option 2) is ignored, as RFC 8415 says.
"""

from __future__ import annotations

import ipaddress
import struct
from collections.abc import Mapping
from typing import NamedTuple

from alcor.agent import flows, frames6, routing
from alcor.southbound.protocol import goalstate_pb2 as pb

SOLICIT, ADVERTISE, REQUEST, CONFIRM, RENEW, REBIND, REPLY, RELEASE, DECLINE = range(1, 10)
INFORMATION_REQUEST = 11
OPT_CLIENTID = 1
OPT_SERVERID = 2
OPT_IA_NA = 3
OPT_IAADDR = 5
OPT_STATUS = 13
OPT_RAPID_COMMIT = 14
OPT_DNS = 23
OPT_DOMAIN_LIST = 24
CLIENT_PORT = 546
SERVER_PORT = 547
LEASE_TIME = 86400
STATEFUL = "dhcpv6-stateful"
STATELESS = "dhcpv6-stateless"
_ADDRESSED = (REQUEST, RENEW, REBIND)
_ACKNOWLEDGED = (CONFIRM, RELEASE, DECLINE)


class Config(NamedTuple):
    """What DHCPv6 tells one port (testable without packets)."""

    addresses: list[str]  # leased on stateful subnets
    dns: list[str]
    domain: str
    server_mac: str


class Message(NamedTuple):
    msg_type: int
    xid: bytes
    options: dict[int, bytes]  # the first occurrence of each option
    iaids: list[bytes]  # the IA_NA identifiers asked for, in order


def config_for(
    port: pb.PortState, subnets: Mapping[str, pb.SubnetState], routers: Mapping[str, pb.RouterState]
) -> Config | None:
    """The port's DHCPv6 configuration, or None when none of its subnets serves DHCPv6."""
    served = [
        s
        for f in port.fixed_ips
        if (s := subnets.get(f.subnet_id)) is not None
        and s.ip_version == 6
        and s.enable_dhcp
        and s.ipv6_address_mode in (STATEFUL, STATELESS)
    ]
    if not served:
        return None
    addresses = [
        f.ip_address
        for f in port.fixed_ips
        if (s := subnets.get(f.subnet_id)) is not None and s.ipv6_address_mode == STATEFUL
    ]
    dns = list(dict.fromkeys(d for s in served for d in s.dns_nameservers if ":" in d))
    domain = next((s.dns_domain for s in served if s.dns_domain), "")
    iface = next((i for s in served if (i := routing.interface_on(routers, s.id))), None)
    mac = iface.mac_address.lower() if iface is not None else flows.DHCP_MAC
    return Config(addresses, dns, domain, mac)


def parse(payload: bytes) -> Message | None:
    """A client message from a UDP datagram to port 547, else None."""
    if len(payload) < 12 or struct.unpack_from("!H", payload, 2)[0] != SERVER_PORT:
        return None
    data = payload[8:]
    options: dict[int, bytes] = {}
    iaids: list[bytes] = []
    at = 4
    while at + 4 <= len(data):
        code, length = struct.unpack_from("!HH", data, at)
        value = data[at + 4 : at + 4 + length]
        if len(value) != length:
            return None
        options.setdefault(code, value)
        if code == OPT_IA_NA and length >= 12:
            iaids.append(value[:4])
        at += 4 + length
    return Message(data[0], data[1:4], options, iaids)


def _opt(code: int, value: bytes) -> bytes:
    return struct.pack("!HH", code, len(value)) + value


def _duid(mac: str) -> bytes:
    """DUID-LL (type 3) of the server MAC, hardware type Ethernet."""
    return struct.pack("!HH", 3, 1) + bytes.fromhex(mac.replace(":", ""))


def _domain(name: str) -> bytes:
    labels = [label for label in name.strip(".").split(".") if label]
    return b"".join(bytes([len(label)]) + label.encode() for label in labels) + b"\0"


def _ia_na(iaid: bytes, addresses: list[str]) -> bytes:
    leases = b"".join(
        _opt(
            OPT_IAADDR,
            ipaddress.IPv6Address(a).packed + struct.pack("!II", LEASE_TIME, LEASE_TIME),
        )
        for a in addresses
    )
    return _opt(OPT_IA_NA, iaid + struct.pack("!II", LEASE_TIME // 2, LEASE_TIME * 4 // 5) + leases)


def reply_type(message: Message, config: Config) -> int | None:
    """What answers `message` (ADVERTISE or REPLY), or None to stay silent."""
    server = message.options.get(OPT_SERVERID)
    if server is not None and server != _duid(config.server_mac):
        return None
    if message.msg_type == SOLICIT:
        if not config.addresses or not message.iaids:
            return None  # a stateless server leases nothing
        return REPLY if OPT_RAPID_COMMIT in message.options else ADVERTISE
    if message.msg_type in _ADDRESSED:
        return REPLY if config.addresses and message.iaids else None
    if message.msg_type in (*_ACKNOWLEDGED, INFORMATION_REQUEST):
        return REPLY
    return None


def answer(packet: frames6.Packet6, config: Config) -> bytes | None:
    """The frame answering a client's DHCPv6 message, or None."""
    if packet.proto != frames6.PROTO_UDP:
        return None
    message = parse(packet.payload)
    if message is None:
        return None
    rtype = reply_type(message, config)
    if rtype is None:
        return None
    body = bytes([rtype]) + message.xid + _opt(OPT_SERVERID, _duid(config.server_mac))
    if OPT_CLIENTID in message.options:
        body += _opt(OPT_CLIENTID, message.options[OPT_CLIENTID])
    if message.msg_type == SOLICIT and rtype == REPLY:
        body += _opt(OPT_RAPID_COMMIT, b"")
    if message.msg_type in (SOLICIT, *_ADDRESSED):
        body += b"".join(_ia_na(iaid, config.addresses) for iaid in message.iaids)
    elif message.msg_type in _ACKNOWLEDGED:
        body += _opt(OPT_STATUS, struct.pack("!H", 0) + b"success")
    if message.msg_type not in (RELEASE, DECLINE):
        if config.dns:
            body += _opt(OPT_DNS, b"".join(ipaddress.IPv6Address(d).packed for d in config.dns))
        if config.domain:
            body += _opt(OPT_DOMAIN_LIST, _domain(config.domain))
    return frames6.frame(
        config.server_mac,
        packet.src_mac,
        flows.link_local(config.server_mac),
        packet.src,
        frames6.PROTO_UDP,
        frames6.udp(SERVER_PORT, CLIENT_PORT, body),
        hop=64,
    )
