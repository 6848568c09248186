"""Distributed routing as flows: what a host installs for a router, and what the host model
follows and re-renders when routers come and go."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from alcor.agent import flows, routing
from alcor.agent.model import HostModel
from alcor.southbound.protocol import goalstate_pb2 as pb


def iface(n: int, network: str, vni: int, ip_version: int = 4) -> pb.RouterInterface:
    return pb.RouterInterface(
        port_id=f"rp{n}",
        network_id=network,
        subnet_id=f"s{n}",
        vni=vni,
        mac_address=f"FA:16:3E:00:00:0{n}",
        ip_address=f"10.{n}.0.1" if ip_version == 4 else f"fd0{n}::1",
        cidr=f"10.{n}.0.0/24" if ip_version == 4 else f"fd0{n}::/64",
        ip_version=ip_version,
    )


def router(rid: str = "r1", **kw: object) -> pb.RouterState:
    base: dict[str, object] = dict(
        id=rid,
        admin_state_up=True,
        interfaces=[iface(1, "n1", 100), iface(2, "n2", 200), iface(3, "n3", 300, 6)],
        routes=[pb.HostRoute(destination="10.9.0.0/16", nexthop="10.2.0.7")],
    )
    base.update(kw)
    return pb.RouterState(**base)  # type: ignore[arg-type]


def test_a_router_answers_and_dispatches_only_on_local_networks() -> None:
    out = routing.router_flows(router(), 7, {"n1"})
    arp = [f for f in out if f.table == flows.ARP_RESPONDER]
    assert [f.match for f in arp] == ["arp,arp_op=1,tun_id=100,arp_tpa=10.1.0.1"]
    assert "fa:16:3e:00:00:01" in arp[0].actions
    dispatch = [f for f in out if f.table == flows.DISPATCH]
    assert [f.match for f in dispatch] == ["reg0=0/0x1,ip,tun_id=100,dl_dst=fa:16:3e:00:00:01"]
    assert dispatch[0].actions == "load:0x7->NXM_NX_REG5[],goto_table:40"


def test_longest_prefix_first_connected_and_extra_routes_and_echo() -> None:
    out = routing.router_flows(router(), 7, {"n1"})
    routes = {f.match: f for f in out if f.table == flows.ROUTING}
    to_n2 = routes["ip,reg5=0x7,nw_dst=10.2.0.0/24"]
    assert to_n2.priority == 124
    assert to_n2.actions == (
        "set_field:200->tun_id,set_field:fa:16:3e:00:00:02->eth_src,"
        "move:NXM_OF_IP_DST[]->NXM_NX_REG4[],dec_ttl,goto_table:41"
    )
    extra = routes["ip,reg5=0x7,nw_dst=10.9.0.0/16"]
    assert extra.priority == 116  # shorter than the connected /24s
    assert "set_field:200->tun_id" in extra.actions and "load:0xa020007->NXM_NX_REG4[]" in (
        extra.actions
    )
    echoes = [f.match for f in out if f.priority == routing.PRIO_ECHO]
    assert {m.split("_dst=")[1].split(",")[0] for m in echoes} == {
        "10.1.0.1",
        "10.2.0.1",
        "fd03::1",
        "fe80::f816:3eff:fe00:3",  # the link-local address of the IPv6 interface's MAC
    }
    v6 = routes["ipv6,reg5=0x7,ipv6_dst=fd03::/64"]
    assert v6.priority == 164 and "move:NXM_NX_IPV6_DST[]->NXM_NX_XXREG2[]" in v6.actions


def test_an_ipv6_interface_answers_solicitations_as_a_router_for_both_its_addresses() -> None:
    out = routing.router_flows(router(), 7, {"n3"})
    nd = {f.match: f.actions for f in out if f.table == flows.ARP_RESPONDER}
    assert set(nd) == {
        "icmp6,icmp_type=135,tun_id=300,nd_target=fd03::1",
        "icmp6,icmp_type=135,tun_id=300,nd_target=fe80::f816:3eff:fe00:3",
    }
    assert all("load:0x1->NXM_NX_REG2[]" in a and "fa:16:3e:00:00:03" in a for a in nd.values())
    dispatch = [f.match for f in out if f.table == flows.DISPATCH]
    assert dispatch == ["reg0=0/0x1,ipv6,tun_id=300,dl_dst=fa:16:3e:00:00:03"]
    assert routing.interface_on({"r1": router()}, "s3") == router().interfaces[2]


def test_an_admin_down_router_installs_nothing_and_routes_into_nothing() -> None:
    down = router(admin_state_up=False)
    assert routing.router_flows(down, 7, {"n1", "n2"}) == []
    assert routing.routed_networks({"r1": down}) == {}
    assert routing.routed_networks({"r1": router()}) == {"n1": 100, "n2": 200, "n3": 300}


def test_router_numbers_are_stable_distinct_and_nonzero() -> None:
    ids = [f"router-{i}" for i in range(2000)]
    numbers = routing.numbers(ids)
    assert len(set(numbers.values())) == 2000 and 0 not in numbers.values()
    assert routing.numbers(reversed(ids)) == numbers


@pytest.mark.skipif(shutil.which("ovs-ofctl") is None, reason="needs ovs-ofctl")
def test_every_router_flow_parses() -> None:
    out = routing.router_flows(router(), 7, {"n1", "n2", "n3"})
    out.append(flows.routed_to(100, bytes([10, 1, 0, 5]), "fa:16:3e:aa:bb:cc"))
    out.append(flows.routed_to(300, bytes(15) + b"\x05", "fa:16:3e:aa:bb:cc"))
    out += [f for f in flows.static_flows() if f.table in (flows.ND_REPLY, flows.ND_REPLY_TLL)]
    for flow in out:
        subprocess.run(
            ["ovs-ofctl", "-O", "OpenFlow14", "parse-flow", flow.text(1)],
            check=True,
            capture_output=True,
        )


def _model() -> HostModel:
    model = HostModel("h1")
    model.apply_host_delta(
        pb.HostDelta(
            networks=[pb.NetworkState(id="n1", vni=100, router_ids=["r1"])],
            ports=[pb.PortState(id="p1", network_id="n1", mac_address="fa:16:3e:00:00:11")],
        ),
        0.0,
    )
    return model


def test_the_host_follows_the_routers_of_its_networks_and_the_networks_they_route_into() -> None:
    model = _model()
    assert model.wanted_routers() == {"r1"} and model.served_networks() == {"n1"}
    model.apply_router(pb.RouterDelta(router_id="r1", seq=5, routers=[router()]))
    assert model.served_networks() == {"n1", "n2", "n3"}
    model.replace_table(
        pb.NeighborTable(
            network_id="n2",
            seq=6,
            neighbors=[
                pb.NeighborState(
                    port_id="p2",
                    network_id="n2",
                    mac_address="fa:16:3e:00:00:22",
                    fixed_ips=[pb.FixedIp(ip_address="10.2.0.5")],
                    host_id="h2",
                    tunnel_ip="198.18.0.2",
                )
            ],
        )
    )
    update = model.neighbor_updates({"n2": {"p2"}})["n2"]
    assert update is not None and update.vni == 200  # from the router: no port of ours there
    [(_, spec)] = list(update.specs(["p2"]))
    assert spec is not None and spec.routed and spec.tunnel_ip
    dirty = model.drop_router("r1")
    assert ("neigh", "n2", "p2") in dirty and ("router", "r1") in dirty
    assert model.served_networks() == {"n1"}
    assert model.owner_flows(("router", "r1")) == []
