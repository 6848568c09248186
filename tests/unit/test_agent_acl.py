"""Network ACLs as flows (alcor.agent.acl): first match by number, defaults, counts, ownership.

Verdicts come from the security-group tests' model of OVS's table lookup, walking table 15
(egress) or 55 (ingress) for port 5. One test installs ACL and security-group flows into a
real OVS bridge and traces that an ACL deny wins over a security-group allow
(`@pytest.mark.ovs`).
"""

from __future__ import annotations

import tempfile

import pytest

from alcor.agent import acl, flows
from alcor.agent import security as sg
from alcor.agent.acl import Acl, AclPort, AclRule
from alcor.agent.flows import Flow
from alcor.lab.host import Host
from tests.unit.test_agent_security import bridge, lookup, packet

__all__ = ["bridge"]  # the real-OVS fixture, shared with the security-group tests

OFPORT = 5
ALLOW, DENY = acl.ALLOW, acl.DENY


def rule(number: int, direction: str = "ingress", action: str = ALLOW, **kw: object) -> AclRule:
    return AclRule(number, direction, action=action, **kw)  # type: ignore[arg-type]


def port(*rules: AclRule, ofport: int = OFPORT, security: bool = True) -> AclPort:
    return AclPort(f"p{ofport}", ofport, Acl("a1", rules), security)


def all_flows(*ports: AclPort) -> list[Flow]:
    out = [f for fl in acl.host_flows(ports).values() for f in fl]
    return out + [f for f in flows.static_flows() if f.table in acl.TABLES.values()]


def verdict(fl: list[Flow], pkt: dict[str, object], direction: str = "ingress") -> str:
    """'allow' (on to the security groups) or 'drop' for a packet of port 5."""
    side = sg.SIDES[direction]
    table = acl.TABLES[direction]
    flow = lookup([f for f in fl if f.table == table], {**pkt, side.reg: OFPORT})
    assert flow is not None, f"no flow in table {table}"
    if flow.actions == "drop":
        return "drop"
    assert flow.actions == f"goto_table:{side.entry}"
    return "allow"


SSH = packet()  # tcp 10.0.0.9:40000 -> 10.0.0.5:22
WEB = packet(dport=80)


# -- the pipeline --------------------------------------------------------------------------------
def test_acl_tables_sit_between_port_security_and_security_groups() -> None:
    static = {f.table: f.actions for f in flows.static_flows() if f.priority == 0}
    assert static[flows.EGRESS_ACL] == f"goto_table:{flows.EGRESS_SG}"
    assert static[flows.INGRESS_ACL] == f"goto_table:{flows.INGRESS_SG}"
    assert flows.PORT_SECURITY < flows.EGRESS_ACL < flows.EGRESS_SG
    assert flows.L2_FORWARD < flows.INGRESS_ACL < flows.INGRESS_SG
    assert set(flows.TABLE_MAP) >= {flows.EGRESS_ACL, flows.INGRESS_ACL}
    assert flows.local_out(3).endswith(f"resubmit(,{flows.INGRESS_ACL})")


# -- first match by number -----------------------------------------------------------------------
@pytest.mark.parametrize("direction", ["ingress", "egress"])
def test_the_lowest_numbered_matching_rule_decides(direction: str) -> None:
    ssh = dict(protocol=6, port_min=22, port_max=22)
    deny_first = all_flows(port(rule(100, direction, DENY, **ssh), rule(200, direction)))
    assert verdict(deny_first, SSH, direction) == "drop"
    assert verdict(deny_first, WEB, direction) == "allow"
    allow_first = all_flows(port(rule(100, direction, **ssh), rule(200, direction, DENY)))
    assert verdict(allow_first, SSH, direction) == "allow"
    assert verdict(allow_first, WEB, direction) == "drop"
    # the order the rules come in does not matter, their numbers do
    reversed_input = all_flows(port(rule(200, direction), rule(100, direction, DENY, **ssh)))
    assert verdict(reversed_input, SSH, direction) == "drop"


