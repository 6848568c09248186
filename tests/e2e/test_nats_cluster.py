"""Southbound over a 3-node NATS cluster, with nodes killed under it.

The server and the three lab agents are given every node (`nats_url` with commas). The node
with the most clients is killed with SIGKILL, work is done (a new VM that must get its lease
and be reached), the node comes back, the then busiest node is killed, more work: the agents
keep receiving, nothing is left unprogrammed, and every fault ends with `alcor audit` clean
on every host.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from alcor.lab.lab import Lab
from alcor.lab.server_process import AlcorServer
from alcor.lab.vm import Vm
from tests.e2e.conftest import assert_audit_clean, can_run, lab_up, serving
from tests.e2e.neutron import Api, Scratch
from tests.support.nats_cluster import NatsCluster

pytestmark = pytest.mark.ovs


@pytest.fixture(scope="module")
def cluster() -> Iterator[NatsCluster]:
    reason = can_run()
    if reason:
        pytest.skip(reason)
    nodes = NatsCluster().start()
    try:
        yield nodes
    finally:
        nodes.stop()


@pytest.fixture(scope="module")
def server(cluster: NatsCluster) -> Iterator[AlcorServer]:
    env = {"ALCOR_AGENT_DOWN_TIME": "10", "ALCOR_AUDIT_INTERVAL": "1"}
    with serving(nats_url=cluster.urls, extra_env=env) as srv:
        yield srv


@pytest.fixture(scope="module")
def lab(server: AlcorServer, api: Api) -> Iterator[Lab]:
    with lab_up(server, api, "q", credentials=False) as lab:  # an open NATS cluster
        yield lab


def _boot(scratch: Scratch, name: str, host: str, net_id: str, n: int) -> Vm:
    port = scratch.port(net_id, host, f"10.61.0.{n}", f"fa:16:3e:00:61:{n:02x}")
    vm = scratch.vm(name, host, port)
    assert vm.lease().get("ip") == f"10.61.0.{n}", vm.lease()
    scratch.api.wait_status(port["id"], "ACTIVE")
    return vm


def test_work_goes_on_while_nats_nodes_die_and_come_back(
    server: AlcorServer, api: Api, lab: Lab, scratch: Scratch, cluster: NatsCluster
) -> None:
    net = scratch.network("Q", "10.61.0.0/24", "10.61.0.1")
    a = _boot(scratch, "a", "h1", net["id"], 11)
    b = _boot(scratch, "b", "h2", net["id"], 12)
    assert a.ping("10.61.0.12")
    assert_audit_clean(server)

    first = cluster.busiest()
    assert first.clients() >= 2  # the server's and 3 agents' connections on 3 nodes
    first.kill()
    c = _boot(scratch, "c", "h3", net["id"], 13)
    assert a.ping("10.61.0.13") and c.ping("10.61.0.12")
    assert_audit_clean(server)

    first.start()
    second = cluster.busiest()
    assert second is not first and second.clients() >= 2
    second.kill()
    d = _boot(scratch, "d", "h1", net["id"], 14)
    assert b.ping("10.61.0.14") and d.ping("10.61.0.13")
    assert_audit_clean(server)
