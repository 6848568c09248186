"""The agent's security-group state: goal-state messages to flows, and what a member change
costs (only member-address flows, never the whole host's)."""

from __future__ import annotations

from alcor.agent import flows, security
from alcor.agent.groups import group
from alcor.agent.model import HostModel
from alcor.southbound.protocol import goalstate_pb2 as pb

NET = pb.NetworkState(id="n1", op=pb.UPSERT, revision=1, vni=100)


def _state() -> HostModel:
    web = pb.SecurityGroupState(
        id="web",
        op=pb.UPSERT,
        revision=1,
        stateful=True,
        rules=[
            pb.SecurityGroupRuleState(
                direction="ingress",
                ethertype="IPv4",
                protocol="6",
                port_range_min=22,
                port_range_max=22,
                remote_group_id="clients",
            ),
            pb.SecurityGroupRuleState(
                direction="ingress", ethertype="IPv4", protocol="1", icmp_type=0
            ),
        ],
    )
    ports = [
        pb.PortState(
            id=f"p{i}",
            op=pb.UPSERT,
            revision=1,
            network_id="n1",
            admin_state_up=True,
            port_security_enabled=True,
            mac_address=f"fa:16:3e:00:00:0{i}",
            security_group_ids=["web"],
        )
        for i in (1, 2)
    ]
    model = HostModel("h1")
    model.replace_host_state(
        pb.HostGoalState(host_id="h1", networks=[NET], ports=ports, security_groups=[web]), 0
    )
    model.vifs = {"p1": 5, "p2": 6}
    model.replace_address_set(
        pb.AddressSet(
            group_id="clients",
            members=[pb.AddressSetMember(port_id="c1", op=pb.UPSERT, revision=1, ips=["10.0.0.7"])],
        )
    )
    return model


def _kinds(out: dict[int, list[flows.Flow]]) -> set[int]:
    return {flows.cookie_kind(ck) for ck in out}


def test_goal_state_groups_become_flows_and_remote_groups_are_followed() -> None:
    model = _state()
    assert model.security.wanted() == {"clients"}
    rule = model.security.groups["web"].rules[0]
    converted = group(model.security.groups["web"])
    assert (
        converted.rules[0] == security.SgRule("ingress", "IPv4", 6, 22, 22, None, "clients")
        and rule.remote_group_id == "clients"
    )
    assert converted.rules[1].port_min == 0  # ICMP type 0 is a value, not "any"
    full = model.desired([("sg",)])
    assert {security.KIND_SG_PORT, security.KIND_ADDRESS_SET, security.KIND_SET_MEMBER} == _kinds(
        full
    )
    member = flows.cookie(security.KIND_SET_MEMBER, "10.0.0.7")
    assert any("10.0.0.7" in f.match for f in full[member])


def test_a_member_change_recomputes_only_member_flows() -> None:
    model = _state()
    model.desired([("sg",)])
    joined = pb.AddressSetDelta(
        group_id="clients",
        members=[pb.AddressSetMember(port_id="c2", op=pb.UPSERT, revision=1, ips=["10.0.0.8"])],
    )
    dirty = model.apply_address_delta(joined)
    assert dirty == {("sg-members",)}
    out = model.desired(dirty)
    assert _kinds(out) == {security.KIND_SET_MEMBER}
    assert out[flows.cookie(security.KIND_SET_MEMBER, "10.0.0.8")]
    left = pb.AddressSetDelta(
        group_id="clients",
        members=[pb.AddressSetMember(port_id="c1", op=pb.DELETE, revision=2)],
    )
    out = model.desired(model.apply_address_delta(left))
    assert out[flows.cookie(security.KIND_SET_MEMBER, "10.0.0.7")] == []  # its flows go
    assert model.apply_address_delta(left) == set()  # applied once


def test_incremental_member_flows_always_equal_a_full_computation() -> None:
    """Joins, moves, leaves and an address two groups (and two members) share: the flows kept
    from the incremental rounds equal those computed from scratch after every step."""
    model = _state()
    sec = model.security
    sec.groups["web"].rules.append(
        pb.SecurityGroupRuleState(direction="egress", ethertype="IPv4", remote_group_id="admins")
    )
    model.replace_address_set(pb.AddressSet(group_id="admins"))
    installed = {ck: fl for ck, fl in model.desired([("sg",)]).items() if fl}

    def member(pid: str, revision: int, *ips: str) -> pb.AddressSetMember:
        op = pb.UPSERT if ips else pb.DELETE
        return pb.AddressSetMember(port_id=pid, op=op, revision=revision, ips=list(ips))

    steps = [
        ("clients", member("c2", 1, "10.0.0.8")),
        ("admins", member("a1", 1, "10.0.0.8", "10.2.0.0/16")),
        ("clients", member("c3", 1, "10.0.0.8")),  # a second member of clients holds it
        ("clients", member("c2", 2)),
        ("admins", member("a1", 2, "10.0.0.9")),
        ("clients", member("c3", 2)),
        ("clients", member("c1", 2, "10.0.0.9")),
    ]
    for step, (gid, change) in enumerate(steps):
        out = model.desired(
            model.apply_address_delta(pb.AddressSetDelta(group_id=gid, members=[change]))
        )
        installed.update(out)
        installed = {ck: fl for ck, fl in installed.items() if fl}
        full = security.host_flows(
            sec.sg_ports(model.ports.values(), model.vifs), sec.address_sets()
        )
        assert installed == {ck: fl for ck, fl in full.items() if fl}, f"after step {step}"
