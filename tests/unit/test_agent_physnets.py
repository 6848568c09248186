"""Flat networks on the host (`alcor.agent.physnets`) as pure functions: keys, mappings,
flows, and what the model makes of a flat network (no tunnel, no service ARP)."""

from __future__ import annotations

import pytest

from alcor.agent import flows, physnets
from alcor.agent.model import HostModel
from alcor.southbound.protocol import goalstate_pb2 as pb

PATCH = 3
TUNNEL = 7
FLAT = pb.NetworkState(
    id="ext", revision=1, network_type="flat", physical_network="external", mtu=1500
)
SUBNET = pb.SubnetState(
    id="s1",
    revision=1,
    network_id="ext",
    ip_version=4,
    cidr="203.0.113.0/24",
    gateway_ip="203.0.113.1",
    enable_dhcp=True,
)


def _port(pid: str, mac: str, ip: str) -> pb.PortState:
    return pb.PortState(
        id=pid,
        revision=1,
        network_id="ext",
        mac_address=mac,
        admin_state_up=True,
        port_security_enabled=True,
        host_id="h1",
        fixed_ips=[pb.FixedIp(subnet_id="s1", ip_address=ip)],
    )


def _model(mappings: dict[str, str]) -> HostModel:
    m = HostModel("h1")
    m.tunnel_ofport = TUNNEL
    keys = physnets.keys(mappings)
    m.physnets = {n: physnets.Bridge(b, keys[n], PATCH) for n, b in mappings.items()}
    m.replace_host_state(
        pb.HostGoalState(
            host_id="h1",
            seq=1,
            ports=[_port("p1", "fa:16:3e:00:00:01", "203.0.113.101")],
            networks=[FLAT],
            subnets=[SUBNET],
        ),
        0,
    )
    m.set_vif("p1", 5)
    remote = pb.NeighborState(
        port_id="p2",
        network_id="ext",
        mac_address="fa:16:3e:00:00:02",
        host_id="h2",
        tunnel_ip="198.18.0.2",
        fixed_ips=[pb.FixedIp(ip_address="203.0.113.102")],
    )
    m.replace_table(pb.NeighborTable(network_id="ext", seq=1, neighbors=[remote]))
    return m


def test_bridge_mappings_parse_like_neutron() -> None:
    assert physnets.parse_bridge_mappings(" external:br-ex , p2:br-p2,") == {
        "external": "br-ex",
        "p2": "br-p2",
    }
    assert physnets.parse_bridge_mappings("") == {}
    for bad in ("external", "external:", "a:br-ex,a:br-x", "a:br-ex,b:br-ex", "a:br-much-too-long"):
        with pytest.raises(ValueError):
            physnets.parse_bridge_mappings(bad)
    assert physnets.patch_ports("br-ex") == ("int-br-ex", "phy-br-ex")


def test_keys_sit_above_the_vni_space_and_are_stable() -> None:
    keys = physnets.keys(["zeta", "alpha"])
    assert keys == {"alpha": 1 << 24, "zeta": 1 << 24 | 1 << 12}
    assert keys == physnets.keys(["alpha", "zeta"])
    assert min(keys.values()) > 0xFFFFFF


def test_flat_network_flows_classify_flood_and_send_unknown_to_the_segment() -> None:
    key = physnets.PHYSNET_KEY
    fl = physnets.network_flows(physnets.Bridge("br-ex", key, PATCH), [5, 6])
    by_match = {(f.table, f.match): f.actions for f in fl}
    classify = by_match[(flows.CLASSIFY, f"in_port={PATCH},vlan_tci=0x0000/0x1fff")]
    assert classify == f"set_field:{key}->tun_id,load:1->NXM_NX_REG0[0],goto_table:30"
    locals_ = f"{flows.local_out(5)},{flows.local_out(6)}"
    bcast = f"tun_id={key},{flows.BROADCAST}"
    assert by_match[(flows.L2_FORWARD, f"{flows.FROM_LOCAL},{bcast}")] == (
        f"{locals_},output:{PATCH}"
    )
    # from the segment: local ports only, never back out of the patch
    assert by_match[(flows.L2_FORWARD, f"{flows.FROM_TUNNEL},{bcast}")] == locals_
    assert by_match[(flows.L2_FORWARD, f"{flows.FROM_LOCAL},tun_id={key}")] == f"output:{PATCH}"
    assert not any("tun_dst" in f.actions or f"output:{TUNNEL}" in f.actions for f in fl)
    alone = physnets.network_flows(physnets.Bridge("br-ex", key, PATCH), [])
    assert {f.match for f in alone if f.table == flows.L2_FORWARD} == {
        f"{flows.FROM_LOCAL},{bcast}",
        f"{flows.FROM_LOCAL},tun_id={key}",
    }


def test_model_programs_a_flat_network_without_tunnels_or_service_arp() -> None:
    m = _model({"external": "br-ex", "other": "br-o"})
    key = m.physnets["external"].key
    every = [f for fl in m.full().values() for f in fl]
    update = m.all_neighbor_updates()["ext"]
    specs = dict(update.specs(None))
    every += flows.spec_flows(specs["p2"], update.vni, update.tunnel_ofport)
    assert update.vni == key
    assert not any("tun_dst" in f.actions for f in every)  # no tunnel for a flat network
    assert not any(f"in_port={TUNNEL}" in f.match for f in every)
    # the VM's own port is keyed by the flat key; the remote port's IP is still answered
    assert any(f.match == "in_port=5" and f"{key}->tun_id" in f.actions for f in every)
    arp = {f.match for f in every if f.table == flows.ARP_RESPONDER}
    assert f"arp,arp_op=1,tun_id={key},arp_tpa=203.0.113.102" in arp
    assert not any(a.rsplit("=", 1)[-1] == "203.0.113.1" for a in arp)  # the real gateway's
    assert m.port_state("p1")[0] == pb.SUCCESS


def test_port_on_an_unmapped_physical_network_fails_and_gets_no_flows() -> None:
    m = _model({"other": "br-o"})
    assert m.network_key(FLAT) is None
    assert m.owner_flows(("port", "p1")) == [] and m.owner_flows(("net", "ext")) == []
    assert m.all_neighbor_updates() == {}
    assert m.port_state("p1")[0] == pb.FAILURE
