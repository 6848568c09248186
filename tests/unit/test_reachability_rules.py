"""The analyzer's rules on hand-made intent: what the e2e matrix cannot vary cheaply
(partial port ranges on a stateless reply, stateless groups, extra routes, SNAT without a
host). What its verdicts are worth on real packets: `tests/e2e/test_operators_view.py`."""

from __future__ import annotations

from typing import Any

from alcor.reachability import packets, verdict
from alcor.reachability.filters import network_acl, security_groups
from alcor.reachability.intent import End, Intent, Question
from alcor.southbound.protocol import goalstate_pb2 as pb

TCP = "6"


def _acl(*rules: pb.NetworkAclRuleState) -> pb.NetworkAclState:
    return pb.NetworkAclState(id="acl", rules=list(rules))


def _rule(number: int, direction: str, action: str, **kw: Any) -> pb.NetworkAclRuleState:
    return pb.NetworkAclRuleState(
        number=number, direction=direction, action=action, ethertype="IPv4", **kw
    )


def _group(*rules: pb.SecurityGroupRuleState, stateful: bool = True) -> pb.SecurityGroupState:
    return pb.SecurityGroupState(id="sg", rules=list(rules), stateful=stateful)


def _port(pid: str, ip: str, net: str = "n1", **kw: Any) -> dict[str, Any]:
    return {
        "id": pid,
        "network_id": net,
        "fixed_ips": [{"ip_address": ip, "subnet_id": f"s-{net}"}],
        "binding_host_id": "h1",
        "admin_state_up": True,
        "status": "ACTIVE",
        "port_security_enabled": True,
        **kw,
    }


def _end(pid: str, ip: str, net: str = "n1", cidr: str = "10.0.0.0/24", **kw: Any) -> End:
    return End(pid, ip, _port(pid, ip, net), {"id": f"s-{net}", "cidr": cidr}, **kw)


def test_acl_first_match_decides_and_unmatched_ip_is_dropped() -> None:
    acl = _acl(
        _rule(20, "ingress", "allow", protocol=TCP),
        _rule(10, "ingress", "deny", protocol=TCP, ip_prefix="10.0.0.5/32"),
    )
    syn = packets.forward(packets.TCP, 22, "10.0.0.5")
    assert network_acl(acl, "ingress", syn).rule["number"] == 10  # type: ignore[index]
    assert network_acl(acl, "ingress", packets.forward(packets.TCP, 22, "10.0.0.6")).allowed
    ping = packets.forward(packets.ICMP, None, "10.0.0.6")
    assert not network_acl(acl, "ingress", ping).allowed


def test_a_stateless_reply_needs_a_rule_covering_every_ephemeral_port() -> None:
    reply = packets.reply(packets.TCP, "10.0.0.9")
    part = _acl(
        _rule(10, "ingress", "allow", protocol=TCP, port_range_min=40000, port_range_max=65535)
    )
    whole = _acl(
        _rule(10, "ingress", "allow", protocol=TCP, port_range_min=1024, port_range_max=65535)
    )
    assert not network_acl(part, "ingress", reply).allowed
    assert network_acl(whole, "ingress", reply).allowed


def test_icmp_type_rules_tell_requests_from_replies() -> None:
    acl = _acl(_rule(10, "egress", "allow", protocol="1", icmp_type=8))
    assert network_acl(acl, "egress", packets.forward(packets.ICMP, None, "10.0.0.2")).allowed
    assert not network_acl(acl, "egress", packets.reply(packets.ICMP, "10.0.0.2")).allowed


def test_remote_groups_match_their_members_only() -> None:
    rule = pb.SecurityGroupRuleState(direction="ingress", ethertype="IPv4", remote_group_id="g2")
    groups = [_group(rule)]
    members = {"g2": frozenset({"10.0.0.7"})}
    member = packets.forward(packets.TCP, 80, "10.0.0.7")
    stranger = packets.forward(packets.TCP, 80, "10.0.0.8")
    assert security_groups(groups, members, "ingress", member).allowed
    assert not security_groups(groups, members, "ingress", stranger).allowed