def test_a_direction_only_sees_its_own_rules() -> None:
    fl = all_flows(port(rule(100, "egress")))
    assert verdict(fl, SSH, "egress") == "allow"
    assert verdict(fl, SSH, "ingress") == "drop"  # stateless: no reply passes by itself


def test_nothing_matching_is_denied_and_non_ip_is_not_filtered() -> None:
    fl = all_flows(port())
    for direction in ("ingress", "egress"):
        assert verdict(fl, SSH, direction) == "drop"
        assert verdict(fl, packet("fd00::9", "fd00::5"), direction) == "drop"
        assert verdict(fl, packet(dl_type="arp"), direction) == "allow"
    assert sum(f.priority == acl.PRIO_DEFAULT for f in fl) == 4


def test_ports_without_an_acl_or_port_security_get_no_flows_and_pass() -> None:
    no_security = port(rule(100, action=DENY), security=False)
    no_acl = AclPort("p5", OFPORT)
    assert acl.port_flows(no_security) == acl.port_flows(no_acl) == []
    fl = all_flows(no_security)
    assert verdict(fl, SSH) == verdict(fl, SSH, "egress") == "allow"


# -- what a rule matches -------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("kw", "pkt", "expected"),
    [
        (dict(ip_prefix="10.0.0.0/24"), packet(src="10.0.0.200"), "allow"),
        (dict(ip_prefix="10.0.0.0/24"), packet(src="10.0.1.9"), "drop"),
        (dict(ip_prefix="10.0.0.0/24"), packet(src="10.0.1.9", dst="10.0.0.7"), "drop"),
        (dict(ip_prefix="0.0.0.0/0"), packet(src="192.0.2.1"), "allow"),
        (dict(protocol=6, port_min=1000, port_max=1999), packet(dport=999), "drop"),
        (dict(protocol=6, port_min=1000, port_max=1999), packet(dport=1000), "allow"),
        (dict(protocol=6, port_min=1000, port_max=1999), packet(dport=1999), "allow"),
        (dict(protocol=6, port_min=1000, port_max=1999), packet(dport=2000), "drop"),
        (dict(protocol=17, port_min=53, port_max=53), packet(proto=17, dport=53), "allow"),
        (dict(protocol=17, port_min=53, port_max=53), packet(dport=53), "drop"),
        (dict(protocol=1), packet(proto=1, icmp=(3, 1)), "allow"),
        (dict(protocol=1, icmp_type=8), packet(proto=1, icmp=(8, 5)), "allow"),
        (dict(protocol=1, icmp_type=8, icmp_code=0), packet(proto=1, icmp=(8, 5)), "drop"),
        (dict(protocol=1, icmp_type=8, icmp_code=0), packet(proto=1, icmp=(0, 0)), "drop"),
        (dict(protocol=47), packet(proto=47), "allow"),
        (dict(), packet("fd00::9", "fd00::5"), "drop"),  # IPv4 is the default ethertype
        (dict(ethertype="IPv6", ip_prefix="fd00::/64"), packet("fd00::9", "fd00::5"), "allow"),
        (dict(ethertype="IPv6", ip_prefix="fd00::/64"), packet("fd01::9", "fd00::5"), "drop"),
        (
            dict(ethertype="IPv6", protocol=58, icmp_type=128),
            packet("fd00::9", "fd00::5", 58, icmp=(128, 0)),
            "allow",
        ),
        (
            dict(ethertype="IPv6", protocol=58, icmp_type=128),
            packet("fd00::9", "fd00::5", 58, icmp=(129, 0)),
            "drop",
        ),
    ],
)
def test_one_allow_rule_admits_exactly_its_traffic(
    kw: dict[str, object], pkt: dict[str, object], expected: str
) -> None:
    assert verdict(all_flows(port(rule(100, **kw))), pkt) == expected


