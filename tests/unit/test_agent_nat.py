"""Floating IPs as flows and ARP frames, and what the host model re-renders for them."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from alcor.agent import flows, nat, physnets
from alcor.agent.model import SG_OWNER, HostModel
from alcor.southbound.protocol import goalstate_pb2 as pb

BRIDGE = physnets.Bridge("br-ex", physnets.PHYSNET_KEY, 3)
FIP = pb.FloatingIpState(
    id="f1",
    floating_ip_address="203.0.113.50",
    fixed_ip_address="10.31.0.11",
    router_id="r1",
    physical_network="external",
    external_gateway_ip="203.0.113.1",
    mac_address="fa:16:3f:00:71:32",
)
PORT = nat.FipPort(5, "fa:16:3e:00:00:11", 100, "fa:16:3e:00:00:01", 7, BRIDGE)


def test_inbound_is_programmed_at_once_outbound_once_the_gateway_is_known() -> None:
    inbound = nat.fip_flows(FIP, PORT, None)
    both = nat.fip_flows(FIP, PORT, "02:00:00:00:00:01")
    assert {f.table for f in inbound} == {flows.CLASSIFY, flows.NAT, flows.ROUTING}
    assert not [f for f in inbound if "output:3" in f.actions]
    out = [f for f in both if f.actions.endswith("output:3")]
    assert len(out) == 3 and all("set_field:02:00:00:00:00:01->eth_dst" in f.actions for f in out)
    new_out = next(f for f in out if "+new" in f.match)
    assert "nat(src=203.0.113.50)" in new_out.actions and "in_port=5" in new_out.match
    new_in = next(f for f in both if f.table == flows.NAT and "in_port=3,ct_state=+new" in f.match)
    assert "nat(dst=10.31.0.11)" in new_in.actions
    mark = f"{nat.fip_number('f1'):#x}"
    assert all(f"ct_mark={mark}" in f.match for f in both if "+est" in f.match or "+rel" in f.match)
    egress = next(f for f in both if f.table == flows.ROUTING)
    assert egress.priority < 100 and egress.match == "ip,reg5=0x7,reg6=5,nw_src=10.31.0.11"


@pytest.mark.skipif(shutil.which("ovs-ofctl") is None, reason="needs ovs-ofctl")
def test_every_nat_flow_parses() -> None:
    for flow in nat.fip_flows(FIP, PORT, "02:00:00:00:00:01"):
        cmd = ["ovs-ofctl", "-O", "OpenFlow14", "parse-flow", flow.text(1)]
        subprocess.run(cmd, check=True, capture_output=True)


def test_arp_frames() -> None:
    ask = nat.who_has(FIP.mac_address, FIP.floating_ip_address, "203.0.113.1")
    assert ask[:6] == b"\xff" * 6 and ask[12:14] == b"\x08\x06" and len(ask) == 42
    garp = nat.gratuitous(FIP.mac_address, FIP.floating_ip_address)
    assert garp[28:32] == garp[38:42] == bytes([203, 0, 113, 50])
    reply = nat.arp_frame(2, "02:00:00:00:00:01", "203.0.113.1", bytes(6), "203.0.113.50")
    assert nat.arp_reply_sender(reply) == ("203.0.113.1", "02:00:00:00:00:01")
    assert nat.arp_reply_sender(ask) is None


def _router(snat_host: str = "") -> pb.RouterState:
    """Router r1 with an interface on s1 (n1) and its gateway, SNAT placed on `snat_host`."""
    return pb.RouterState(
        id="r1",
        admin_state_up=True,
        interfaces=[
            pb.RouterInterface(
                subnet_id="s1",
                network_id="n1",
                vni=100,
                mac_address="fa:16:3e:00:00:01",
                ip_address="10.31.0.1",
                cidr="10.31.0.0/24",
                ip_version=4,
            )
        ],
        gateway=pb.RouterGateway(
            physical_network="external",
            ip_address="203.0.113.100",
            mac_address="fa:16:3e:00:00:ee",
            next_hop="203.0.113.1",
            enable_snat=True,
            snat_host=snat_host,
            snat_tunnel_ip="198.18.0.3",
        ),
    )


def _port(fips: list[pb.FloatingIpState]) -> pb.PortState:
    return pb.PortState(
        id="p1",
        network_id="n1",
        revision=2,
        mac_address="fa:16:3e:00:00:11",
        admin_state_up=True,
        fixed_ips=[pb.FixedIp(subnet_id="s1", ip_address="10.31.0.11")],
        floating_ips=fips,
    )


def test_a_floating_ip_change_re_renders_its_port_alone_and_an_arp_reply_its_users() -> None:
    model = HostModel("h1")
    model.physnets = {"external": BRIDGE}
    net = pb.NetworkState(id="n1", vni=100, router_ids=["r1"])
    model.apply_host_delta(pb.HostDelta(networks=[net], ports=[_port([])]), 0.0)
    model.set_vif("p1", 5)
    dirty = model.apply_host_delta(pb.HostDelta(ports=[_port([FIP])]), 0.0)
    assert dirty == {("port", "p1")} and SG_OWNER not in dirty
    router = _router()
    router.ClearField("gateway")
    model.apply_router(pb.RouterDelta(router_id="r1", seq=3, routers=[router]))
    port = model.ports["p1"]
    assert not model.fip_ready(port, FIP)  # inbound only: the gateway is not known yet
    [address] = model.external_addresses()
    assert address.ip == FIP.floating_ip_address and address.next_hop == (
        "external",
        "203.0.113.1",
    )
    assert model.learn_gateway("external", "203.0.113.1", "02:00:00:00:00:01") == {("port", "p1")}
    assert model.fip_ready(port, FIP)
    assert [f for f in model.owner_flows(("port", "p1")) if f.actions.endswith("output:3")]


def test_other_hosts_tunnel_unrouted_traffic_to_the_snat_host() -> None:
    [send] = nat.snat_flows(_router("h3"), 7, "h1", 9, None)
    assert send.table == flows.ROUTING and send.priority == nat.PRIO_SNAT < nat.PRIO_EGRESS
    assert send.match == "ip,reg5=0x7" and send.actions == "set_field:198.18.0.3->tun_dst,output:9"
    off = _router("h3")
    off.gateway.enable_snat = False
    assert nat.snat_flows(off, 7, "h1", 9, None) == []


def test_the_snat_host_translates_answers_and_routes_replies_back() -> None:
    router = _router("h1")
    inbound_only = nat.snat_flows(router, 7, "h1", 9, nat.SnatHost(BRIDGE, None))
    full = nat.snat_flows(router, 7, "h1", 9, nat.SnatHost(BRIDGE, "02:00:00:00:00:01"))
    assert not [f for f in inbound_only if f.actions.endswith("output:3")]
    new = next(f for f in full if f.table == flows.NAT and "+new" in f.match)
    assert "nat(src=203.0.113.100)" in new.actions and new.priority < nat.PRIO_NEW
    from_tunnel = next(f for f in full if "in_port=9" in f.match)
    assert "tun_id=100" in from_tunnel.match and "load:0x7->NXM_NX_REG5[]" in from_tunnel.actions
    back = next(f for f in full if "in_port=3,ct_state=+est" in f.match)
    assert back.actions.endswith(f"resubmit(,{flows.ROUTING})")
    assert any("icmp_type=8" in f.match and "203.0.113.100" in f.match for f in full)
    if shutil.which("ovs-ofctl"):
        for flow in full:
            cmd = ["ovs-ofctl", "-O", "OpenFlow14", "parse-flow", flow.text(1)]
            subprocess.run(cmd, check=True, capture_output=True)
