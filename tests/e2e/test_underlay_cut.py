"""A host cut off the underlay (its uplink down in its namespace) for 30 s while ports change
around it and on it, then healed: it converges, traffic flows again, and `alcor audit` is clean
on every host. The agent's control channel is not cut (it reaches NATS over loopback), so what
this proves is that the data plane resumes on its own and the state programmed meanwhile is
the right one."""

from __future__ import annotations

import time

import pytest

from alcor.lab.lab import Lab
from alcor.lab.server_process import AlcorServer
from tests.e2e.conftest import assert_audit_clean
from tests.e2e.neutron import Api, Scratch
from tests.support.waiting import wait_for

pytestmark = [pytest.mark.ovs, pytest.mark.slow]

CUT_S = 30.0


def test_a_host_cut_off_for_30_s_converges_and_is_in_step(
    server: AlcorServer, api: Api, lab: Lab, scratch: Scratch
) -> None:
    net = scratch.network("U", "10.71.0.0/24", "10.71.0.1")
    vms = {}
    for name, host, n in (("a", "h1", 11), ("b", "h2", 12)):
        port = scratch.port(net["id"], host, f"10.71.0.{n}", f"fa:16:3e:00:71:{n:02x}")
        vms[name] = scratch.vm(name, host, port)
    assert vms["a"].ping("10.71.0.12")
    h2 = lab.hosts["h2"]
    h2.x("ip", "link", "set", "ul0", "down")
    cut_at = time.monotonic()
    try:
        assert not vms["a"].ping("10.71.0.12", count=2, wait=0.5)
        # ports change on the cut host and beside it while it is away
        for name, host, n in (("c", "h2", 13), ("d", "h3", 14)):
            port = scratch.port(net["id"], host, f"10.71.0.{n}", f"fa:16:3e:00:71:{n:02x}")
            vms[name] = scratch.vm(name, host, port)
            api.wait_status(port["id"], "ACTIVE")
        scratch.lab.remove_vm("b")
        api.delete("port", vms["b"].port_id)
        time.sleep(max(0.0, CUT_S - (time.monotonic() - cut_at)))
    finally:
        h2.x("ip", "link", "set", "ul0", "up")
    wait_for(lambda: vms["a"].ping("10.71.0.13", count=1, wait=0.5), 20, "a -> c once healed")
    assert vms["d"].ping("10.71.0.13") and vms["c"].ping("10.71.0.11")
    assert not vms["a"].ping("10.71.0.12", count=1, wait=0.5)  # b's port is gone
    assert_audit_clean(server)
