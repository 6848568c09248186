"""Port forwarding as flows: the range masks, the translations, and who programs what."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from alcor.agent import flows, forwarding, nat, physnets
from alcor.southbound.protocol import goalstate_pb2 as pb
from tests.unit.test_agent_nat import _router as nat_router

BRIDGE = physnets.Bridge("br-ex", physnets.PHYSNET_KEY, 3)
TUNNEL = 9


def _router(*pfs: pb.PortForwardingState, snat_host: str = "h1") -> pb.RouterState:
    """test_agent_nat's router (interface 10.31.0.1/24 on VNI 100) with these forwardings."""
    found = nat_router(snat_host)
    found.port_forwardings.extend(pfs)
    return found


def _pf(
    ext: tuple[int, int], internal: tuple[int, int], proto: str = "tcp"
) -> pb.PortForwardingState:
    return pb.PortForwardingState(
        id=f"pf{ext[0]}",
        floatingip_id="f1",
        floating_ip_address="203.0.113.60",
        mac_address="fa:16:3f:00:71:3c",
        protocol=proto,
        external_port_min=ext[0],
        external_port_max=ext[1],
        internal_ip_address="10.31.0.5",
        internal_port_min=internal[0],
        internal_port_max=internal[1],
    )


def _covered(masks: list[str]) -> set[int]:
    out: set[int] = set()
    for m in masks:
        value, mask = (int(x, 16) for x in m.split("/"))
        out.update(p for p in range(1 << 16) if p & mask == value)
    return out


@pytest.mark.parametrize("lo,hi", [(1, 1), (22, 22), (1000, 1009), (1, 65535), (8000, 8191)])
def test_port_masks_cover_exactly_the_range(lo: int, hi: int) -> None:
    masks = forwarding.port_masks(lo, hi)
    assert _covered(masks) == set(range(lo, hi + 1))
    assert len(masks) <= 30


def _nat_new(found: list[flows.Flow]) -> list[flows.Flow]:
    return [f for f in found if f.table == flows.NAT and "+new" in f.match]


def test_translations_one_to_n_and_n_to_n() -> None:
    where = nat.SnatHost(BRIDGE, "02:00:00:00:00:01")
    one = forwarding.forwarding_flows(_router(_pf((2222, 2222), (22, 22))), 7, "h1", TUNNEL, where)
    [new] = _nat_new(one)
    assert "tp_dst=0x8ae/0xffff" in new.match and "nat(dst=10.31.0.5:22)" in new.actions
    assert f"table={flows.ROUTING}" in new.actions and "->NXM_NX_REG5[]" in new.actions
    same = _nat_new(
        forwarding.forwarding_flows(
            _router(_pf((3000, 3007), (3000, 3007))), 7, "h1", TUNNEL, where
        )
    )
    assert len(same) == 1 and "nat(dst=10.31.0.5)," in same[0].actions
    fan_in = _nat_new(
        forwarding.forwarding_flows(_router(_pf((4000, 4007), (80, 80))), 7, "h1", TUNNEL, where)
    )
    assert len(fan_in) == 1 and "nat(dst=10.31.0.5:80)" in fan_in[0].actions
    shifted = _nat_new(
        forwarding.forwarding_flows(
            _router(_pf((5000, 5002), (6000, 6002))), 7, "h1", TUNNEL, where
        )
    )
    assert sorted(f.match.rsplit("=", 1)[1] for f in shifted) == ["5000", "5001", "5002"]
    assert any("nat(dst=10.31.0.5:6002)" in f.actions for f in shifted)


def test_snat_host_answers_other_hosts_send_replies_there() -> None:
    router = _router(_pf((2222, 2222), (22, 22)))
    here = forwarding.forwarding_flows(router, 7, "h1", TUNNEL, nat.SnatHost(BRIDGE, None))
    assert any("arp_tpa=203.0.113.60" in f.match for f in here if f.table == flows.CLASSIFY)
    assert not [f for f in here if f.actions.endswith("output:3")]  # next hop not known yet
    tunnel_in = next(f for f in here if f.priority == forwarding.PRIO_TUNNEL_IN)
    assert "tun_id=100" in tunnel_in.match and "nw_src=10.31.0.5" in tunnel_in.match
    other = forwarding.forwarding_flows(router, 7, "h2", TUNNEL, None)
    [reply] = other
    assert reply.table == flows.ROUTING and reply.priority == nat.PRIO_EGRESS
    assert reply.match == "tcp,reg5=0x7,nw_src=10.31.0.5,tp_src=0x16/0xffff"
    assert reply.actions == f"set_field:198.18.0.3->tun_dst,output:{TUNNEL}"
    assert forwarding.forwarding_flows(_router(snat_host="h1"), 7, "h2", TUNNEL, None) == []
    assert forwarding.addresses(router, "h1") == [("pf:f1", "fa:16:3f:00:71:3c", "203.0.113.60")]
    assert forwarding.addresses(router, "h2") == []


@pytest.mark.skipif(shutil.which("ovs-ofctl") is None, reason="needs ovs-ofctl")
def test_every_forwarding_flow_parses() -> None:
    router = _router(_pf((2222, 2222), (22, 22)), _pf((5000, 5002), (6000, 6002), "udp"))
    where = nat.SnatHost(BRIDGE, "02:00:00:00:00:01")
    for flow in forwarding.forwarding_flows(router, 7, "h1", TUNNEL, where):
        cmd = ["ovs-ofctl", "-O", "OpenFlow14", "parse-flow", flow.text(1)]
        subprocess.run(cmd, check=True, capture_output=True)
