"""Neighbour flows as OpenFlow bytes: the same flows as the text pipeline, and minimal diffs.

The byte encoding is checked against ovs-ofctl itself: `ofp-print` of our flow_mod must equal
`parse-flow` of the text flow from `flows.spec_flows` (skipped without ovs-ofctl).
"""

from __future__ import annotations

import itertools
import re
import shutil
import subprocess
from collections.abc import Iterable

import pytest

from alcor.agent import flows, ofwire, security
from alcor.agent.flows import NeighborSpec
from alcor.agent.reconciler import NeighborUpdate, NetworkNeighbors, Reconciler, SpecStream
from alcor.southbound.protocol import goalstate_pb2 as pb

needs_ofctl = pytest.mark.skipif(shutil.which("ovs-ofctl") is None, reason="needs ovs-ofctl")


def entry(pid: str = "p9", **kw: object) -> pb.NeighborState:
    base: dict[str, object] = dict(
        port_id=pid,
        network_id="n1",
        mac_address="FA:16:3E:00:00:09",
        host_id="h2",
        tunnel_ip="198.18.0.2",
        fixed_ips=[pb.FixedIp(ip_address="10.0.0.9")],
    )
    base.update(kw)
    return pb.NeighborState(**base)  # type: ignore[arg-type]


def _print(message: bytes) -> str:
    out = subprocess.run(
        ["ovs-ofctl", "ofp-print", message.hex()],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return re.sub(r"\(xid=0x[0-9a-f]+\)", "", out).strip()


def _parse(text: str) -> str:
    out = subprocess.run(
        ["ovs-ofctl", "-O", "OpenFlow14", "parse-flow", text],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    line = next(ln for ln in out.splitlines() if ln.startswith("OFPT_FLOW_MOD"))
    return re.sub(r"\(xid=0x[0-9a-f]+\)", "", line).strip()


def _messages(spec: NeighborSpec, vni: int = 1000, ofport: int = 7) -> list[bytes]:
    index = NetworkNeighbors(vni, ofport)
    out: list[bytes] = []
    index.change("p9", spec, itertools.count(1), out)
    return out


@needs_ofctl
@pytest.mark.parametrize(
    "neighbor, remote",
    [
        (entry(), True),
        (entry(), False),
        (
            entry(
                fixed_ips=[
                    pb.FixedIp(ip_address="10.0.0.9"),
                    pb.FixedIp(ip_address="fd00::9"),
                    pb.FixedIp(ip_address="10.0.1.9"),
                ],
                allowed_address_pairs=[
                    pb.AddressPair(ip_address="10.0.0.99", mac_address="fa:16:3e:00:00:99")
                ],
            ),
            True,
        ),
    ],
)
@pytest.mark.parametrize("routed", [False, True])
def test_bytes_encode_exactly_the_text_flows(
    neighbor: pb.NeighborState, remote: bool, routed: bool
) -> None:
    spec = flows.neighbor_spec(neighbor, remote, routed=routed)
    text = [f.text(spec.cookie) for f in flows.spec_flows(spec, 1000, 7)]
    assert text == [
        f.text(spec.cookie) for f in flows.neighbor_flows(neighbor, 1000, 7, remote, routed)
    ]
    wire = _messages(spec)
    assert len(wire) == len(text) == len(spec.ips) * (1 + routed) + len(spec.l2_macs)
    assert [_print(m) for m in wire] == [_parse(t) for t in text]


@needs_ofctl
def test_deletes_are_strict_on_the_same_match_and_leave_is_by_cookie_kind_and_vni() -> None:
    enc = ofwire.NeighborEncoder(1000, 7)
    ip, mac = bytes([10, 0, 0, 9]), flows.mac_bytes("fa:16:3e:00:00:09")
    assert _print(enc.arp_delete(1, ip)).endswith(
        "DEL_STRICT table:31 priority=100,arp,tun_id=0x3e8,arp_tpa=10.0.0.9,arp_op=1 actions=drop"
    )
    assert _print(enc.l2_delete(2, mac)).endswith(
        "DEL_STRICT table:50 priority=100,reg0=0/0x1,tun_id=0x3e8,dl_dst=fa:16:3e:00:00:09"
        " actions=drop"
    )
    bulk = _print(enc.delete_all(3, flows.L2_FORWARD))
    assert "DEL table:50" in bulk and "tun_id=0x3e8" in bulk
    assert "cookie:0x400000000000000/0xff00000000000000" in bulk


def test_arp_answer_is_one_action_and_table_32_builds_the_reply() -> None:
    (arp,) = flows.spec_flows(flows.neighbor_spec(entry(), False), 100, 7)
    assert arp.actions == "set_field:fa:16:3e:00:00:09->arp_tha,goto_table:32"
    reply = {f.match: f.actions for f in flows.static_flows() if f.table == flows.ARP_REPLY}
    assert reply[""] == "drop" and reply["arp"].endswith("IN_PORT")
    assert "move:NXM_NX_ARP_THA[]->NXM_OF_ETH_SRC[]" in reply["arp"]


def test_index_sends_only_what_changed_and_never_deletes_a_key_held_by_another() -> None:
    index = NetworkNeighbors(100, 7)
    xids = itertools.count(1)
    a = flows.neighbor_spec(entry("a"), True)
    out: list[bytes] = []
    index.change("a", a, xids, out)
    assert len(out) == 2 and len(index) == 2
    out = []
    index.change("a", a, xids, out)
    assert out == []  # unchanged: nothing
    moved = flows.neighbor_spec(entry("a", tunnel_ip="198.18.0.3"), True)
    index.change("a", moved, xids, out)
    assert len(out) == 1 and out[0][1] == ofwire.OFPT_FLOW_MOD  # only the L2 flow again
    # "b" claims a's IP (stale duplicate): it takes the ARP key; a's removal leaves it alone
    b = flows.neighbor_spec(entry("b", mac_address="fa:16:3e:00:00:0b"), True)
    index.change("b", b, xids, [])
    out = []
    index.change("a", None, xids, out)
    assert len(out) == 1  # a's L2 flow only; the ARP answer for 10.0.0.9 is b's now
    assert index.arp == {bytes([10, 0, 0, 9]): "b"} and "a" not in index.specs


def _update(specs: dict[str, NeighborSpec], vni: int = 100) -> NeighborUpdate:
    def stream(pids: Iterable[str] | None) -> SpecStream:
        return iter([(pid, specs.get(pid)) for pid in (specs if pids is None else pids)])

    return NeighborUpdate(vni, 7, list(specs), stream)


def test_leaving_a_network_is_one_bulk_delete_per_table_unless_its_vni_is_shared() -> None:
    rec = Reconciler(ofctl=None)  # type: ignore[arg-type]
    specs = {
        f"p{i}": flows.neighbor_spec(
            entry(
                f"p{i}",
                mac_address=f"fa:16:3e:00:01:{i:02x}",
                fixed_ips=[pb.FixedIp(ip_address=f"10.0.1.{i}")],
            ),
            True,
        )
        for i in range(50)
    }
    sent = [
        m
        for batch in rec._neighbor_messages({"n1": _update(specs)}, itertools.count(1))
        for m in batch
    ]
    assert len(sent) == 100 and len(rec.networks["n1"]) == 100
    gone = [m for batch in rec._neighbor_messages({"n1": None}, itertools.count(1)) for m in batch]
    assert len(gone) == 3 and "n1" not in rec.networks
    assert {m[8 + 8 + 8 + 1] for m in gone} == {ofwire.OFPFC_DELETE}  # flow_mod command
    list(
        rec._neighbor_messages(
            {"n1": _update(specs), "n2": _update({}, vni=100)}, itertools.count(1)
        )
    )
    strict = [
        m for batch in rec._neighbor_messages({"n1": None}, itertools.count(1)) for m in batch
    ]
    assert len(strict) == 100  # another network holds VNI 100: exactly our flows, strictly


# -- security-group member-address flows -------------------------------------------------------
def _member_flows() -> dict[int, list[flows.Flow]]:
    """Dimension-1 flows of two remote groups, both directions, IPv4 and IPv6, host addresses
    and CIDRs (allowed address pairs), one address listed by both groups."""
    ids = security.conj_ids(
        security.ConjKey(g, d, e, True)
        for g in ("a", "b")
        for d in (security.INGRESS, security.EGRESS)
        for e in (security.IPV4, security.IPV6)
    )
    sets = [
        security.AddressSet("a", ("10.0.0.7", "10.1.0.0/16", "fd00::7", "10.0.0.8")),
        security.AddressSet("b", ("10.0.0.8", "fd00:1::/64")),
    ]
    return {
        flows.cookie(security.KIND_SET_MEMBER, addr): flow_list
        for addr, flow_list in security.address_flows(sets, ids).items()
    }


@needs_ofctl
def test_member_bytes_encode_exactly_the_text_flows() -> None:
    members = _member_flows()
    texts = [(ck, f) for ck, fl in members.items() for f in fl]
    assert len(texts) == 2 * 5 and any(f.actions.count("conjunction") == 2 for _, f in texts)
    for ck, flow in texts:
        assert _print(ofwire.member_add(1, ck, flow)) == _parse(flow.text(ck))
        table, priority, match = flow.key
        assert _print(ofwire.member_delete(2, flow.key)).endswith(
            f"DEL_STRICT table:{table} priority={priority},{match} actions=drop"
        )


def test_member_encoding_refuses_any_other_flow_shape() -> None:
    for bad in (
        flows.Flow(21, 60, "reg6=5,ip,nw_dst=10.0.0.7", "conjunction(1,1/2)"),
        flows.Flow(21, 60, "ip,nw_dst=fd00::7", "conjunction(1,1/2)"),
        flows.Flow(21, 60, "ip,nw_dst=10.0.0.7", "conjunction(1,1/2),goto_table:30"),
        flows.Flow(21, 60, "ip,nw_dst=10.0.0.7", "drop"),
    ):
        with pytest.raises(ValueError):
            ofwire.member_add(1, 7, bad)


def test_member_only_rounds_stream_the_same_diff_and_rule_rounds_stay_bundled() -> None:
    rec = Reconciler(ofctl=None)  # type: ignore[arg-type]
    members = _member_flows()
    assert Reconciler.streamed(members) == members
    port = {flows.cookie(flows.KIND_PORT, "p1"): [flows.Flow(0, 100, "in_port=5", "drop")]}
    assert Reconciler.streamed({**members, **port}) == members  # other owners: unrelated
    sg = {flows.cookie(security.KIND_SG_PORT, "p1"): [flows.Flow(21, 1, "reg6=5", "drop")]}
    assert Reconciler.streamed({**members, **sg}) == {}  # conjunction ids may move: atomic
    rec._commit(members)
    first, *rest = members
    changed = {
        first: [],
        rest[0]: [f._replace(actions="conjunction(9,1/2)") for f in members[rest[0]]],
    }
    lines = rec.diff(changed)
    sent = rec._member_messages(changed, itertools.count(1))
    assert len(sent) == len(lines) == len(members[first]) + len(members[rest[0]])
    assert [m[25] for m in sent] == [
        ofwire.OFPFC_DELETE_STRICT if ln.startswith("delete_strict") else ofwire.OFPFC_ADD
        for ln in lines
    ]
