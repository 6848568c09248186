"""A port held as an inactive binding (a live migration's destination, `PortState.inactive`):
the host programs its VIF but does not claim it (frames for it still go to its active host)
until the binding is activated; and the Nova event its programming produces."""

from __future__ import annotations

from alcor.agent import flows
from alcor.agent.model import HostModel
from alcor.southbound.nova import events_for
from alcor.southbound.protocol import goalstate_pb2 as pb

MAC = "fa:16:3e:00:00:0b"
NET = pb.NetworkState(id="n1", revision=1, vni=100, mtu=1450, network_type="vxlan")
FIXED = [pb.FixedIp(subnet_id="s1", ip_address="10.0.0.11")]


def _port(revision: int, inactive: bool) -> pb.PortState:
    return pb.PortState(
        id="p1",
        revision=revision,
        network_id="n1",
        mac_address=MAC,
        admin_state_up=True,
        port_security_enabled=True,
        host_id="dst",
        fixed_ips=FIXED,
        inactive=inactive,
    )


def _neighbor(revision: int, host: str, tunnel: str) -> pb.NeighborState:
    return pb.NeighborState(
        port_id="p1",
        revision=revision,
        network_id="n1",
        mac_address=MAC,
        host_id=host,
        tunnel_ip=tunnel,
        fixed_ips=FIXED,
    )


def _local_delivery(fl: list[flows.Flow]) -> list[flows.Flow]:
    return [f for f in fl if f.table == flows.L2_FORWARD and f"dl_dst={MAC}" in f.match]


def test_inactive_port_is_programmed_but_not_delivered_to() -> None:
    inactive = flows.port_flows(_port(1, inactive=True), 5, 100)
    assert any(f.table == flows.CLASSIFY and f.match == "in_port=5" for f in inactive)
    assert any(f.table == flows.PORT_SECURITY for f in inactive)
    assert _local_delivery(inactive) == []
    assert _local_delivery(flows.port_flows(_port(1, inactive=False), 5, 100))


def test_destination_follows_the_active_host_until_activation() -> None:
    m = HostModel("dst")
    m.tunnel_ofport = 7
    m.replace_host_state(pb.HostGoalState(host_id="dst", ports=[_port(1, True)], networks=[NET]), 0)
    m.replace_table(
        pb.NeighborTable(network_id="n1", neighbors=[_neighbor(1, "src", "198.18.0.1")])
    )
    m.set_vif("p1", 5)
    owner = ("neigh", "n1", "p1")
    tunnelled = _local_delivery(m.owner_flows(owner))
    assert tunnelled and "198.18.0.1->tun_dst" in tunnelled[0].actions
    update = m.neighbor_updates({"n1": {"p1"}})["n1"]
    assert update is not None
    [(pid, spec)] = list(update.specs(["p1"]))
    assert pid == "p1" and spec is not None and spec.tunnel_ip
    floods = " ".join(f.actions for f in m.owner_flows(("net", "n1")))
    assert "load:5->NXM_NX_REG7[]" not in floods
    assert m.port_state("p1")[0] == pb.SUCCESS  # reported programmed

    # activation: the port is this host's, the neighbour entry names this host
    dirty = m.apply_host_delta(pb.HostDelta(host_id="dst", ports=[_port(2, False)]), 0)
    dirty |= m.apply_neighbor_delta(
        pb.NeighborDelta(network_id="n1", neighbors=[_neighbor(2, "dst", "198.18.0.2")])
    )
    assert owner in dirty and ("port", "p1") in dirty
    assert _local_delivery(m.owner_flows(owner)) == []
    assert _local_delivery(m.owner_flows(("port", "p1")))
    floods = " ".join(f.actions for f in m.owner_flows(("net", "n1")))
    assert "load:5->NXM_NX_REG7[]" in floods


def test_programmed_inactive_binding_tells_nova_vif_plugged() -> None:
    vm = {"port_id": "p1", "device_id": "vm-1", "device_owner": "compute:nova"}
    (event,) = events_for("port_binding_plugged", vm)
    assert (event["name"], event["status"], event["tag"]) == (
        "network-vif-plugged",
        "completed",
        "p1",
    )
    assert events_for("port_binding_plugged", {**vm, "device_owner": "network:dhcp"}) == []


def test_source_keeps_nothing_once_its_last_port_goes() -> None:
    """The source after the migration: the port's DELETE also drops the network, subnets,
    groups and ACL no other local port uses, as a full state of the host would."""
    m = HostModel("src")
    subnet = pb.SubnetState(id="s1", revision=1, network_id="n1", ip_version=4, cidr="10.0.0.0/24")
    group = pb.SecurityGroupState(id="g1", revision=1)
    acl = pb.NetworkAclState(id="a1", revision=1)
    held = _port(1, False)
    held.security_group_ids.append("g1")
    held.network_acl_id = "a1"
    m.replace_host_state(
        pb.HostGoalState(
            host_id="src",
            ports=[held],
            networks=[NET],
            subnets=[subnet],
            security_groups=[group],
            network_acls=[acl],
        ),
        0,
    )
    gone = pb.PortState(id="p1", op=pb.DELETE, revision=2, network_id="n1")
    dirty = m.apply_host_delta(pb.HostDelta(host_id="src", ports=[gone]), 0)
    assert ("net", "n1") in dirty and ("sg",) in dirty and ("acl",) in dirty
    assert (m.ports, m.networks, m.subnets) == ({}, {}, {})
    assert (m.security.groups, m.acls.acls) == ({}, {})
    assert m.owner_flows(("net", "n1")) == []
