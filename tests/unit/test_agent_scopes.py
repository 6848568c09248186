"""Address scopes as flows: a router routes only between interfaces of one scope."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from alcor.agent import flows, nat, physnets, routing
from alcor.southbound.protocol import goalstate_pb2 as pb
from tests.unit.test_agent_routing import iface, router


def _scoped(*scopes: str) -> pb.RouterState:
    found = router()
    for i, scope in zip(found.interfaces, scopes, strict=True):
        i.address_scope_id = scope
    return found


def _routes(found: list[flows.Flow]) -> dict[str, str]:
    """destination -> match of each route flow."""
    return {
        f.match.rsplit("=", 1)[1]: f.match
        for f in found
        if f.table == flows.ROUTING and f.priority >= routing.PRIO_ROUTE
    }


def test_one_scope_routes_as_before() -> None:
    plain = routing.router_flows(router(), 7, {"n1", "n2", "n3"})
    same = routing.router_flows(_scoped("a", "a", "a"), 7, {"n1", "n2", "n3"})
    assert plain == same
    assert routing.scope_bits(_scoped("a", "a", "a")) == {}
    assert not [f for f in plain if "reg3" in f.match + f.actions]


def test_routes_match_the_scope_of_the_interface_they_lead_to() -> None:
    scoped = _scoped("a", "b", "")
    bits = routing.scope_bits(scoped)
    assert bits == {"": 1, "a": 2, "b": 4}
    found = routing.router_flows(scoped, 7, {"n1", "n2", "n3"})
    dispatch = {f.match: f.actions for f in found if f.table == flows.DISPATCH}
    n1 = next(a for m, a in dispatch.items() if "tun_id=100" in m)
    assert n1.startswith("load:0x2->NXM_NX_REG3[],")
    routes = _routes(found)
    assert "reg3=0x2/0x2" in routes["10.1.0.0/24"]
    assert "reg3=0x4/0x4" in routes["10.2.0.0/24"]
    assert "reg3=0x4/0x4" in routes["10.9.0.0/16"]  # via the interface in scope b
    assert "reg3=0x1/0x1" in routes["fd03::/64"]


def test_translated_packets_reach_every_scope() -> None:
    bridge = physnets.Bridge("br-ex", physnets.PHYSNET_KEY, 3)
    state = _scoped("a", "b", "")
    state.gateway.CopyFrom(
        pb.RouterGateway(
            ip_address="203.0.113.10",
            mac_address="fa:16:3e:00:00:99",
            enable_snat=True,
            snat_host="h1",
            physical_network="external",
        )
    )
    found = nat.snat_flows(state, 7, "h1", 9, nat.SnatHost(bridge, None))
    back = [f for f in found if "resubmit" in f.actions]
    assert back and all(f"load:{routing.ALL_SCOPES:#x}->NXM_NX_REG3[]" in f.actions for f in back)


@pytest.mark.skipif(shutil.which("ovs-ofctl") is None, reason="needs ovs-ofctl")
def test_every_scoped_flow_parses() -> None:
    state = _scoped("a", "b", "")
    state.interfaces.append(iface(4, "n4", 400))
    for flow in routing.router_flows(state, 7, {"n1", "n2", "n3", "n4"}):
        cmd = ["ovs-ofctl", "-O", "OpenFlow14", "parse-flow", flow.text(1)]
        subprocess.run(cmd, check=True, capture_output=True)
