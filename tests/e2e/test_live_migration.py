"""Live migration on real packets (`binding-extended`), the way Nova drives it: an inactive
binding on the destination, the VIF plugged there while the VM still runs on the source, the
guest switching over, the binding activated, the source's binding deleted. `alcor audit` is
clean with the destination holding the inactive port; a VM on a third host pings the
migrating VM 50 times a second across the switch: at most a few replies may be lost, the VM is
reached on the destination afterwards, the source holds nothing of it, and the audit is clean
again."""

from __future__ import annotations

import re
import time

import pytest

from alcor.agent import flows
from alcor.lab.lab import Lab
from alcor.lab.server_process import AlcorServer
from tests.e2e.conftest import assert_audit_clean
from tests.e2e.neutron import Api, Scratch
from tests.e2e.traffic import ping_bg, ping_result
from tests.support.waiting import wait_for

pytestmark = pytest.mark.ovs

CIDR = "10.7.0.0/24"
INTERVAL = 0.02  # seconds between pings: 50 a second
MAX_LOST = 25  # half a second of pings


def _port_flows(lab: Lab, host: str, port_id: str) -> list[str]:
    ck = flows.cookie(flows.KIND_PORT, port_id)
    return [f for f in lab.hosts[host].dump_flows() if f"cookie={ck:#x}," in f]


def _local_delivery(lab: Lab, host: str, mac: str) -> bool:
    """Whether `host` delivers frames for `mac` to a local port (table L2_FORWARD)."""
    found = lab.hosts[host].dump_flows(f"table={flows.L2_FORWARD}")
    return any(f"dl_dst={mac}" in f and f"resubmit(,{flows.INGRESS_ACL})" in f for f in found)


def test_live_migration_during_ping(
    api: Api, lab: Lab, server: AlcorServer, scratch: Scratch
) -> None:
    src, dst, third = "h1", "h2", "h3"
    net = scratch.network("mig", CIDR, "10.7.0.1")
    vm_port = scratch.port(net["id"], src, "10.7.0.10", "fa:16:3e:07:00:10")
    peer_port = scratch.port(net["id"], third, "10.7.0.20", "fa:16:3e:07:00:20")
    vm = scratch.vm("migrating", src, vm_port)
    peer = scratch.vm("peer", third, peer_port)
    pid = vm_port["id"]
    api.wait_status(pid, "ACTIVE")
    api.wait_status(peer_port["id"], "ACTIVE")
    assert peer.ping("10.7.0.10"), "no path before the migration"

    # Nova's conductor: an inactive binding on the destination
    made = api.call("POST", f"/v2.0/ports/{pid}/bindings", {"binding": {"host": dst}})
    assert made["binding"]["status"] == "INACTIVE"
    # os-vif on the destination, then Nova waits until it is programmed there
    vm.plug_at(lab.hosts[dst])
    wait_for(lambda: _port_flows(lab, dst, pid), 20, "the destination to program the VIF")
    assert not _local_delivery(lab, dst, vm.mac), "an inactive binding claimed the port"
    assert api.port_status(pid) == "ACTIVE"
    assert_audit_clean(server)  # the destination holds the inactive port as intent says

    pinger = ping_bg(peer, "10.7.0.10", count=int(8 / INTERVAL), interval=INTERVAL)
    try:
        time.sleep(1.0)
        # the guest runs on the destination; Nova activates its binding at once
        vm.switch_to(lab.hosts[dst])
        lab.save()
        api.call("PUT", f"/v2.0/ports/{pid}/bindings/{dst}/activate")
        api.call("DELETE", f"/v2.0/ports/{pid}/bindings/{src}")
    finally:
        out = ping_result(pinger, timeout=60)
    found = re.search(r"(\d+) packets transmitted, (\d+) received", out)
    assert found, out
    sent, received = int(found[1]), int(found[2])
    assert sent - received <= MAX_LOST, out

    api.wait_status(pid, "ACTIVE")
    port = api.get("port", pid)
    assert port["binding:host_id"] == dst
    bindings = api.call("GET", f"/v2.0/ports/{pid}/bindings")["bindings"]
    assert [(b["host"], b["status"]) for b in bindings] == [(dst, "ACTIVE")]
    assert peer.ping("10.7.0.10"), "the VM is not reached on the destination"
    assert _local_delivery(lab, dst, vm.mac)
    # the source holds nothing of it: no VIF, no flows of the port, no local delivery
    wait_for(lambda: not _port_flows(lab, src, pid), 20, "the source to drop the port")
    assert not _local_delivery(lab, src, vm.mac)
    ifaces = lab.hosts[src].vsctl("--columns=external_ids", "list", "Interface")
    assert pid not in ifaces
    assert_audit_clean(server)
