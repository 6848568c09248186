"""IPv6 services of the agent as pure functions: router advertisements, DHCPv6 answers, the
IPv6 port-security flows and the neighbour-discovery responder."""

from __future__ import annotations

import ipaddress
import struct

import pytest

from alcor.agent import dhcp6, flows, frames6, radv
from alcor.southbound.protocol import goalstate_pb2 as pb

VM_MAC = "fa:16:3e:00:00:0a"
ROUTER_MAC = "fa:16:3e:00:00:01"


def subnet(mode: str, sid: str = "s6", **kw: object) -> pb.SubnetState:
    base: dict[str, object] = dict(
        id=sid,
        network_id="n1",
        ip_version=6,
        cidr="fd00:1::/64",
        enable_dhcp=True,
        ipv6_ra_mode=mode,
        ipv6_address_mode=mode,
        dns_nameservers=["fd00:1::53", "10.0.0.53"],
    )
    base.update(kw)
    return pb.SubnetState(**base)  # type: ignore[arg-type]


def router(sid: str = "s6") -> dict[str, pb.RouterState]:
    iface = pb.RouterInterface(
        subnet_id=sid, network_id="n1", mac_address=ROUTER_MAC, ip_version=6, vni=100
    )
    return {"r1": pb.RouterState(id="r1", admin_state_up=True, interfaces=[iface])}


NETWORK = pb.NetworkState(id="n1", vni=100, mtu=1450, network_type="vxlan")


def _valid(frame: bytes) -> frames6.Packet6:
    """The frame parsed, after checking its L4 checksum over the IPv6 pseudo-header."""
    packet = frames6.parse(frame)
    assert packet is not None
    dst = frame[14 + 24 : 14 + 40]
    pseudo = (
        ipaddress.IPv6Address(packet.src).packed
        + dst
        + struct.pack("!IxxxB", len(packet.payload), packet.proto)
    )
    assert frames6.checksum(pseudo + packet.payload) == 0
    return packet


def _options(body: bytes, start: int) -> dict[int, bytes]:
    out: dict[int, bytes] = {}
    while start < len(body):
        kind, units = body[start], body[start + 1]
        out[kind] = body[start : start + units * 8]
        start += units * 8
    return out


@pytest.mark.parametrize(
    "mode, flags, autonomous",
    [("slaac", 0x00, True), ("dhcpv6-stateful", 0xC0, False), ("dhcpv6-stateless", 0x40, True)],
)
def test_an_advertisement_carries_the_modes_flags_prefix_mtu_and_dns(
    mode: str, flags: int, autonomous: bool
) -> None:
    frame = radv.advertisement(NETWORK, [subnet(mode)], router())
    assert frame is not None
    packet = _valid(frame)
    assert packet.src == flows.link_local(ROUTER_MAC) and packet.src_mac == ROUTER_MAC
    body = packet.payload
    assert body[0] == 134 and body[5] == flags
    assert struct.unpack_from("!H", body, 6)[0] == radv.ROUTER_LIFETIME
    opts = _options(body, 16)
    assert opts[1][2:8] == bytes.fromhex(ROUTER_MAC.replace(":", ""))
    assert struct.unpack_from("!I", opts[5], 4)[0] == 1450
    prefix = opts[3]
    assert prefix[2] == 64 and bool(prefix[3] & 0x40) == autonomous and prefix[3] & 0x80
    assert ipaddress.IPv6Address(prefix[16:32]) == ipaddress.IPv6Address("fd00:1::")
    assert opts[25][8:24] == ipaddress.IPv6Address("fd00:1::53").packed  # IPv4 DNS left out


def test_without_a_router_the_agent_advertises_addresses_but_no_default_route() -> None:
    frame = radv.advertisement(NETWORK, [subnet("slaac")], {})
    assert frame is not None
    packet = _valid(frame)
    assert packet.src_mac == flows.DHCP_MAC
    assert struct.unpack_from("!H", packet.payload, 6)[0] == 0


def test_subnets_without_an_ra_mode_are_not_advertised() -> None:
    stateful_only = subnet("", ipv6_address_mode="dhcpv6-stateful")
    v4 = pb.SubnetState(id="s4", network_id="n1", ip_version=4, cidr="10.0.0.0/24")
    other = subnet("slaac", sid="s7", network_id="n2")
    assert radv.by_network([stateful_only, v4, other]) == {"n2": [other]}
    assert radv.advertisement(NETWORK, [], {}) is None


def _client(msg_type: int, *options: bytes) -> frames6.Packet6:
    body = bytes([msg_type]) + b"\x12\x34\x56" + b"".join(options)
    datagram = frames6.udp(dhcp6.CLIENT_PORT, dhcp6.SERVER_PORT, body)
    frame = frames6.frame(VM_MAC, "33:33:00:01:00:02", "fe80::1", "ff02::1:2", 17, datagram)
    return _valid(frame)


def _opt(code: int, value: bytes) -> bytes:
    return struct.pack("!HH", code, len(value)) + value


CLIENT_ID = _opt(dhcp6.OPT_CLIENTID, b"\x00\x03\x00\x01" + bytes(6))
IA_NA = _opt(dhcp6.OPT_IA_NA, b"\x00\x00\x00\x07" + bytes(8))


def _port(mode: str) -> tuple[pb.PortState, dict[str, pb.SubnetState]]:
    port = pb.PortState(
        id="p1",
        network_id="n1",
        mac_address=VM_MAC,
        fixed_ips=[pb.FixedIp(subnet_id="s6", ip_address="fd00:1::a")],
    )
    return port, {"s6": subnet(mode, dns_domain="example.org.")}


