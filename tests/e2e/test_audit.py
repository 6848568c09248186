"""The state audit on the real lab: every host in step after real work, and a host that missed
a change (the database changed behind the compiler's back, as if the message had been lost)
found by the server's audit and resynced by itself, back in step, its VM still reachable.

This module runs its own server with a short down time (heartbeats every 4 s) and an audit
every second, so that the whole loop fits in a test.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from typing import Any

import pytest

from alcor.lab.lab import EXTERNAL_ADDRESS, Lab
from alcor.lab.server_process import AlcorServer
from tests.e2e.conftest import audit_cli
from tests.e2e.neutron import Api, Scratch
from tests.support.waiting import wait_for

pytestmark = pytest.mark.ovs


SERVER_ENV = {"ALCOR_AGENT_DOWN_TIME": "10", "ALCOR_AUDIT_INTERVAL": "1"}


def _resyncs(lab: Lab, host: str = "h2") -> int:
    with open(lab.hosts[host].agent_log) as fh:
        return fh.read().count("full resync")


def _states(api: Api) -> dict[str, str]:
    return {a["host"]: a["state"] for a in api.call("GET", "/v2.0/alcor/audit")["audit"]}


@pytest.fixture(scope="module")
def work(api: Api, lab: Lab) -> Iterator[dict[str, Any]]:
    """Two VMs in the default group (remote-group rules: address sets) on a routed network."""
    scratch = Scratch(api, lab)
    router = api.create("router", name=f"{lab.prefix}-ra")
    try:
        net = scratch.network("A", "10.51.0.0/24", "10.51.0.1")
        subnet = api.call("GET", f"/v2.0/subnets?network_id={net['id']}")["subnets"][0]
        api.call(
            "PUT",
            f"/v2.0/routers/{router['id']}/add_router_interface",
            {"subnet_id": subnet["id"]},
        )
        vms = {}
        for name, host, n in (("a", "h1", 11), ("b", "h2", 12)):
            port = scratch.port(net["id"], host, f"10.51.0.{n}", f"fa:16:3e:00:51:{n:02x}")
            vms[name] = scratch.vm(name, host, port)
            api.wait_status(port["id"], "ACTIVE")
        yield {"vms": vms, "router": router, "subnet": subnet}
    finally:
        api.call(
            "PUT",
            f"/v2.0/routers/{router['id']}/remove_router_interface",
            {"subnet_id": subnet["id"]},
        )
        api.delete("router", router["id"], missing_ok=True)
        scratch.cleanup()


def test_every_host_is_in_step_after_ports_a_router_and_groups(
    server: AlcorServer, work: dict[str, Any], lab: Lab
) -> None:
    code, found = audit_cli(server)
    assert code == 0, found
    states = {a["host"]: a for a in found}
    assert {h: states[h]["state"] for h in lab.hosts} == dict.fromkeys(lab.hosts, "in_step")
    reported = states["h1"]["reported"]
    assert reported["ports"].startswith("1:") and not reported["routers"].startswith("0:")
    assert not reported["address_sets"].startswith("0:")  # the default group's members


def test_a_host_that_missed_a_change_is_found_and_resyncs_by_itself(
    server: AlcorServer, api: Api, work: dict[str, Any], lab: Lab
) -> None:
    b = work["vms"]["b"]
    wait_for(lambda: _states(api).get("h2") == "in_step", 30, "h2 in step first")
    resyncs_before = _resyncs(lab)
    db = sqlite3.connect(server.tmp / "alcor.db", timeout=30)
    with db:  # behind the compiler's back: no change-log row, so no message to h2
        db.execute("UPDATE ports SET dns_name = 'missed' WHERE id = ?", (b.port_id,))
    db.close()
    seen: set[str] = set()

    def back_in_step() -> bool:
        state = _states(api)["h2"]
        seen.add(state)
        resynced = _resyncs(lab) > resyncs_before
        return resynced and state == "in_step"

    wait_for(back_in_step, 60, "h2 to be found differing, resync and be in step again")
    assert "differs" in seen
    with open(lab.hosts["h2"].agent_log) as fh:
        repaired = [line for line in fh if "repaired:" in line]
    assert repaired and f"'ports': {{'changed': {{'{b.port_id}': ['dns_name']}}}}" in repaired[-1]
    assert work["vms"]["a"].ping("10.51.0.12")
    assert api.port_status(b.port_id) == "ACTIVE"
    time.sleep(0.5)
    code, _ = audit_cli(server)
    assert code == 0


def test_a_floating_ip_going_active_leaves_its_host_in_step(
    api: Api, work: dict[str, Any], lab: Lab
) -> None:
    """The host's report makes the floating IP ACTIVE and bumps its revision, with nothing
    sent to the host for that: the audit must not take the revision for a difference (it
    did, and the host of every floating IP was resynced from scratch: the hour's soak)."""
    scratch = Scratch(api, lab)
    router_id = work["router"]["id"]
    before = _resyncs(lab, "h1")
    fip: dict[str, Any] = {}
    try:
        ext = scratch.external_network("ext", EXTERNAL_ADDRESS.split("/")[0])
        api.update("router", router_id, external_gateway_info={"network_id": ext["id"]})
        port_id = work["vms"]["a"].port_id
        fip = api.create("floatingip", floating_network_id=ext["id"], port_id=port_id)
        wait_for(lambda: api.get("floatingip", fip["id"])["status"] == "ACTIVE", 20, "FIP ACTIVE")
        wait_for(lambda: _states(api).get("h1") == "in_step", 30, "h1 in step")
        time.sleep(10)  # two heartbeats (4 s apart) audited every second
        assert _states(api)["h1"] == "in_step"
        assert _resyncs(lab, "h1") == before
    finally:
        if fip:
            api.delete("floatingip", fip["id"], missing_ok=True)
        api.update("router", router_id, external_gateway_info={})
        scratch.cleanup()
