"""The agent's pipeline, model and DHCP as pure functions (no OVS, no NATS)."""

from __future__ import annotations

import socket
import struct

from os_ken.lib.packet import dhcp, ethernet, ipv4, packet, udp

from alcor.agent import dhcp as agent_dhcp
from alcor.agent import flows
from alcor.agent.model import HostModel
from alcor.agent.reconciler import Reconciler
from alcor.southbound.protocol import goalstate_pb2 as pb

MAC = "fa:16:3e:00:00:0a"


def port(**kw: object) -> pb.PortState:
    base = dict(
        id="p1",
        revision=1,
        network_id="n1",
        mac_address=MAC,
        admin_state_up=True,
        port_security_enabled=True,
        host_id="h1",
        fixed_ips=[pb.FixedIp(subnet_id="s1", ip_address="10.0.0.10")],
    )
    base.update(kw)
    return pb.PortState(**base)  # type: ignore[arg-type]


NET = pb.NetworkState(id="n1", revision=1, vni=100, mtu=1450, network_type="vxlan")
SUBNET = pb.SubnetState(
    id="s1",
    revision=1,
    network_id="n1",
    ip_version=4,
    cidr="10.0.0.0/24",
    gateway_ip="10.0.0.1",
    enable_dhcp=True,
    dns_nameservers=["10.0.0.53"],
    host_routes=[pb.HostRoute(destination="10.9.0.0/16", nexthop="10.0.0.254")],
)


def test_cookies_are_stable_and_carry_the_owner_kind() -> None:
    a = flows.cookie(flows.KIND_PORT, "p1")
    assert a == flows.cookie(flows.KIND_PORT, "p1") != flows.cookie(flows.KIND_NEIGHBOR, "p1")
    assert flows.cookie_kind(a) == flows.KIND_PORT


def test_port_security_allows_only_own_mac_ip_pairs_and_dhcp() -> None:
    fl = flows.port_flows(
        port(allowed_address_pairs=[pb.AddressPair(ip_address="10.0.0.100")]), 5, 100
    )
    matches = {f.match for f in fl if f.table == flows.PORT_SECURITY}
    assert f"in_port=5,dl_src={MAC},ip,nw_src=10.0.0.10" in matches
    assert f"in_port=5,dl_src={MAC},ip,nw_src=10.0.0.100" in matches
    assert f"in_port=5,dl_src={MAC},arp,arp_sha={MAC},arp_spa=10.0.0.10" in matches
    assert f"in_port=5,dl_src={MAC},udp,tp_src=68,tp_dst=67" in matches
    assert "in_port=5" not in matches  # nothing unconditional
    open_port = flows.port_flows(port(port_security_enabled=False), 5, 100)
    assert "in_port=5" in {f.match for f in open_port if f.table == flows.PORT_SECURITY}


def test_admin_down_port_gets_no_flows() -> None:
    assert flows.port_flows(port(admin_state_up=False), 5, 100) == []


def test_neighbor_flows_arp_everywhere_tunnel_only_when_remote() -> None:
    n = pb.NeighborState(
        port_id="p9",
        network_id="n1",
        mac_address="FA:16:3E:00:00:09",
        host_id="h2",
        tunnel_ip="198.18.0.2",
        fixed_ips=[pb.FixedIp(ip_address="10.0.0.9")],
    )
    remote = flows.neighbor_flows(n, 100, 7, remote=True)
    assert any(f.table == flows.ARP_RESPONDER and "arp_tpa=10.0.0.9" in f.match for f in remote)
    l2 = [f for f in remote if f.table == flows.L2_FORWARD]
    assert l2 and l2[0].actions == "set_field:198.18.0.2->tun_dst,output:7"
    assert "dl_dst=fa:16:3e:00:00:09" in l2[0].match and flows.FROM_LOCAL in l2[0].match
    assert not [f for f in flows.neighbor_flows(n, 100, 7, remote=False) if f.table == 50]


def test_flood_list_is_explicit_and_never_reflects_tunnel_traffic() -> None:
    fl = flows.network_flows(NET, [SUBNET], [3, 4], ["198.18.0.3", "198.18.0.2"], 7)
    floods = {f.match: f.actions for f in fl if f.priority == flows.PRIO_FLOOD}
    from_local = floods[f"{flows.FROM_LOCAL},tun_id=100,{flows.BROADCAST}"]
    from_tunnel = floods[f"{flows.FROM_TUNNEL},tun_id=100,{flows.BROADCAST}"]
    assert from_local.count("output:7") == 2 and "resubmit(,55)" in from_local
    assert "output:7" not in from_tunnel
    assert any("arp_tpa=10.0.0.1" in f.match for f in fl)  # gateway answered by ARP


def test_model_marks_only_the_touched_owners() -> None:
    m = HostModel("h1")
    m.tunnel_ofport = 7
    m.replace_host_state(
        pb.HostGoalState(host_id="h1", seq=1, ports=[port()], networks=[NET], subnets=[SUBNET]), 0
    )
    m.replace_table(pb.NeighborTable(network_id="n1", seq=1))
    delta = pb.NeighborDelta(
        network_id="n1",
        seq=2,
        prev_seq=1,
        neighbors=[
            pb.NeighborState(
                port_id="p9",
                network_id="n1",
                mac_address="fa:16:3e:00:00:09",
                host_id="h2",
                tunnel_ip="198.18.0.2",
                fixed_ips=[pb.FixedIp(ip_address="10.0.0.9")],
            )
        ],
    )
    assert m.apply_neighbor_delta(delta) == {("neigh", "n1", "p9"), ("net", "n1")}
    # its SG and ACL flows too
    assert m.set_vif("p1", 5) == {("port", "p1"), ("net", "n1"), ("sg",), ("acl",)}
    stale = pb.NeighborState(port_id="p9", revision=0, op=pb.DELETE)
    stale.revision = 0
    m.tables["n1"].entries["p9"].revision = 3
    assert not m.tables["n1"].apply(stale)  # older revision never goes backwards
    assert m.port_state("p1")[0] == pb.SUCCESS


