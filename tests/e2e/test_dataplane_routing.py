"""Distributed routing on real packets: API -> server -> NATS (router subject) -> agents -> OVS.

Two subnets on a router, VMs of both on three hosts (all in their project's default security
group, which admits its members): each VM's gateway answers ARP with the router interface's
MAC and answers ping; VMs of the two subnets reach each other by ping and TCP, across hosts and
on one host, with the TTL one less; an extra route through a VM acting as next hop works; the
interface ports turn ACTIVE; a network ACL deny on one subnet beats the security-group allow
for routed traffic from the other; an agent kill -9 during routed traffic loses no packet;
removing an interface cuts its subnet off.
"""

from __future__ import annotations

import contextlib
import re
import time
from collections.abc import Iterator
from typing import Any

import pytest

from alcor.agent import flows
from alcor.lab.lab import Lab
from alcor.lab.server_process import AlcorServer
from alcor.lab.vm import Vm
from tests.e2e.neutron import Api, ApiError, Scratch
from tests.e2e.test_dataplane import cookie_flows, kill9_and_restart
from tests.e2e.traffic import connect, listening, ping_bg, ping_result
from tests.support.waiting import wait_for

pytestmark = pytest.mark.ovs

LEFT, RIGHT = "10.31.0", "10.32.0"
BEYOND = "10.99.0.1"  # an address behind the next-hop VM (extra route 10.99.0.0/24)


def _subnet_id(api: Api, network_id: str) -> str:
    return str(api.call("GET", f"/v2.0/subnets?network_id={network_id}")["subnets"][0]["id"])


def _interface(api: Api, router_id: str, action: str, subnet_id: str) -> dict[str, Any]:
    return dict(api.call("PUT", f"/v2.0/routers/{router_id}/{action}", {"subnet_id": subnet_id}))


@pytest.fixture(scope="module")
def routed(api: Api, lab: Lab) -> Iterator[dict[str, Any]]:
    """Router with interfaces on LEFT (a: h1) and RIGHT (b: h2, c: h1, hop: h3, the extra
    route's next hop, allowed to source 10.99.0.0/24)."""
    scratch = Scratch(api, lab)
    router = api.create("router", name=f"{lab.prefix}-r")
    subnets: dict[str, str] = {}
    try:
        for side, prefix in (("L", LEFT), ("R", RIGHT)):
            net = scratch.network(side, f"{prefix}.0/24", f"{prefix}.1")
            subnets[side] = _subnet_id(api, net["id"])
            info = _interface(api, router["id"], "add_router_interface", subnets[side])
            subnets[f"{side}-port"] = info["port_id"]
            subnets[f"{side}-net"] = net["id"]
        vms: dict[str, Vm] = {}
        for name, host, side, n, attrs in (
            ("a", "h1", "L", 11, {}),
            ("b", "h2", "R", 12, {}),
            ("c", "h1", "R", 13, {}),
            ("hop", "h3", "R", 14, {"allowed_address_pairs": [{"ip_address": "10.99.0.0/24"}]}),
        ):
            prefix = LEFT if side == "L" else RIGHT
            mac = f"fa:16:3e:00:3{side == 'R':d}:{n:02x}"
            port = scratch.port(subnets[f"{side}-net"], host, f"{prefix}.{n}", mac, **attrs)
            vms[name] = scratch.vm(name, host, port)
            assert vms[name].lease().get("ip") == f"{prefix}.{n}", vms[name].lease()
        for vm in vms.values():
            api.wait_status(vm.port_id, "ACTIVE")
        yield {"router": router, "subnets": subnets, "vms": vms}
    finally:
        for side in ("L", "R"):
            if side in subnets:
                with contextlib.suppress(ApiError):  # a test may have removed it already
                    _interface(api, router["id"], "remove_router_interface", subnets[side])
        api.delete("router", router["id"], missing_ok=True)
        scratch.cleanup()


def _ttl(vm: Vm, target: str) -> int:
    out = vm.x("ping", "-c", "1", "-W", "2", target, check=False)
    found = re.search(r"ttl=(\d+)", out)
    assert found, out
    return int(found.group(1))


def test_interface_ports_turn_active(api: Api, routed: dict[str, Any]) -> None:
    for side in ("L", "R"):
        api.wait_status(routed["subnets"][f"{side}-port"], "ACTIVE")