def _ask(src: End, dst: End, routers: dict[str, pb.RouterState] | None = None, **q: Any) -> Any:
    question = Question(src.given, dst.given, q.get("protocol", packets.TCP), q.get("port", 22))
    return verdict.analyze(Intent(question, src, dst, routers or {}, {}))


def _open() -> list[pb.SecurityGroupState]:
    return [
        _group(
            pb.SecurityGroupRuleState(direction="ingress", ethertype="IPv4"),
            pb.SecurityGroupRuleState(direction="egress", ethertype="IPv4"),
        )
    ]


def test_a_stateless_group_must_admit_the_reply_too() -> None:
    ingress_only = _group(
        pb.SecurityGroupRuleState(direction="ingress", ethertype="IPv4"), stateful=False
    )
    src = _end("a", "10.0.0.2", groups=_open())
    dst = _end("b", "10.0.0.3", groups=[ingress_only])
    answer = _ask(src, dst)
    assert answer["reachable"] is False
    assert "(reply)" in answer["decided_by"]["at"] and "stateless" in answer["decided_by"]["detail"]


def _router(**kw: Any) -> pb.RouterState:
    return pb.RouterState(
        id="r1",
        admin_state_up=True,
        interfaces=[
            pb.RouterInterface(subnet_id="s-n1", cidr="10.0.0.0/24"),
            pb.RouterInterface(subnet_id="s-n2", cidr="10.1.0.0/24"),
        ],
        **kw,
    )


def test_an_extra_route_more_specific_than_the_subnet_wins() -> None:
    src = _end("a", "10.0.0.2", groups=_open())
    dst = _end("b", "10.1.0.3", net="n2", cidr="10.1.0.0/24", groups=_open())
    assert _ask(src, dst, {"r1": _router()})["reachable"] is True
    detour = _router(routes=[pb.HostRoute(destination="10.1.0.0/25", nexthop="10.0.0.254")])
    answer = _ask(src, dst, {"r1": detour})
    assert answer["reachable"] is False and "10.0.0.254" in answer["decided_by"]["detail"]


def test_a_router_does_not_route_between_address_scopes() -> None:
    src = _end("a", "10.0.0.2", groups=_open())
    dst = _end("b", "10.1.0.3", net="n2", cidr="10.1.0.0/24", groups=_open())
    scoped = _router()
    scoped.interfaces[1].address_scope_id = "scope-b"
    answer = _ask(src, dst, {"r1": scoped})
    assert answer["reachable"] is False
    assert "address scopes (none) and scope-b" in answer["decided_by"]["detail"]
    scoped.interfaces[0].address_scope_id = "scope-b"
    assert _ask(src, dst, {"r1": scoped})["reachable"] is True


def test_snat_needs_a_live_gateway_host() -> None:
    src = _end("a", "10.0.0.2", groups=_open())
    outside = End("203.0.113.1", "203.0.113.1")
    gateway = pb.RouterGateway(ip_address="203.0.113.100", enable_snat=True)
    unplaced = _router(gateway=gateway)
    answer = _ask(src, outside, {"r1": unplaced})
    assert answer["decided_by"]["hop"] == "snat" and "no live gateway host" in answer["summary"]
    gateway.snat_host = "h2"
    assert _ask(src, outside, {"r1": _router(gateway=gateway)})["reachable"] is True


def test_a_port_without_port_security_is_not_filtered() -> None:
    src = _end("a", "10.0.0.2", groups=[])
    src.port["port_security_enabled"] = False  # type: ignore[index]
    dst = _end("b", "10.0.0.3", groups=_open(), acl=_acl())
    answer = _ask(src, dst)
    # the destination's empty ACL drops it; the source's missing groups do not
    assert answer["decided_by"]["hop"] == "network_acl"
    assert answer["decided_by"]["at"].startswith("destination")