def test_reconciler_diff_adds_and_strict_deletes_by_owner() -> None:
    rec = Reconciler(ofctl=None)  # type: ignore[arg-type]
    a = flows.Flow(50, 100, "tun_id=1,dl_dst=aa:aa:aa:aa:aa:aa", "output:1")
    b = flows.Flow(50, 100, "tun_id=1,dl_dst=bb:bb:bb:bb:bb:bb", "output:2")
    rec._commit({1: [a, b]})
    assert rec.diff({1: [a, b]}) == []
    lines = rec.diff({1: [a._replace(actions="output:3")]})
    assert lines == [
        "delete_strict table=50,priority=100,tun_id=1,dl_dst=bb:bb:bb:bb:bb:bb",
        "add " + a._replace(actions="output:3").text(1),
    ]


def _discover(chaddr: str, mtype: int = dhcp.DHCP_DISCOVER) -> bytes:
    req = dhcp.dhcp(
        op=dhcp.DHCP_BOOT_REQUEST,
        chaddr=chaddr,
        xid=42,
        options=dhcp.options(
            option_list=[dhcp.option(tag=dhcp.DHCP_MESSAGE_TYPE_OPT, value=bytes([mtype]))]
        ),
    )
    pkt = packet.Packet()
    pkt.add_protocol(ethernet.ethernet(dst="ff:ff:ff:ff:ff:ff", src=chaddr))
    pkt.add_protocol(ipv4.ipv4(src="0.0.0.0", dst="255.255.255.255", proto=17))
    pkt.add_protocol(udp.udp(src_port=68, dst_port=67))
    pkt.add_protocol(req)
    pkt.serialize()
    return bytes(pkt.data)


def test_dhcp_offer_carries_lease_options_and_extra_opts() -> None:
    p = port(extra_dhcp_opts=[pb.DhcpOption(opt_name="ntp-server", opt_value="10.0.0.123")])
    lease = agent_dhcp.lease_for(p, NET, {"s1": SUBNET})
    assert lease is not None and lease.server_ip == "10.0.0.1"
    frame = agent_dhcp.build_reply(_discover(MAC), MAC, lease)
    assert frame is not None
    reply = packet.Packet(frame).get_protocol(dhcp.dhcp)
    opts = {o.tag: o.value for o in reply.options.option_list}
    assert reply.yiaddr == "10.0.0.10" and opts[53] == bytes([dhcp.DHCP_OFFER])
    assert opts[26] == struct.pack("!H", 1450) and opts[3] == bytes([10, 0, 0, 1])
    assert opts[121] == bytes([16, 10, 9, 10, 0, 0, 254, 0, 10, 0, 0, 1])
    assert opts[42] == bytes([10, 0, 0, 123]) and opts[6] == bytes([10, 0, 0, 53])
    assert agent_dhcp.build_reply(_discover("fa:16:3e:99:99:99"), MAC, lease) is None


def test_arp_answers_for_a_pair_address_only_while_one_port_claims_it() -> None:
    """A VIP that one port holds as an allowed address pair is answered by the responder; a
    VRRP address claimed by two ports is not (its ARP floods to whichever holds it now)."""

    def entry(pid: str, mac: str, revision: int = 1) -> pb.NeighborState:
        return pb.NeighborState(
            port_id=pid,
            revision=revision,
            network_id="n1",
            mac_address=mac,
            host_id="h2",
            tunnel_ip="198.18.0.2",
            fixed_ips=[pb.FixedIp(ip_address=f"10.0.0.{mac[-1]}")],
            allowed_address_pairs=[pb.AddressPair(ip_address="10.0.0.100")],
        )

    m = HostModel("h1")
    m.replace_host_state(
        pb.HostGoalState(host_id="h1", seq=1, ports=[port()], networks=[NET], subnets=[SUBNET]), 0
    )
    m.replace_table(
        pb.NeighborTable(network_id="n1", seq=1, neighbors=[entry("a", "fa:16:3e:00:00:01")])
    )

    def answers(pid: str) -> set[str]:
        update = m.neighbor_updates({"n1": {pid}})["n1"]
        assert update is not None
        [(_, spec)] = list(update.specs([pid]))
        return {socket.inet_ntoa(ip) for ip in spec.ips} if spec else set()

    assert answers("a") == {"10.0.0.1", "10.0.0.100"}
    second = pb.NeighborDelta(
        network_id="n1", seq=2, prev_seq=1, neighbors=[entry("b", "fa:16:3e:00:00:02")]
    )
    dirty = m.apply_neighbor_delta(second)
    assert ("neigh", "n1", "a") in dirty  # a's answer changes: the VIP is shared now
    assert answers("a") == {"10.0.0.1"} and answers("b") == {"10.0.0.2"}
    gone = pb.NeighborState(port_id="b", revision=2, op=pb.DELETE, network_id="n1")
    dirty = m.apply_neighbor_delta(
        pb.NeighborDelta(network_id="n1", seq=3, prev_seq=2, neighbors=[gone])
    )
    assert ("neigh", "n1", "a") in dirty and answers("a") == {"10.0.0.1", "10.0.0.100"}


def test_an_extra_dhcp_option_is_named_or_numbered_in_decimal_digits() -> None:
    assert agent_dhcp.option_tag("option:42") == 42
    assert agent_dhcp.option_tag("\u00b2") is None  # a digit to str.isdigit, not to int()
