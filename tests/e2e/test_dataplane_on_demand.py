"""Neighbours on demand on real packets: hosts of an on-demand network hold no neighbour
until their VMs talk, learn it from the first packet (same network, a MAC, a routed next hop,
an address only a VM itself answers for), forget it when the port goes or its traffic stops,
and the audit stays clean."""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from alcor.agent import flows
from alcor.lab.lab import Lab
from alcor.lab.server_process import AlcorServer
from tests.e2e.conftest import assert_audit_clean, lab_up, serving
from tests.e2e.neutron import Api, Scratch
from tests.support.waiting import wait_for

pytestmark = pytest.mark.ovs

IDLE = 4  # seconds a learnt neighbour lives without traffic (the agents' setting here)
ON_DEMAND = {"alcor:neighbor_resolution": "on_demand"}


@pytest.fixture(scope="module")
def server() -> Iterator[AlcorServer]:
    with serving() as srv:
        yield srv


@pytest.fixture(scope="module")
def lab(server: AlcorServer, api: Api) -> Iterator[Lab]:
    os.environ["ALCOR_NEIGHBOR_IDLE_TIMEOUT"] = str(IDLE)  # the lab's agents inherit it
    try:
        with lab_up(server, api, "d") as lab:
            yield lab
    finally:
        del os.environ["ALCOR_NEIGHBOR_IDLE_TIMEOUT"]


def neighbor_flows(lab: Lab, host: str, port_id: str) -> list[str]:
    ck = flows.cookie(flows.KIND_NEIGHBOR, port_id)
    return [f for f in lab.hosts[host].dump_flows() if f"cookie={ck:#x}," in f]


def boot(scratch: Scratch, name: str, host: str, net: dict[str, Any], ip: str, mac: str, **kw: Any):
    port = scratch.port(net["id"], host, ip, mac, **kw)
    vm = scratch.vm(name, host, port)
    assert vm.lease().get("ip") == ip, vm.lease()
    return vm, port


def test_the_mode_is_an_admin_attribute(api: Api, scratch: Scratch) -> None:
    net = scratch.network("mode", "10.61.0.0/24", "10.61.0.1", ON_DEMAND)
    assert net["alcor:neighbor_resolution"] == "on_demand"
    path = f"/v2.0/networks/{net['id']}"
    bad = api.http.put(path, json={"network": {"alcor:neighbor_resolution": "sometimes"}})
    assert bad.status_code == 400, bad.text
    member = {"X-Project-Id": f"{scratch.lab.prefix}-member", "X-Roles": "member"}
    body = {"network": {"name": f"{scratch.lab.prefix}-m", **ON_DEMAND}}
    refused = api.http.post("/v2.0/networks", json=body, headers=member)
    assert refused.status_code == 403, refused.text
    own = api.http.post("/v2.0/networks", json={"network": {"name": "m"}}, headers=member)
    assert own.status_code == 201, own.text
    try:
        assert "alcor:neighbor_resolution" not in own.json()["network"]
    finally:
        api.delete("network", own.json()["network"]["id"])


def test_neighbours_are_learnt_by_the_first_packet_and_forgotten(
    api: Api, lab: Lab, scratch: Scratch, server: AlcorServer
) -> None:
    net = scratch.network("od", "10.62.0.0/24", "10.62.0.1", ON_DEMAND)
    a, _ = boot(scratch, "oda", "h1", net, "10.62.0.10", "fa:16:3e:62:00:10")
    # b holds a second address only it answers for (an allowed pair): its ARP is flooded
    b, pb = boot(
        scratch,
        "odb",
        "h2",
        net,
        "10.62.0.20",
        "fa:16:3e:62:00:20",
        allowed_address_pairs=[{"ip_address": "10.62.0.200"}],
    )
    c, pc = boot(scratch, "odc", "h3", net, "10.62.0.30", "fa:16:3e:62:00:30")
    b.x("ip", "addr", "add", "10.62.0.200/24", "dev", "eth0")
    assert neighbor_flows(lab, "h1", pb["id"]) == []  # nothing preloaded
    assert neighbor_flows(lab, "h1", pc["id"]) == []

    started = time.monotonic()
    assert a.ping("10.62.0.20", count=1, wait=2), "first packet to an unknown neighbour"
    first = time.monotonic() - started
    learnt = neighbor_flows(lab, "h1", pb["id"])
    assert any("idle_timeout=4" in f for f in learnt), learnt
    assert neighbor_flows(lab, "h1", pc["id"]) == []  # only what a talks to
    assert first < 2.0
    url = lab.hosts["h1"].metrics_url
    assert url is not None
    counted = httpx.get(url, timeout=10).text
    assert re.search(r'alcor_agent_neighbor_misses_total\{kind="arp"\} [1-9]', counted), counted
    assert re.search(r'alcor_agent_neighbor_resolutions_total\{outcome="learnt"\} [1-9]', counted)
    assert a.ping("10.62.0.200", count=2), "an address the server does not know: flooded"
    assert c.ping("10.62.0.10", count=2)

    # the port goes: the host that learnt it forgets it (invalidation on its own subject)
    scratch.lab.remove_vm("odc")
    scratch.vms.remove("odc")
    api.delete("port", pc["id"])
    scratch.ports.remove(pc["id"])
    wait_for(lambda: not neighbor_flows(lab, "h1", pc["id"]), 10, "h1 to forget the deleted port")

    # no traffic for IDLE seconds: the entry expires and is asked for again when needed
    wait_for(lambda: not neighbor_flows(lab, "h1", pb["id"]), 3 * IDLE + 5, "b's entry to expire")
    assert a.ping("10.62.0.20", count=2)
    assert neighbor_flows(lab, "h1", pb["id"])
    assert_audit_clean(server)


def test_routed_next_hops_are_learnt_on_demand(
    api: Api, lab: Lab, scratch: Scratch, server: AlcorServer
) -> None:
    left = scratch.network("odl", "10.63.1.0/24", "10.63.1.1", ON_DEMAND)
    right = scratch.network("odr", "10.63.2.0/24", "10.63.2.1", ON_DEMAND)
    subnets = {s["network_id"]: s["id"] for s in api.call("GET", "/v2.0/subnets")["subnets"]}
    scratch.router("odrt", [subnets[left["id"]], subnets[right["id"]]])
    x, _ = boot(scratch, "odx", "h1", left, "10.63.1.10", "fa:16:3e:63:01:10")
    y, py = boot(scratch, "ody", "h3", right, "10.63.2.10", "fa:16:3e:63:02:10")
    for vm, gw in ((x, "10.63.1.1"), (y, "10.63.2.1")):
        vm.x("ip", "route", "replace", "default", "via", gw)
    assert neighbor_flows(lab, "h1", py["id"]) == []
    assert wait_for(lambda: x.ping("10.63.2.10", count=1, wait=2), 20, "x to reach y routed")
    assert any("table=41" in f for f in neighbor_flows(lab, "h1", py["id"]))
    assert y.ping("10.63.1.10", count=2)
    assert_audit_clean(server)
