"""Security groups as flows (alcor.agent.security): verdicts, counts, conjunctions, conntrack.

Verdicts come from a small model of OVS's table lookup (`lookup`: plain flows by priority,
conjunctive flows only above the best plain match, then the conj_id flow, as
lib/classifier.c does) walking tables 20/21 or 60/61, so the cases read as packets in and
verdicts out. One test installs a large flow set into a real OVS bridge and traces packets
through it (`@pytest.mark.ovs`).
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import os
import re
import secrets
import shutil
import tempfile
from collections.abc import Iterable, Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from alcor.agent import flows
from alcor.agent import security as sg
from alcor.agent.conntrack import Conntrack
from alcor.agent.flows import Flow
from alcor.agent.security import AddressSet, SecurityGroup, SgPort, SgRule
from alcor.lab.host import Host
from alcor.lab.lab import Lab

R = SgRule
OFPORT = 5


def group(*rules: SgRule, gid: str = "g", stateful: bool = True) -> SecurityGroup:
    return SecurityGroup(gid, stateful, rules)


def port(*groups: SecurityGroup, ofport: int = OFPORT, security: bool = True) -> SgPort:
    return SgPort(f"p{ofport}", ofport, groups, security)


def all_flows(ports: list[SgPort], sets: Iterable[AddressSet] = ()) -> list[Flow]:
    out = [f for fl in sg.host_flows(ports, sets).values() for f in fl]
    tables = (flows.EGRESS_SG, flows.EGRESS_SG_CT, flows.INGRESS_SG, flows.INGRESS_SG_CT)
    return out + [f for f in flows.static_flows() if f.table in tables]


# -- a model of OVS's lookup, enough for these tables ---------------------------------------------
SHORT = {
    "ip": ("ip", None),
    "ipv6": ("ipv6", None),
    "arp": ("arp", None),
    "tcp": ("ip", 6),
    "tcp6": ("ipv6", 6),
    "udp": ("ip", 17),
    "udp6": ("ipv6", 17),
    "sctp": ("ip", 132),
    "sctp6": ("ipv6", 132),
    "icmp": ("ip", 1),
    "icmp6": ("ipv6", 58),
}


def packet(
    src: str = "10.0.0.9",
    dst: str = "10.0.0.5",
    proto: int | None = 6,
    dport: int = 22,
    sport: int = 40000,
    icmp: tuple[int, int] = (8, 0),
    dl_type: str | None = None,
) -> dict[str, object]:
    v6 = ":" in src
    return {
        "dl_type": dl_type or ("ipv6" if v6 else "ip"),
        "nw_proto": proto,
        "src": src,
        "dst": dst,
        "tp_src": sport,
        "tp_dst": dport,
        "icmp_type": icmp[0],
        "icmp_code": icmp[1],
    }


def _field_ok(name: str, value: str, pkt: dict[str, object]) -> bool:
    if name in ("reg6", "reg7", "conj_id"):
        return pkt.get(name) == int(value, 0)
    if name == "ct_state":
        state = pkt.get("ct_state", set())
        assert isinstance(state, set)
        return all((f in state) == (sign == "+") for sign, f in re.findall(r"([+-])(\w+)", value))
    if name == "nw_proto":
        return pkt["nw_proto"] == int(value)
    if name in ("nw_src", "nw_dst", "ipv6_src", "ipv6_dst"):
        addr = ipaddress.ip_address(str(pkt["src" if name.endswith("src") else "dst"]))
        return addr in ipaddress.ip_network(value)
    if name in ("tp_src", "tp_dst"):
        v, _, m = value.partition("/")
        return (int(str(pkt[name])) & int(m or "0xffff", 0)) == int(v, 0)
    if name in ("icmp_type", "icmpv6_type", "icmp_code", "icmpv6_code"):
        return pkt[name.replace("v6", "")] == int(value)
    raise AssertionError(f"field {name} not modelled")


def matches(flow: Flow, pkt: dict[str, object]) -> bool:
    for token in filter(None, flow.match.split(",")):
        if token in SHORT:
            dl_type, proto = SHORT[token]
            if pkt["dl_type"] != dl_type or (proto is not None and pkt["nw_proto"] != proto):
                return False
        else:
            name, value = token.split("=", 1)
            if not _field_ok(name, value, pkt):
                return False
    return True


CONJ = re.compile(r"conjunction\((\d+),(\d)/(\d)\)")


def lookup(table: list[Flow], pkt: dict[str, object]) -> Flow | None:
    """OVS's answer: the best plain match, unless a conjunction completes at a higher
    priority, in which case the best plain flow matching with conj_id set."""
    hits = [f for f in table if matches(f, pkt)]
    plain = [f for f in hits if not CONJ.match(f.actions)]
    hard = max(plain, key=lambda f: f.priority, default=None)
    floor = hard.priority if hard else -1
    for prio in sorted({f.priority for f in hits if f not in plain and f.priority > floor})[::-1]:
        dims: dict[int, set[int]] = {}
        for f in hits:
            if f.priority == prio and f not in plain:
                for cid, k, n in CONJ.findall(f.actions):
                    dims.setdefault(int(cid), set()).add(int(k))
                    assert n == "2"
        for cid in sorted(c for c, ks in dims.items() if ks == {1, 2}):
            with_id = {**pkt, "conj_id": cid}
            found = [f for f in table if not CONJ.match(f.actions) and matches(f, with_id)]
            return max(found, key=lambda f: f.priority)
    return hard


def verdict(
    fl: list[Flow], pkt: dict[str, object], direction: str = "ingress", state: str = "new"
) -> str:
    """'commit', 'pass' or 'drop' for a packet leaving (egress) or reaching (ingress) port 5."""
    side = sg.SIDES[direction]
    pkt = {**pkt, side.reg: OFPORT, "conj_id": 0}
    table, committed = side.entry, False
    while True:
        flow = lookup([f for f in fl if f.table == table], pkt)
        assert flow is not None, f"no flow in table {table}"
        acts = flow.actions
        if acts == "drop":
            return "drop"
        if acts.startswith("ct(table="):
            table = int(acts[len("ct(table=") :].split(",")[0])
            pkt["ct_state"] = {"trk", state}
            continue
        committed = acts.startswith("ct(commit")
        if acts.endswith(side.accept):
            return "commit" if committed else "pass"
        table = int(acts.rsplit("goto_table:", 1)[1])


# -- semantics per case ---------------------------------------------------------------------------
def test_a_port_with_port_security_and_no_groups_gets_only_what_neutron_lets_through() -> None:
    fl = all_flows([port()])
    assert verdict(fl, packet(), "ingress") == "drop"
    assert verdict(fl, packet(), "egress") == "drop"
    assert verdict(fl, packet(dl_type="arp"), "ingress") == "pass"
    assert verdict(fl, packet(dl_type="arp"), "egress") == "pass"  # table 10 checked it
    assert verdict(fl, packet(proto=17, sport=67, dport=68), "ingress") == "pass"  # DHCP offer
    ns = packet("fd00::9", "fd00::5", proto=58, icmp=(135, 0))  # conntrack calls NS invalid
    assert verdict(fl, ns, "ingress") == verdict(fl, ns, "egress") == "pass"
    assert verdict(fl, packet(proto=1), "ingress", state="est") == "pass"
    assert verdict(fl, packet(proto=1), "ingress", state="inv") == "drop"


def test_a_port_without_port_security_has_no_flows_and_passes() -> None:
    p = port(group(R("ingress", "IPv4", 6, 22, 22)), security=False)
    assert sg.port_flows(p, {}) == []
    fl = all_flows([p])
    assert verdict(fl, packet(dport=80)) == verdict(fl, packet(), "egress") == "pass"


def test_bans_hold_whatever_the_rules_allow() -> None:
    fl = all_flows([port(group(R("egress", "IPv4"), R("egress", "IPv6")))])
    assert verdict(fl, packet(proto=17, sport=67, dport=68), "egress") == "drop"
    ra = packet("fd00::5", "ff02::1", proto=58, icmp=(134, 0))
    assert verdict(fl, ra, "egress") == "drop"
    assert verdict(fl, packet(proto=17, sport=5000, dport=53), "egress") == "commit"


@pytest.mark.parametrize(
    ("rule", "pkt", "expected"),
    [
        (R("ingress", "IPv4", 6, 22, 22, "10.0.0.0/24"), packet(), "commit"),
        (R("ingress", "IPv4", 6, 22, 22, "10.0.0.0/24"), packet(src="10.0.1.9"), "drop"),
        (R("ingress", "IPv4", 6, 22, 22, "10.0.0.0/24"), packet(dport=23), "drop"),
        (R("ingress", "IPv4", 6, 22, 22, "10.0.0.0/24"), packet(proto=17), "drop"),
        (R("ingress", "IPv4", 6, 22, 22, "10.0.0.9/24"), packet(src="10.0.0.200"), "commit"),
        (R("ingress", "IPv4", 6, 22, 22, "0.0.0.0/0"), packet(src="192.0.2.1"), "commit"),
        (R("ingress", "IPv4", 6, 1000, 1999), packet(dport=999), "drop"),
        (R("ingress", "IPv4", 6, 1000, 1999), packet(dport=1000), "commit"),
        (R("ingress", "IPv4", 6, 1000, 1999), packet(dport=1999), "commit"),
        (R("ingress", "IPv4", 6, 1000, 1999), packet(dport=2000), "drop"),
        (R("ingress", "IPv4", 132, 5000, 5001), packet(proto=132, dport=5001), "commit"),
        (R("ingress", "IPv4", 17), packet(proto=17, dport=9), "commit"),
        (R("ingress", "IPv4"), packet(proto=47), "commit"),
        (R("ingress", "IPv4"), packet("fd00::9", "fd00::5"), "drop"),  # ethertype holds
        (R("ingress", "IPv6", 6, 22, 22, "fd00::/64"), packet("fd00::9", "fd00::5"), "commit"),
        (R("ingress", "IPv6", 6, 22, 22, "fd00::/64"), packet("fd01::9", "fd00::5"), "drop"),
        (R("ingress", "IPv4", 1), packet(proto=1, icmp=(3, 1)), "commit"),
        (R("ingress", "IPv4", 1, 8), packet(proto=1, icmp=(8, 5)), "commit"),
        (R("ingress", "IPv4", 1, 8, 0), packet(proto=1, icmp=(8, 5)), "drop"),
        (R("ingress", "IPv4", 1, 8, 0), packet(proto=1, icmp=(0, 0)), "drop"),
        (R("ingress", "IPv6", 58, 128), packet("fd00::9", "fd00::5", 58, icmp=(128, 0)), "commit"),
        (R("ingress", "IPv6", 58, 128), packet("fd00::9", "fd00::5", 58, icmp=(129, 0)), "drop"),
        (R("ingress", "IPv4", 33, 80, 80), packet(proto=33, dport=443), "commit"),  # as Neutron
        (R("ingress", "IPv4", 0), packet(proto=6), "drop"),  # 0 is a protocol, not "any"
        (R("egress", "IPv4", 6, 443, 443, "192.0.2.0/24"), packet(dst="192.0.2.7"), "drop"),
    ],
)
def test_one_rule_admits_exactly_its_traffic(
    rule: SgRule, pkt: dict[str, object], expected: str
) -> None:
    assert verdict(all_flows([port(group(rule))]), pkt, "ingress") == expected


def test_egress_rules_match_the_destination_and_continue_to_dispatch() -> None:
    fl = all_flows([port(group(R("egress", "IPv4", 6, 443, 443, "192.0.2.0/24")))])
    out = packet(src="10.0.0.5", dst="192.0.2.7", dport=443)
    assert verdict(fl, out, "egress") == "commit"
    assert verdict(fl, {**out, "dst": "198.51.100.7"}, "egress") == "drop"
    assert verdict(fl, out, "ingress") == "drop"  # an egress rule says nothing about ingress
    assert verdict(fl, out, "ingress", state="est") == "pass"  # its replies


def test_remote_group_rules_admit_members_and_only_them() -> None:
    rules = group(R("ingress", "IPv4", 6, 22, 22, remote_group_id="web"))
    members = AddressSet("web", ("10.0.0.7", "10.0.1.0/24", "fd00::7", "0.0.0.0/0"))
    fl = all_flows([port(rules)], [members])
    assert verdict(fl, packet(src="10.0.0.7")) == "commit"
    assert verdict(fl, packet(src="10.0.1.200")) == "commit"
    assert verdict(fl, packet(src="10.0.0.8")) == "drop"  # the /0 pair is not "everyone"
    assert verdict(fl, packet(src="10.0.0.7", dport=23)) == "drop"
    assert verdict(fl, packet(src="10.0.0.7"), state="est") == "pass"
    assert verdict(fl, packet(src="10.0.0.7"), "egress") == "drop"
    empty = all_flows([port(rules)], [])
    assert verdict(empty, packet(src="10.0.0.7")) == "drop"  # no members: nobody


def test_groups_sharing_an_address_merge_and_stay_apart() -> None:
    a = group(R("ingress", "IPv4", 6, 22, 22, remote_group_id="ga"), gid="a")
    b = group(R("ingress", "IPv4", 6, 80, 80, remote_group_id="gb"), gid="b")
    sets = [AddressSet("ga", ("10.0.0.7", "10.0.0.8")), AddressSet("gb", ("10.0.0.7", "10.0.0.9"))]
    fl = all_flows([port(a, b)], sets)
    shared = [f for f in fl if f.match == "ip,nw_src=10.0.0.7"]
    assert len(shared) == 1
    assert len(CONJ.findall(shared[0].actions)) == 2
    assert verdict(fl, packet(src="10.0.0.7", dport=22)) == "commit"
    assert verdict(fl, packet(src="10.0.0.7", dport=80)) == "commit"
    assert verdict(fl, packet(src="10.0.0.8", dport=22)) == "commit"
    assert verdict(fl, packet(src="10.0.0.8", dport=80)) == "drop"  # ga's member, gb's rule
    assert verdict(fl, packet(src="10.0.0.9", dport=22)) == "drop"


def test_rules_sharing_a_match_merge_their_conjunctions_into_one_flow() -> None:
    p = port(
        group(
            R("ingress", "IPv4", 6, 22, 22, remote_group_id="ga"),
            R("ingress", "IPv4", 6, 22, 22, remote_group_id="gb"),
            R("ingress", "IPv4", 6, 20, 23, remote_group_id="ga"),
            R("ingress", "IPv4", 6, 20, 23, remote_group_id="gb"),
        )
    )
    ids = sg.conj_ids(sg.conj_keys([p]))
    dim2 = [f for f in sg.port_flows(p, ids) if f.priority == sg.PRIO_CONJ]
    assert sorted(f.match.split(",")[-1] for f in dim2) == ["tp_dst=0x14/0xfffc", "tp_dst=22"]
    assert all(len(CONJ.findall(f.actions)) == 2 for f in dim2)


def test_stateless_groups_skip_conntrack_and_match_every_packet() -> None:
    g = group(R("ingress", "IPv4", 6, 22, 22, remote_group_id="web"), stateful=False)
    fl = all_flows([port(g)], [AddressSet("web", ("10.0.0.7",))])
    assert not any("ct(" in f.actions or "ct_state" in f.match for f in fl)
    assert verdict(fl, packet(src="10.0.0.7")) == "pass"
    assert verdict(fl, packet(src="10.0.0.7", sport=22, dport=40000), "egress") == "drop"
    assert verdict(fl, packet(src="10.0.0.8"), state="est") == "drop"  # no conntrack to trust
    assert verdict(fl, packet(dl_type="arp")) == "pass"


def test_mixed_statefulness_is_taken_as_stateful_with_a_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    p = port(group(R("ingress", "IPv4", 6, 22, 22)), group(gid="s", stateful=False))
    with caplog.at_level(logging.WARNING):
        fl = all_flows([p])
    assert verdict(fl, packet()) == "commit"
    assert "mixes stateful and stateless" in caplog.text


def test_rules_neutron_refuses_are_refused() -> None:
    for bad in (
        R("sideways", "IPv4"),
        R("ingress", "IPv4", 6, 22, None),
        R("ingress", "IPv4", 6, 30, 20),
        R("ingress", "IPv4", 47, 1, 2),
        R("ingress", "IPv4", 1, None, 0),
        R("ingress", "IPv6", 6, 22, 22, "10.0.0.0/8"),
    ):
        with pytest.raises(ValueError):
            sg.port_flows(port(group(bad)), {})


# -- conjunctions, ids, ownership -----------------------------------------------------------------
def test_conj_ids_are_stable_nonzero_and_collisions_get_distinct_ids(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    keys = [
        sg.ConjKey(f"g{i}", d, e, s)
        for i in range(20)
        for d in sg.SIDES
        for e in sg.L3
        for s in (True, False)
    ]
    ids = sg.conj_ids(keys)
    assert ids == sg.conj_ids(reversed(keys)) and 0 not in ids.values()
    assert len(set(ids.values())) == len(keys)
    monkeypatch.setattr(sg, "_natural_id", lambda key: sg.CONJ_ID_SPACE)
    clashing = sg.conj_ids(keys[:3])
    assert sorted(clashing.values()) == [1, 2, sg.CONJ_ID_SPACE]  # wraps, never 0
    assert clashing == sg.conj_ids(keys[2::-1])


def test_every_key_has_one_owner_and_cookies_name_their_kind() -> None:
    g = group(
        R("ingress", "IPv4", 6, 22, 22, remote_group_id="web"),
        R("egress", "IPv6", remote_group_id="web"),
        R("ingress", "IPv4", 6, 22, 22, "10.0.0.0/8"),
    )
    ports = [port(g, ofport=n) for n in (5, 6)] + [port(g, ofport=7, security=False)]
    owned = sg.host_flows(ports, [AddressSet("web", ("10.0.0.7", "fd00::7"))])
    keys = [f.key for fl in owned.values() for f in fl]
    assert len(keys) == len(set(keys))
    kinds = {flows.cookie_kind(ck) for ck, fl in owned.items() if fl}
    assert kinds == {sg.KIND_SG_PORT, sg.KIND_ADDRESS_SET, sg.KIND_SET_MEMBER}
    assert kinds.isdisjoint(
        {flows.KIND_STATIC, flows.KIND_PORT, flows.KIND_NETWORK, flows.KIND_NEIGHBOR}
    )
    assert owned[flows.cookie(sg.KIND_SG_PORT, "p7")] == []  # removes a port's flows
    assert owned == sg.host_flows(reversed(ports), [AddressSet("web", ("fd00::7", "10.0.0.7"))])


def test_flows_grow_with_rules_plus_members_never_their_product() -> None:
    n_ports, n_rules, n_members = 50, 100, 1000
    plain = [R("ingress", "IPv4", 6, 1000 + i, 1000 + i, "10.9.0.0/16") for i in range(50)]
    remote = [R("ingress", "IPv4", 6, 2000 + i, 2000 + i, remote_group_id="big") for i in range(50)]
    g = group(*plain, *remote)
    members = AddressSet(
        "big", tuple(str(ipaddress.ip_address("10.1.0.0") + i) for i in range(n_members))
    )
    owned = sg.host_flows([port(g, ofport=n + 1) for n in range(n_ports)], [members])
    count = sum(len(fl) for fl in owned.values())
    base = 27  # per stateful port: 10 + 4 in egress, 9 + 4 in ingress
    assert count == n_ports * (base + n_rules) + n_members + 1  # + one conj_id flow
    assert count == 7351 < 25_000 < n_ports * len(remote) * n_members


# -- port ranges as masks -------------------------------------------------------------------------
@settings(max_examples=300, deadline=None)
@given(st.integers(0, 0xFFFF), st.integers(0, 0xFFFF))
def test_port_range_masks_cover_exactly_the_range(a: int, b: int) -> None:
    lo, hi = min(a, b), max(a, b)
    masks = sg.port_range_masks(lo, hi)
    start = lo
    for value, mask in masks:  # contiguous aligned blocks, in order, from lo to hi
        size = (~mask & 0xFFFF) + 1
        assert size & (size - 1) == 0 and value & ~mask & 0xFFFF == 0
        assert value == start
        start = value + size
    assert start == hi + 1
    assert len(masks) <= 30
    for x in {lo - 1, lo, hi, hi + 1, (lo + hi) // 2} & set(range(0x10000)):
        assert any(x & m == v for v, m in masks) == (lo <= x <= hi)


def test_port_range_masks_known_values() -> None:
    assert sg.port_range_masks(22, 22) == [(22, 0xFFFF)]
    assert sg.port_range_masks(0, 0xFFFF) == [(0, 0)]
    assert sg.port_range_masks(1, 0xFFFF)[:2] == [(1, 0xFFFF), (2, 0xFFFE)]
    assert len(sg.port_range_masks(1, 0xFFFF)) == 16
    assert len(sg.port_range_masks(1, 0xFFFE)) == 30


# -- conntrack: parse, re-evaluate, flush ---------------------------------------------------------
# Real `ovs-appctl dpctl/dump-conntrack` lines (and one -m line) from a netdev bridge on OVS
# 3.1.0 with two ports in zones 1 and 2, ingress commits marked, after tcp/udp/icmp in v4/v6
# and raw SCTP/DCCP/UDP-Lite/GRE packets.
DUMP = """\
tcp,orig=(src=fd00::1,dst=fd00::2,sport=37780,dport=8080),reply=(src=fd00::2,dst=fd00::1,sport=8080,dport=37780),zone=1,protoinfo=(state=ESTABLISHED)
icmp,orig=(src=10.0.0.1,dst=10.0.0.2,id=7119,type=8,code=0),reply=(src=10.0.0.2,dst=10.0.0.1,id=7119,type=0,code=0),zone=2,mark=1
udp,orig=(src=fd00::1,dst=fd00::2,sport=35404,dport=5353),reply=(src=fd00::2,dst=fd00::1,sport=5353,dport=35404),zone=2,mark=1
tcp,orig=(src=fd00::1,dst=fd00::2,sport=49840,dport=22),reply=(src=fd00::2,dst=fd00::1,sport=22,dport=49840),zone=2,mark=1,protoinfo=(state=ESTABLISHED)
icmpv6,orig=(src=fd00::1,dst=fd00::2,id=7234,type=128,code=0),reply=(src=fd00::2,dst=fd00::1,id=7234,type=129,code=0),zone=2,mark=1
tcp,orig=(src=10.0.0.1,dst=10.0.0.2,sport=49362,dport=22),reply=(src=10.0.0.2,dst=10.0.0.1,sport=22,dport=49362),zone=1,protoinfo=(state=ESTABLISHED)
icmpv6,orig=(src=fd00::2,dst=fd00::1,id=7457,type=128,code=0),reply=(src=fd00::1,dst=fd00::2,id=7457,type=129,code=0),zone=2
sctp,orig=(src=10.0.0.1,dst=10.0.0.2,sport=0,dport=0),reply=(src=10.0.0.2,dst=10.0.0.1,sport=0,dport=0),zone=2,mark=1
dccp,orig=(src=10.0.0.1,dst=10.0.0.2,sport=0,dport=0),reply=(src=10.0.0.2,dst=10.0.0.1,sport=0,dport=0),zone=2,mark=1
udplite,orig=(src=10.0.0.1,dst=10.0.0.2,sport=0,dport=0),reply=(src=10.0.0.2,dst=10.0.0.1,sport=0,dport=0),zone=2,mark=1
47,orig=(src=10.0.0.1,dst=10.0.0.2,sport=0,dport=0),reply=(src=10.0.0.2,dst=10.0.0.1,sport=0,dport=0),zone=2,mark=1
tcp,orig=(src=10.0.0.1,dst=10.0.0.2,sport=58302,dport=8080),reply=(src=10.0.0.2,dst=10.0.0.1,sport=8080,dport=58302),id=0,zone=2,status=0,mark=1,protoinfo=(state_orig=ESTABLISHED,state_reply=ESTABLISHED,wscale_orig=10,wscale_reply=10,flags_orig=WINDOW_SCALE,flags_reply=WINDOW_SCALE)
"""


def test_parse_conntrack_reads_real_dump_lines() -> None:
    entries = sg.parse_conntrack("ignored header\n" + DUMP)
    assert len(entries) == 12
    assert entries[0] == sg.CtEntry(6, "fd00::1", "fd00::2", 37780, 8080, zone=1)
    assert entries[1] == sg.CtEntry(1, "10.0.0.1", "10.0.0.2", 0, 0, 8, 0, 7119, zone=2, mark=1)
    assert [e.protocol for e in entries[7:11]] == [132, 33, 136, 47]
    assert entries[11] == sg.CtEntry(6, "10.0.0.1", "10.0.0.2", 58302, 8080, zone=2, mark=1)
    assert entries[6].mark == 0  # port 2's own echo out


def test_stale_connections_are_what_the_new_rules_no_longer_admit() -> None:
    entries = sg.parse_conntrack(DUMP)
    rules = group(
        R("ingress", "IPv4", 6, 22, 22, remote_group_id="clients"),
        R("ingress", "IPv6", 6, 22, 22, remote_group_id="clients"),
        R("ingress", "IPv4", 1, 8),
        R("ingress", "IPv4", 132, 9, 9),  # the entry has no ports: protocol and address count
        R("egress", "IPv6", 58),
    )
    p2 = port(rules, ofport=2)
    clients = [AddressSet("clients", ("10.0.0.0/24", "fd00::1"))]
    stale = sg.stale_of_ports(entries, [p2], clients)
    assert {(e.protocol, e.dport) for e in stale} == {
        (17, 5353),
        (58, 0),
        (33, 0),
        (136, 0),
        (47, 0),
        (6, 8080),
    }
    assert all(e.zone == 2 and e.mark for e in stale)  # port 2's own echo out is allowed
    members_gone = sg.stale_of_ports(entries, [p2], [AddressSet("clients", ("10.0.0.0/24",))])
    assert (6, "fd00::1", 22) in {(e.protocol, e.src, e.dport) for e in members_gone}
    assert sg.stale_of_ports(entries, [port(security=False, ofport=2)], clients) == []
    stateless = port(group(stateful=False), ofport=2)
    assert len(sg.stale_of_ports(entries, [stateless], clients)) == 10


def test_flush_args_render_each_entry_and_spare_ovs_versions_that_crash_on_icmpv6() -> None:
    entries = sg.parse_conntrack(DUMP)
    tcp, icmp, icmp6, sctp = (entries[i] for i in (0, 1, 4, 7))
    assert sg.flush_args(tcp, "3.1.0") == [
        "zone=1",
        "ct_ipv6_src=fd00::1,ct_ipv6_dst=fd00::2,ct_nw_proto=6,ct_tp_src=37780,ct_tp_dst=8080",
    ]
    assert sg.flush_args(icmp, "3.1.0") == [
        "zone=2",
        "ct_nw_src=10.0.0.1,ct_nw_dst=10.0.0.2,ct_nw_proto=1,icmp_type=8,icmp_code=0,icmp_id=7119",
    ]
    assert sg.flush_args(sctp, "3.1.0") == [
        "zone=2",
        "ct_nw_src=10.0.0.1,ct_nw_dst=10.0.0.2,ct_nw_proto=132",
    ]
    assert sg.flush_args(icmp6, "3.1.0") is None
    assert sg.flush_args(icmp6, "3.1.5") == [
        "zone=2",
        "ct_ipv6_src=fd00::1,ct_ipv6_dst=fd00::2,ct_nw_proto=58,icmp_type=128,icmp_code=0,icmp_id=7234",
    ]
    safe = {
        v: sg.icmpv6_flush_safe(v)
        for v in ("2.17.9", "3.0.6", "3.0.7", "3.1.0", "3.2.3", "3.3.0", "3.4.0", "3.5")
    }
    assert safe == {
        "2.17.9": False,
        "3.0.6": False,
        "3.0.7": True,
        "3.1.0": False,
        "3.2.3": True,
        "3.3.0": False,
        "3.4.0": True,
        "3.5": True,
    }


@st.composite
def rules(draw: st.DrawFn) -> SgRule:
    """IPv4 rules over a small space, so that packets often hit their edges."""
    protocol = draw(st.sampled_from([None, 6, 17, 1, 47]))
    ports: tuple[int | None, int | None] = (None, None)
    if protocol in (6, 17):
        ports = (draw(st.integers(1, 40)), draw(st.integers(40, 70)))
    elif protocol == 1:
        ports = draw(st.sampled_from([(None, None), (8, None), (8, 0)]))
    prefix = draw(st.sampled_from([None, "10.0.0.0/29", "10.0.0.0/24", "0.0.0.0/0"]))
    remote = draw(st.sampled_from([None, "ga", "gb"])) if prefix is None else None
    direction = draw(st.sampled_from(["ingress", "egress"]))
    return SgRule(direction, "IPv4", protocol, *ports, prefix, remote)


@settings(max_examples=150, deadline=None)
@given(
    st.lists(rules(), max_size=5),
    st.sampled_from(["ingress", "egress"]),
    st.sampled_from([6, 17, 1, 47]),
    st.integers(0, 15),
    st.integers(1, 80),
    st.sampled_from([(8, 0), (8, 1), (0, 0)]),
)
def test_flows_and_the_conntrack_check_agree_on_every_new_connection(
    rule_list: list[SgRule],
    direction: str,
    proto: int,
    host: int,
    dport: int,
    icmp: tuple[int, int],
) -> None:
    p = port(group(*rule_list))
    sets = [AddressSet("ga", ("10.0.0.3", "10.0.0.8/30")), AddressSet("gb", ("10.0.0.3",))]
    remote, local = f"10.0.0.{host}", "10.0.0.200"
    src, dst = (remote, local) if direction == "ingress" else (local, remote)
    pkt = packet(src, dst, proto, dport, icmp=icmp)
    admitted = verdict(all_flows([p], sets), pkt, direction) == "commit"
    is_icmp = proto == 1
    entry = sg.CtEntry(
        proto,
        src,
        dst,
        0 if is_icmp else 40000,
        0 if is_icmp else dport,
        icmp[0] if is_icmp else None,
        icmp[1] if is_icmp else None,
        1 if is_icmp else None,
        zone=OFPORT,
        mark=sg.MARK_INGRESS if direction == "ingress" else 0,
    )
    assert admitted == (sg.stale_of_ports([entry], [p], sets) == [])


# -- real OVS ------------------------------------------------------------------------------------
@pytest.fixture
def bridge() -> Iterator[Host]:
    """A throwaway netdev br-int in a private OVS (lab prefix unique to this run)."""
    tools = ("ovs-vswitchd", "ovsdb-server", "ovs-ofctl", "ovs-appctl", "nft")
    if os.geteuid() != 0 or not all(shutil.which(t) for t in tools):
        pytest.skip("needs root, network namespaces, Open vSwitch and nft")
    lab = Lab("sg" + secrets.token_hex(3))
    try:
        lab.up(1, "", start_agents=False)
        host = lab.hosts["h1"]
        settings = ("datapath_type=netdev", "fail_mode=secure", "protocols=OpenFlow10,OpenFlow14")
        host.vsctl("add-br", "br-int", "--", "set", "bridge", "br-int", *settings)
        yield host
    finally:
        lab.down()


@pytest.mark.ovs
def test_ovs_accepts_every_flow_of_a_large_port_set_and_traces_them(bridge: Host) -> None:
    plain = [R("ingress", "IPv4", 6, 1000 + i, 1000 + 2 * i, "10.9.0.0/16") for i in range(45)]
    remote = [R("ingress", "IPv4", 6, 2000 + i, 2000 + i, remote_group_id="big") for i in range(50)]
    extra = [
        R("egress", "IPv4"),
        R("egress", "IPv6", remote_group_id="big"),
        R("ingress", "IPv6", 58, 128),
        R("ingress", "IPv4", 1, 8, 0),
        R("ingress", "IPv4", 6, 2000, 2049, remote_group_id="big"),
    ]
    g = group(*plain, *remote, *extra)
    members = AddressSet(
        "big",
        (
            *(str(ipaddress.ip_address("10.1.0.0") + i) for i in range(1000)),
            "fd00::7",
            "10.2.0.0/24",
        ),
    )
    ports = [port(g, ofport=n + 1) for n in range(50)] + [
        port(group(gid="s", stateful=False), ofport=51)
    ]
    owned = sg.host_flows(ports, [members])
    lines = [f.text(ck) for ck, fl in owned.items() for f in fl]
    lines += [f.text(flows.cookie(flows.KIND_STATIC)) for f in flows.static_flows()]
    # traces enter from LOCAL: with reg7 set at ingress (60), else at egress (20)
    lines += ["table=0,priority=2,in_port=LOCAL,reg7=0,actions=goto_table:20"]
    lines += ["table=0,priority=1,in_port=LOCAL,actions=goto_table:60"]
    with tempfile.NamedTemporaryFile("w", suffix=".flows") as fh:
        fh.write("\n".join(lines) + "\n")
        fh.flush()
        bridge.ofctl("--bundle", "add-flows", bridge.mgmt(), fh.name)
    assert len(bridge.dump_flows()) == len(lines) > 10_000

    def trace(flow: str, state: str = "trk,new") -> tuple[str, str]:
        """(trace text, datapath actions) once conntrack answered `state`."""
        out = bridge.appctl("ofproto/trace", "br-int", f"in_port=LOCAL,{flow}", "--ct-next", state)
        return out, out.rsplit("Datapath actions: ", 1)[1].strip()

    member = "reg7=7,tcp,nw_src=10.1.2.3,nw_dst=10.0.0.5,tp_dst=2003"
    assert trace(member)[1] == "ct(commit,zone=7,mark=0x1/0x1)"  # port 7 does not exist
    assert trace(member.replace("2003", "2049"))[1].startswith("ct(commit,zone=7")
    assert trace(member.replace("10.1.2.3", "10.2.0.9"))[1].startswith("ct(commit,zone=7")
    text, actions = trace(member.replace("10.1.2.3", "10.3.0.1"))
    assert actions == "drop" and "61. reg7=0x7, priority 1" in text
    assert "61. ct_state=+est+trk,reg7=0x7, priority 190" in trace(member, "trk,est")[0]
    assert trace("reg6=3,ipv6,ipv6_dst=fd00::7")[1] == "ct(commit,zone=3)"
    assert "commit" not in trace("reg6=3,ipv6,ipv6_dst=fd00::8")[1]
    text, actions = trace("reg7=51,tcp,nw_src=10.1.2.3,tp_dst=2003")  # stateless, no rules
    assert actions == "drop" and "ct(" not in text


@pytest.mark.ovs
def test_the_agent_reaches_this_vswitchd_and_cuts_exactly_the_stale_entry(bridge: Host) -> None:
    """`Conntrack` finds the vswitchd of its run directory also when its control socket is
    named `ovs-vswitchd.ctl` (the lab's daemons: the default name has the pid in it)."""

    def commit(sport: int, zone: int) -> None:
        fields = "eth_src=fa:16:3e:00:00:01,eth_dst=fa:16:3e:00:00:02,tcp,nw_ttl=64"
        fields += f",nw_src=10.0.0.1,nw_dst=10.0.0.2,tcp_src={sport},tcp_dst=22,tcp_flags=0x002"
        dump = bridge.ofctl("compose-packet", fields)
        packet = "".join(line.split("  ")[1] for line in dump.splitlines()).replace(" ", "")
        action = f"in_port=LOCAL packet={packet.replace('-', '')} actions=ct(commit,zone={zone})"
        bridge.ofctl("packet-out", bridge.mgmt(), action)

    commit(1001, 5)
    commit(1002, 6)
    ssh_out = group(R("egress", "IPv4", 6, 22, 22))
    ports = [port(ssh_out, ofport=5), port(group(), ofport=6)]
    assert asyncio.run(Conntrack(bridge.dir).cut_stale(ports, [])) == 1
    left = sg.parse_conntrack(bridge.appctl("dpctl/dump-conntrack", "-m"))
    assert [(e.sport, e.zone) for e in left] == [(1001, 5)]