def test_egress_prefixes_are_the_destination_ingress_prefixes_the_source() -> None:
    out = packet(src="10.0.0.5", dst="192.0.2.7", dport=443)
    fl = all_flows(port(rule(100, "egress", DENY, ip_prefix="192.0.2.0/24"), rule(200, "egress")))
    assert verdict(fl, out, "egress") == "drop"
    assert verdict(fl, {**out, "dst": "198.51.100.7"}, "egress") == "allow"
    fl = all_flows(port(rule(100, "ingress", DENY, ip_prefix="192.0.2.0/24"), rule(200)))
    assert verdict(fl, {**out, "src": "192.0.2.9", "dst": "10.0.0.5"}) == "drop"
    assert verdict(fl, out) == "allow"  # 192.0.2.7 as the destination is not the remote side


def test_unmatchable_ports_never_widen_an_allow_only_a_deny() -> None:
    dccp80 = dict(protocol=33, port_min=80, port_max=80)  # OVS cannot match DCCP ports
    assert acl.port_flows(port(rule(100, **dccp80))) == acl.port_flows(port())
    fl = all_flows(port(rule(100, action=DENY, **dccp80), rule(200)))
    assert verdict(fl, packet(proto=33, dport=443)) == "drop"
    assert verdict(fl, SSH) == "allow"


def test_rules_the_api_refuses_are_refused() -> None:
    for bad in (
        rule(0),
        rule(32767),
        rule(100, action="reject"),
        rule(100, direction="sideways"),
        rule(100, protocol=6, icmp_type=8),
        rule(100, protocol=1, port_min=1, port_max=2),
        rule(100, ethertype="IPv6", ip_prefix="10.0.0.0/8"),
    ):
        with pytest.raises(ValueError):
            acl.port_flows(port(bad))
    with pytest.raises(ValueError, match="given twice"):
        acl.port_flows(port(rule(100, protocol=6), rule(100, protocol=17)))
    acl.port_flows(port(rule(100, "ingress"), rule(100, "egress")))  # one number per direction


# -- counts and ownership ------------------------------------------------------------------------
def test_flows_are_four_defaults_plus_each_rules_masks() -> None:
    rules = (
        rule(1, protocol=6, port_min=22, port_max=22),
        rule(2, "egress", DENY, protocol=6, port_min=1, port_max=1023),  # 10 masks
        rule(3, protocol=1, icmp_type=8),
        rule(32766, ethertype="IPv6"),
    )
    fl = acl.port_flows(port(*rules))
    assert len(fl) == 4 + 1 + len(sg.port_range_masks(1, 1023)) + 1 + 1 == 17
    assert {f.priority for f in fl} == {39999, 39998, 39997, 7234, acl.PRIO_DEFAULT}
    assert len({f.key for f in fl}) == len(fl)


def test_changing_one_rule_changes_only_its_flows() -> None:
    rules = [rule(n, protocol=6, port_min=n, port_max=n) for n in range(100, 150)]
    before = set(acl.port_flows(port(*rules)))
    rules[10] = rules[10]._replace(action=DENY, port_max=rules[10].port_min + 7)
    after = set(acl.port_flows(port(*rules)))
    assert len(before - after) == 1
    assert len(after - before) == len(sg.port_range_masks(110, 117)) == 3
    inserted = set(acl.port_flows(port(*rules, rule(125, "egress"))))
    assert inserted - after == {Flow(flows.EGRESS_ACL, 39875, "reg6=5,ip", "goto_table:20")}


def test_each_port_owns_its_acl_flows_under_a_kind_of_its_own() -> None:
    kinds = {flows.KIND_STATIC, flows.KIND_PORT, flows.KIND_NETWORK, flows.KIND_NEIGHBOR}
    kinds |= {sg.KIND_SG_PORT, sg.KIND_ADDRESS_SET, sg.KIND_SET_MEMBER}
    assert acl.KIND_ACL_PORT not in kinds
    ports = [port(rule(100), ofport=n) for n in (3, 4)] + [
        port(rule(100), ofport=6, security=False)
    ]
    owned = acl.host_flows(ports)
    assert list(owned) == [flows.cookie(acl.KIND_ACL_PORT, p.id) for p in ports]
    assert [len(fl) for fl in owned.values()] == [5, 5, 0]
    keys = [f.key for fl in owned.values() for f in fl]
    assert len(keys) == len(set(keys))