def test_gateway_answers_arp_with_the_router_mac_and_ping(api: Api, routed: dict[str, Any]) -> None:
    a = routed["vms"]["a"]
    assert a.ping(f"{LEFT}.1")
    interface = api.get("port", routed["subnets"]["L-port"])
    assert interface["mac_address"] in a.x("ip", "neigh", "show", f"{LEFT}.1")
    assert a.ping(f"{RIGHT}.1")  # the router's other address answers too


def test_routed_ping_and_tcp_across_hosts_and_on_one_host_ttl_one_less(
    routed: dict[str, Any],
) -> None:
    vms = routed["vms"]
    for src, dst, ip in (("a", "b", f"{RIGHT}.12"), ("a", "c", f"{RIGHT}.13")):
        assert vms[src].ping(ip), f"{src} -> {dst}"
        assert _ttl(vms[src], ip) == 63
    assert _ttl(vms["b"], f"{LEFT}.11") == 63  # and the way back
    with listening(vms["b"], 5001):
        assert connect(vms["a"], f"{RIGHT}.12", 5001) == "connected"
    with listening(vms["a"], 5002):
        assert connect(vms["c"], f"{LEFT}.11", 5002) == "connected"


def test_extra_route_through_a_vm_as_next_hop(api: Api, routed: dict[str, Any]) -> None:
    vms, router = routed["vms"], routed["router"]
    vms["hop"].x("ip", "addr", "add", f"{BEYOND}/32", "dev", "lo")
    assert not vms["a"].ping(BEYOND, count=1, wait=0.5)
    api.update(
        "router", router["id"], routes=[{"destination": "10.99.0.0/24", "nexthop": f"{RIGHT}.14"}]
    )
    try:
        wait_for(lambda: vms["a"].ping(BEYOND, count=1, wait=0.5), 20, "a -> beyond the hop")
    finally:
        api.update("router", router["id"], routes=[])
    wait_for(lambda: not vms["a"].ping(BEYOND, count=1, wait=0.5), 20, "the route to go")


def test_a_network_acl_deny_beats_a_security_group_allow_between_two_subnets(
    api: Api, routed: dict[str, Any]
) -> None:
    vms, subnets = routed["vms"], routed["subnets"]
    rules = [
        {"direction": "ingress", "number": 10, "action": "deny", "ip_prefix": f"{LEFT}.0/24"},
        {"direction": "ingress", "number": 100, "action": "allow"},
        {"direction": "egress", "number": 100, "action": "allow"},
    ]
    acl = api.create("network_acl", network_id=subnets["R-net"], subnets=[subnets["R"]])
    try:
        for rule in rules:
            api.create("network_acl_rule", network_acl_id=acl["id"], **rule)
        wait_for(
            lambda: not vms["a"].ping(f"{RIGHT}.12", count=1, wait=0.5), 20, "LEFT -> b denied"
        )
        assert vms["c"].ping(f"{RIGHT}.12")  # inside RIGHT: allowed by the same ACL
    finally:
        api.update("network_acl", acl["id"], subnets=[])
        api.delete("network_acl", acl["id"])
    wait_for(lambda: vms["a"].ping(f"{RIGHT}.12", count=1, wait=0.5), 20, "LEFT -> b again")


def test_agent_kill9_during_routed_traffic_loses_no_packet(
    api: Api, lab: Lab, server: AlcorServer, routed: dict[str, Any]
) -> None:
    ping = ping_bg(routed["vms"]["a"], f"{RIGHT}.12", 150)
    try:
        time.sleep(0.5)
        kill9_and_restart(api, lab, server, "h1")
    finally:
        out = ping_result(ping)
    assert " 0% packet loss" in out, out
    rid = routed["router"]["id"]
    wait_for(lambda: cookie_flows(lab, "h1", flows.KIND_ROUTER, rid), 30, "router flows on h1")


def test_removing_an_interface_cuts_its_subnet_off(
    api: Api, lab: Lab, routed: dict[str, Any]
) -> None:
    vms, rid = routed["vms"], routed["router"]["id"]
    assert vms["a"].ping(f"{RIGHT}.12")
    _interface(api, rid, "remove_router_interface", routed["subnets"]["R"])
    wait_for(lambda: not vms["a"].ping(f"{RIGHT}.12", count=1, wait=0.5), 20, "RIGHT to be cut off")
    assert not vms["b"].ping(f"{LEFT}.11", count=1, wait=0.5)
    assert vms["a"].ping(f"{LEFT}.1")  # the remaining interface still answers
