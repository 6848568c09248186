"""Neighbours on demand on real packets: hosts of an on-demand network hold no neighbour
until their VMs talk, learn it from the first packet (same network, a MAC, a routed next hop,
an address only a VM itself answers for), forget it when the port goes or its traffic stops,
and the audit stays clean."""

from __future__ import annotations

import os
import re
import sys
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
            # h3's agent asks over NATS only: first packets go both ways of resolving
            lab.hosts["h3"].stop_agent()
            os.environ["ALCOR_RESOLVE_DIRECT"] = "false"
            try:
                lab.hosts["h3"].start_agent(server.nats_url)
            finally:
                del os.environ["ALCOR_RESOLVE_DIRECT"]
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
    # the packet went on from the answer; the entry's flows land just after it
    learnt = wait_for(lambda: neighbor_flows(lab, "h1", pb["id"]), 5, "b's entry on h1")
    assert any("idle_timeout=4" in f for f in learnt), learnt
    assert neighbor_flows(lab, "h1", pc["id"]) == []  # only what a talks to
    assert first < 2.0
    url = lab.hosts["h1"].metrics_url
    assert url is not None
    counted = httpx.get(url, timeout=10).text
    assert re.search(r'alcor_agent_neighbor_misses_total\{kind="arp"\} [1-9]', counted), counted
    assert re.search(r'alcor_agent_neighbor_resolutions_total\{outcome="learnt"\} [1-9]', counted)
    # asked on the server's direct channel, which answered
    assert re.search(r'alcor_agent_direct_resolves_total\{outcome="asked"\} [1-9]', counted)
    assert 'alcor_agent_direct_resolves_total{outcome="missed"} 0.0' in counted
    assert a.ping("10.62.0.200", count=2), "an address the server does not know: flooded"
    assert c.ping("10.62.0.10", count=2)  # h3 asks over NATS
    url = lab.hosts["h3"].metrics_url
    assert url is not None
    counted = httpx.get(url, timeout=10).text
    assert re.search(r'alcor_agent_neighbor_resolutions_total\{outcome="learnt"\} [1-9]', counted)
    assert "alcor_agent_direct_resolves" not in counted

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
    wait_for(
        lambda: any("table=41" in f for f in neighbor_flows(lab, "h1", py["id"])),
        5,
        "y's next-hop entry on h1",
    )
    assert y.ping("10.63.1.10", count=2)
    assert_audit_clean(server)


# A guest that ARPs for many addresses at once (raw socket, 2,000 a second: a lab VIF's packet
# socket holds ~280 frames, see benchmarks/dataplane_ondemand.py) and prints the addresses
# answered within a few seconds.
ARP_BURST = r"""
import socket, struct, sys, time
src, first, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0806))
s.bind(("eth0", 0))
mac = s.getsockname()[4]
head = b"\xff" * 6 + mac + b"\x08\x06" + struct.pack("!HHBBH", 1, 0x0800, 6, 4, 1)
for i in range(count):
    if i % 10 == 0:
        time.sleep(0.005)
    s.send(head + mac + socket.inet_aton(src) + b"\0" * 6 + struct.pack("!I", first + i))
answered = set()
s.settimeout(0.5)
end = time.time() + 5
while time.time() < end and len(answered) < count:
    try:
        frame = s.recv(64)
    except socket.timeout:
        continue
    if frame[20:22] == b"\0\2":
        answered.add(socket.inet_ntoa(frame[28:32]))
print(len(answered))
"""


def test_many_destinations_missed_at_once_are_all_learnt(
    api: Api, lab: Lab, scratch: Scratch, server: AlcorServer
) -> None:
    count = 250
    net = scratch.network("odm", "10.64.0.0/22", "10.64.0.1", ON_DEMAND)
    a, _ = boot(scratch, "odm", "h1", net, "10.64.0.10", "fa:16:3e:64:00:10")
    ports = [
        {
            "network_id": net["id"],
            "fixed_ips": [{"ip_address": f"10.64.{1 + i // 250}.{1 + i % 250}"}],
            "binding:host_id": ("h2", "h3")[i % 2],
            "device_owner": "compute:nova",
        }
        for i in range(count)
    ]
    created = api.call("POST", "/v2.0/ports", {"ports": ports})["ports"]
    scratch.ports.extend(p["id"] for p in created)
    url = lab.hosts["h1"].metrics_url
    assert url is not None

    def learnt() -> int:
        found = re.search(
            r'neighbor_resolutions_total\{outcome="learnt"\} (\S+)', httpx.get(url).text
        )
        return int(float(found.group(1))) if found else 0

    before = learnt()
    first = int.from_bytes(bytes([10, 64, 1, 1]), "big")
    out = a.x(sys.executable, "-c", ARP_BURST, "10.64.0.10", str(first), str(count))
    assert int(out.strip()) == count, "every ARP answered, none lost on the way to the agent"
    wait_for(lambda: learnt() - before >= count, 20, f"h1 to learn {count} neighbours")
    assert_audit_clean(server)
