"""A flat provider network on real packets: an admin's external network on the physical
network `external` (the lab's outside world, reached by every host through its br-ex), VMs on
two hosts that get DHCP leases, reach each other through the external segment (not a tunnel)
and reach the "internet" namespace that is the subnet's gateway."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from alcor.agent import flows, physnets
from alcor.lab.lab import EXTERNAL_ADDRESS, Lab
from alcor.lab.netns import run
from alcor.lab.vm import Vm
from tests.e2e.neutron import Api, Scratch

pytestmark = pytest.mark.ovs

GATEWAY = EXTERNAL_ADDRESS.split("/")[0]  # 203.0.113.1, the ext namespace
KEY = physnets.keys(["external"])["external"]  # the only mapping of the lab's agents


def mac(n: int) -> str:
    return f"fa:16:3e:00:0e:{n:02x}"


def ip(n: int) -> str:
    return f"203.0.113.{n}"


def packets(flow: str) -> int:
    found = re.search(r"n_packets=(\d+)", flow)
    assert found, flow
    return int(found.group(1))


@pytest.fixture(scope="module")
def ext(api: Api, lab: Lab) -> Iterator[tuple[dict[str, Any], dict[str, Vm]]]:
    """The flat external network, fv1 on h1 and fv2 on h2."""
    scratch = Scratch(api, lab)
    try:
        net = scratch.network(
            "ext",
            "203.0.113.0/24",
            GATEWAY,
            {
                "provider:network_type": "flat",
                "provider:physical_network": "external",
                "router:external": True,
            },
            allocation_pools=[{"start": ip(100), "end": ip(199)}],
        )
        vms = {}
        for name, host, n in (("fv1", "h1", 101), ("fv2", "h2", 102)):
            port = scratch.port(net["id"], host, ip(n), mac(n))
            vms[name] = scratch.vm(name, host, port)
        for vm in vms.values():
            api.wait_status(vm.port_id, "ACTIVE")
        yield net, vms
    finally:
        scratch.cleanup()


def test_flat_network_leases_and_active_ports(
    api: Api, ext: tuple[dict[str, Any], dict[str, Vm]]
) -> None:
    net, vms = ext
    assert net["provider:network_type"] == "flat" and net["mtu"] == 1500
    lease = vms["fv1"].lease()
    assert lease["ip"] == ip(101) and lease["router"] == GATEWAY and lease["mtu"] == "1500"
    assert vms["fv2"].lease()["ip"] == ip(102)
    assert all(api.port_status(vm.port_id) == "ACTIVE" for vm in vms.values())


def test_vms_reach_each_other_through_the_external_segment(
    lab: Lab, ext: tuple[dict[str, Any], dict[str, Vm]]
) -> None:
    _, vms = ext
    patch = {
        name: int(h.vsctl("get", "Interface", "int-br-ex", "ofport"))
        for name, h in lab.hosts.items()
    }
    classify = f"in_port={patch['h2']},vlan_tci=0x0000/0x1fff"
    before = [f for f in lab.hosts["h2"].dump_flows(f"table={flows.CLASSIFY}") if classify in f]
    assert vms["fv1"].ping(ip(102)) and vms["fv2"].ping(ip(101))
    after = [f for f in lab.hosts["h2"].dump_flows(f"table={flows.CLASSIFY}") if classify in f]
    assert before and after and packets(after[0]) > packets(before[0])  # came in from br-ex
    # the segment's bridge learnt both VMs, each behind its host's br-ex
    fdb = run(["bridge", "fdb", "show", "br", "exbr"], ns=lab.segment_ns)
    assert re.search(rf"{mac(101)} dev ex-h1 ", fdb) and re.search(rf"{mac(102)} dev ex-h2 ", fdb)
    # no tunnel flow (nor tunnel classification) for the flat network; h3 serves it not at all
    for name, host in lab.hosts.items():
        mine = [f for f in host.dump_flows() if f"tun_id={KEY:#x}" in f or f"{KEY:#x}->" in f]
        assert bool(mine) == (name != "h3"), (name, mine)
        tunnel = host.vsctl("get", "Interface", "vxlan-tun", "ofport").strip()
        tunnelish = ("tun_dst", f"output:{tunnel}", f"in_port={tunnel},")
        assert not any(t in f for f in mine for t in tunnelish), mine


def test_vms_reach_the_internet_namespace(
    lab: Lab, ext: tuple[dict[str, Any], dict[str, Vm]]
) -> None:
    _, vms = ext
    for vm in vms.values():
        assert vm.ping(GATEWAY), vm.name
    neigh = run(["ip", "neigh", "show", "dev", "eth0"], ns=lab.external_ns)
    assert mac(101) in neigh and mac(102) in neigh  # the real gateway answered, saw them


def test_agents_and_lab_report_the_outside_world(api: Api, lab: Lab) -> None:
    for host in lab.hosts:
        assert api.agents()[host]["configurations"]["bridge_mappings"] == {"external": "br-ex"}
    out = subprocess.run(
        [sys.executable, "-m", "alcor", "lab", "status", "--prefix", lab.prefix, "--json"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    external = json.loads(out)["external"]
    assert external == {
        "namespace": f"{lab.prefix}-ext",
        "address": "203.0.113.1/24",
        "physical_network": "external",
        "bridge": "br-ex",
    }