# -- real OVS ------------------------------------------------------------------------------------
@pytest.mark.ovs
def test_ovs_takes_acl_and_security_group_flows_and_the_acl_decides_first(bridge: Host) -> None:
    web = [rule(1000 + 10 * i, protocol=6, port_min=8000 + i, port_max=8000 + i) for i in range(40)]
    rules = (
        rule(100, action=DENY, protocol=6, port_min=22, port_max=22, ip_prefix="10.9.0.0/16"),
        rule(200, protocol=6, port_min=22, port_max=22),
        rule(300, protocol=6, port_min=1024, port_max=65535),
        *web,
        rule(100, "egress", DENY, protocol=17, port_min=53, port_max=53),
        rule(200, "egress"),
    )
    groups = sg.SecurityGroup(
        "g", True, (sg.SgRule("ingress", "IPv4", 6, 22, 22), sg.SgRule("egress", "IPv4"))
    )
    acl_ports = [port(*rules, ofport=n) for n in range(1, 51)]
    sg_ports = [sg.SgPort(p.id, p.ofport, (groups,)) for p in acl_ports]
    owned = {**acl.host_flows(acl_ports), **sg.host_flows(sg_ports, [])}
    lines = [f.text(ck) for ck, fl in owned.items() for f in fl]
    lines += [f.text(flows.cookie(flows.KIND_STATIC)) for f in flows.static_flows()]
    # traces enter from LOCAL: with reg7 set at ingress (55), else at egress (15)
    lines += [f"table=0,priority=2,in_port=LOCAL,reg7=0,actions=goto_table:{flows.EGRESS_ACL}"]
    lines += [f"table=0,priority=1,in_port=LOCAL,actions=goto_table:{flows.INGRESS_ACL}"]
    with tempfile.NamedTemporaryFile("w", suffix=".flows") as fh:
        fh.write("\n".join(lines) + "\n")
        fh.flush()
        bridge.ofctl("-O", "OpenFlow14", "--bundle", "add-flows", bridge.mgmt(), fh.name)
    acl_count = sum(len(fl) for fl in acl.host_flows(acl_ports).values())
    assert acl_count == 50 * (4 + 2 + len(sg.port_range_masks(1024, 65535)) + 40 + 2)
    assert len(bridge.dump_flows()) == len(lines)

    def trace(flow: str) -> tuple[str, str]:
        """(trace text, datapath actions) with conntrack answering new connections."""
        out = bridge.appctl(
            "ofproto/trace", "br-int", f"in_port=LOCAL,{flow}", "--ct-next", "trk,new"
        )
        return out, out.rsplit("Datapath actions: ", 1)[1].strip()

    ssh = "reg7=7,tcp,nw_src=10.9.1.1,nw_dst=10.0.0.7,tp_dst=22"
    text, actions = trace(ssh)  # the security group allows ssh, ACL rule 100 denies it first
    assert actions == "drop" and "55. tcp,reg7=0x7,nw_src=10.9.0.0/16,tp_dst=22" in text
    assert "priority 39900" in text and "\n60." not in text
    assert trace(ssh.replace("10.9.1.1", "10.8.1.1"))[1] == "ct(commit,zone=7,mark=0x1/0x1)"
    text, actions = trace(ssh.replace("tp_dst=22", "tp_dst=8013"))  # ACL 300 allows, SG does not
    assert actions == "drop" and "priority 39700" in text and "61. reg7=0x7, priority 1" in text
    assert trace("reg6=3,udp,nw_dst=10.0.0.53,udp_dst=53")[1] == "drop"
    assert trace("reg6=3,udp,nw_dst=10.0.0.53,udp_dst=54")[1] == "ct(commit,zone=3)"
    text = trace("reg7=7,arp,arp_op=1")[0]  # non-IP passes the ACL table by its default
    assert "55. priority 0" in text and "60. arp,reg7=0x7, priority 105" in text