def _answer(mode: str, message: frames6.Packet6) -> dhcp6.Message | None:
    port, subnets = _port(mode)
    config = dhcp6.config_for(port, subnets, router())
    assert config is not None
    frame = dhcp6.answer(message, config)
    if frame is None:
        return None
    packet = _valid(frame)
    assert packet.src == flows.link_local(ROUTER_MAC) and packet.src_mac == ROUTER_MAC
    reply = dhcp6.parse(packet.payload[:2] + struct.pack("!H", 547) + packet.payload[4:])
    assert reply is not None and reply.xid == b"\x12\x34\x56"
    return reply


def test_a_stateful_solicit_is_advertised_the_ports_address_and_dns() -> None:
    reply = _answer("dhcpv6-stateful", _client(dhcp6.SOLICIT, CLIENT_ID, IA_NA))
    assert reply is not None and reply.msg_type == dhcp6.ADVERTISE
    assert reply.options[dhcp6.OPT_CLIENTID] == CLIENT_ID[4:]
    ia = reply.options[dhcp6.OPT_IA_NA]
    assert ia[:4] == b"\x00\x00\x00\x07"
    assert ia[16:32] == ipaddress.IPv6Address("fd00:1::a").packed  # IAADDR inside IA_NA
    assert reply.options[dhcp6.OPT_DNS] == ipaddress.IPv6Address("fd00:1::53").packed
    assert reply.options[dhcp6.OPT_DOMAIN_LIST] == b"\x07example\x03org\x00"
    rapid = _answer(
        "dhcpv6-stateful",
        _client(dhcp6.SOLICIT, CLIENT_ID, IA_NA, _opt(dhcp6.OPT_RAPID_COMMIT, b"")),
    )
    assert rapid is not None and rapid.msg_type == dhcp6.REPLY


def test_a_stateless_server_leases_nothing_but_answers_information_requests() -> None:
    assert _answer("dhcpv6-stateless", _client(dhcp6.SOLICIT, CLIENT_ID, IA_NA)) is None
    reply = _answer("dhcpv6-stateless", _client(dhcp6.INFORMATION_REQUEST, CLIENT_ID))
    assert reply is not None and reply.msg_type == dhcp6.REPLY
    assert dhcp6.OPT_IA_NA not in reply.options and dhcp6.OPT_DNS in reply.options


def test_a_request_for_another_server_is_ignored() -> None:
    other = _opt(dhcp6.OPT_SERVERID, b"\x00\x03\x00\x01" + bytes(5) + b"\x09")
    assert _answer("dhcpv6-stateful", _client(dhcp6.REQUEST, CLIENT_ID, other, IA_NA)) is None
    reply = _answer("dhcpv6-stateful", _client(dhcp6.RENEW, CLIENT_ID, IA_NA))
    assert reply is not None and reply.msg_type == dhcp6.REPLY


def test_no_dhcpv6_on_slaac_only_or_ipv4_ports() -> None:
    port, subnets = _port("slaac")
    assert dhcp6.config_for(port, subnets, {}) is None


def test_ipv6_port_security_admits_own_addresses_and_drops_spoofed_advertisements() -> None:
    port = pb.PortState(
        id="p1",
        network_id="n1",
        mac_address=VM_MAC,
        admin_state_up=True,
        port_security_enabled=True,
        fixed_ips=[pb.FixedIp(ip_address="fd00:1::a")],
    )
    out = {f.match: f for f in flows.port_flows(port, 5, 100) if f.table == flows.PORT_SECURITY}
    lla = flows.link_local(VM_MAC)
    assert lla == "fe80::f816:3eff:fe00:a"
    for ip in ("fd00:1::a", lla):
        assert f"in_port=5,dl_src={VM_MAC},ipv6,ipv6_src={ip}" in out
        assert f"in_port=5,dl_src={VM_MAC},icmp6,icmp_type=136,nd_target={ip}" in out
    assert out["in_port=5,icmp6,icmp_type=136"].actions == "drop"  # any other target
    assert out["in_port=5,icmp6,icmp_type=134"].actions == "drop"  # no RA from a VM
    assert out[f"in_port=5,dl_src={VM_MAC},icmp6,icmp_type=133"].actions == "CONTROLLER:65535"
    assert out[f"in_port=5,dl_src={VM_MAC},udp6,tp_src=546,tp_dst=547"].priority == 200


def test_a_neighbour_is_answered_in_flows_and_dad_never_is() -> None:
    entry = pb.NeighborState(
        port_id="p9", mac_address=VM_MAC, fixed_ips=[pb.FixedIp(ip_address="fd00:1::9")]
    )
    (nd,) = flows.neighbor_flows(entry, 100, 7, remote=False)
    assert nd.match == "icmp6,icmp_type=135,tun_id=100,nd_target=fd00:1::9"
    assert nd.actions == f"set_field:{VM_MAC}->eth_src,goto_table:{flows.ND_REPLY}"
    static = {(f.table, f.match): f.actions for f in flows.static_flows()}
    dad = static[(flows.DISPATCH, "reg0=0/0x1,icmp6,icmp_type=135,ipv6_src=::")]
    assert dad == f"goto_table:{flows.L2_FORWARD}"
    assert "0x60000000->nd_reserved" in static[(flows.ND_REPLY, "icmp6,icmp_type=135")]
    assert "0xe0000000->nd_reserved" in static[(flows.ND_REPLY, "icmp6,icmp_type=135,reg2=0x1")]
