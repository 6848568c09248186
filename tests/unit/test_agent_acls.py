"""The agent's network-ACL state: goal-state messages to flows, which changes mark the ACL
owner dirty, and what a port's ACL is when the host lacks it (none: fail closed)."""

from __future__ import annotations

from alcor.agent import acl, flows
from alcor.agent.acls import ACL_OWNER, network_acl
from alcor.agent.model import HostModel
from alcor.southbound.protocol import goalstate_pb2 as pb

NET = pb.NetworkState(id="n1", op=pb.UPSERT, revision=1, vni=100)
DENY_PING = pb.NetworkAclRuleState(
    number=10,
    direction="ingress",
    ethertype="IPv4",
    protocol="1",
    ip_prefix="10.0.0.7/32",
    icmp_type=8,
    action="deny",
)
ALLOW_ALL = pb.NetworkAclRuleState(
    number=100, direction="ingress", ethertype="IPv4", action="allow"
)


def _port(pid: str, acl_id: str, revision: int = 1) -> pb.PortState:
    return pb.PortState(
        id=pid,
        op=pb.UPSERT,
        revision=revision,
        network_id="n1",
        admin_state_up=True,
        port_security_enabled=True,
        network_acl_id=acl_id,
    )


def _model() -> HostModel:
    web = pb.NetworkAclState(id="web", op=pb.UPSERT, revision=1, rules=[DENY_PING, ALLOW_ALL])
    model = HostModel("h1")
    model.replace_host_state(
        pb.HostGoalState(
            host_id="h1",
            networks=[NET],
            ports=[_port("p1", "web"), _port("p2", "")],
            network_acls=[web],
        ),
        0,
    )
    model.vifs = {"p1": 5, "p2": 6}
    return model


def _ingress(flow_list: list[flows.Flow]) -> list[tuple[int, str, str]]:
    return sorted((f.priority, f.match, f.actions) for f in flow_list if f.table == 55)


def test_goal_state_acls_become_flows_of_the_ports_using_them() -> None:
    model = _model()
    assert network_acl(model.acls.acls["web"]).rules[0] == acl.AclRule(
        10, "ingress", "IPv4", 1, "10.0.0.7/32", None, None, 8, None, "deny"
    )
    out = model.desired([ACL_OWNER])
    p1, p2 = (flows.cookie(acl.KIND_ACL_PORT, p) for p in ("p1", "p2"))
    assert out[p2] == []  # no ACL: unfiltered
    ingress = _ingress(out[p1])
    assert (acl.priority(10), "reg7=5,icmp,icmp_type=8,nw_src=10.0.0.7", "drop") in ingress
    assert (acl.priority(100), "reg7=5,ip", "goto_table:60") in ingress
    assert (acl.PRIO_DEFAULT, "reg7=5,ip", "drop") in ingress
    assert {f.table for f in out[p1]} == {15, 55}
    assert model.full()[p1] == out[p1] and p2 not in model.full()


def test_acl_rule_port_and_vif_changes_mark_the_acl_owner() -> None:
    model = _model()
    model.desired([ACL_OWNER])
    fewer = pb.NetworkAclState(id="web", op=pb.UPSERT, revision=1, rules=[ALLOW_ALL])
    dirty = model.apply_host_delta(pb.HostDelta(host_id="h1", network_acls=[fewer]), 0)
    assert dirty == {ACL_OWNER}
    assert len(_ingress(model.desired(dirty)[flows.cookie(acl.KIND_ACL_PORT, "p1")])) == 3
    stale = pb.NetworkAclState(id="web", op=pb.UPSERT, revision=0, rules=[DENY_PING])
    assert model.apply_host_delta(pb.HostDelta(host_id="h1", network_acls=[stale]), 0) == set()
    moved = model.apply_host_delta(pb.HostDelta(host_id="h1", ports=[_port("p2", "web")]), 0)
    assert ACL_OWNER in moved
    assert model.desired([ACL_OWNER])[flows.cookie(acl.KIND_ACL_PORT, "p2")]
    assert ACL_OWNER in model.set_vif("p2", None)
    out = model.desired([ACL_OWNER])
    assert out[flows.cookie(acl.KIND_ACL_PORT, "p2")] == []  # unplugged: its flows go
    assert flows.cookie(acl.KIND_ACL_PORT, "p2") not in model.acls.cookies


def test_a_port_whose_acl_the_host_lacks_or_refuses_drops_all_ip() -> None:
    model = _model()
    model.apply_host_delta(pb.HostDelta(host_id="h1", ports=[_port("p2", "unknown")]), 0)
    twice = pb.NetworkAclRuleState(number=100, direction="ingress", ethertype="IPv4", action="deny")
    bad = pb.NetworkAclState(id="web", op=pb.UPSERT, revision=2, rules=[ALLOW_ALL, twice])
    model.apply_host_delta(pb.HostDelta(host_id="h1", network_acls=[bad]), 0)
    out = model.desired([ACL_OWNER])
    for pid, ofport in (("p1", 5), ("p2", 6)):
        assert _ingress(out[flows.cookie(acl.KIND_ACL_PORT, pid)]) == [
            (acl.PRIO_DEFAULT, f"reg7={ofport},ip", "drop"),
            (acl.PRIO_DEFAULT, f"reg7={ofport},ipv6", "drop"),
        ]
