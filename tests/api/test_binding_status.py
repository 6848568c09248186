"""Binding, port status and the provisioning timeline through the real server process,
with simulated hosts (real NATS: the server's embedded nats-server) as the agents."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest

from alcor.lab.server_process import AlcorServer
from alcor.southbound.sim import Fleet
from tests.api.conftest import member_headers, neutron_error
from tests.support.sim_fleet import running_fleet
from tests.support.waiting import wait_for


@pytest.fixture(scope="module")
def fleet(server: AlcorServer) -> Iterator[Fleet]:
    """Two simulated hosts on the server's embedded NATS, run on a loop in a thread."""
    with running_fleet(server, "apitest") as hosts:
        yield hosts


def test_agents_api_lists_registered_hosts(http: httpx.Client, fleet: Fleet) -> None:
    agents = wait_for(
        lambda: [
            a for a in http.get("/v2.0/agents").json()["agents"] if a["host"].startswith("apitest-")
        ]
    )
    assert {a["host"] for a in agents} == set(fleet.hosts)
    agent = agents[0]
    assert agent["alive"] is True and agent["admin_state_up"] is True
    assert agent["heartbeat_timestamp"] and agent["configurations"]
    alive = http.get("/v2.0/agents?alive=true").json()["agents"]
    assert agent["id"] in [a["id"] for a in alive]
    upd = http.put(f"/v2.0/agents/{agent['id']}", json={"agent": {"description": "rack 7"}})
    assert upd.json()["agent"]["description"] == "rack 7"
    neutron_error(http.put(f"/v2.0/agents/{agent['id']}", json={"agent": {"host": "other"}}), 400)
    member = http.get("/v2.0/agents", headers=member_headers("someone"))
    assert member.json()["agents"] == []
    neutron_error(
        http.post("/v2.0/agents", json={"agent": {"host": "x"}}, headers=member_headers("p")),
        403,
    )
    pre = http.post(
        "/v2.0/agents",
        json={"agents": [{"host": "rack1-h1", "tunnel_ip": "198.18.7.1"}, {"host": "rack1-h2"}]},
    )
    assert pre.status_code == 201
    assert [a["alive"] for a in pre.json()["agents"]] == [False, False]


def test_port_active_only_after_host_ack(http: httpx.Client, fleet: Fleet) -> None:
    host = sorted(fleet.hosts)[0]
    net = http.post("/v2.0/networks", json={"network": {"name": "bind"}}).json()["network"]
    http.post(
        "/v2.0/subnets",
        json={"subnet": {"network_id": net["id"], "ip_version": 4, "cidr": "10.60.0.0/24"}},
    )
    port = http.post("/v2.0/ports", json={"port": {"network_id": net["id"]}}).json()["port"]
    assert port["status"] == "DOWN"
    time.sleep(0.3)
    assert http.get(f"/v2.0/ports/{port['id']}").json()["port"]["status"] == "DOWN"
    bound = http.put(f"/v2.0/ports/{port['id']}", json={"port": {"binding:host_id": host}})
    body = bound.json()["port"]
    assert body["binding:vif_type"] == "ovs"
    assert body["binding:vif_details"]["ovs_hybrid_plug"] is False
    assert body["binding:vif_details"]["port_filter"] is True
    active = wait_for(
        lambda: http.get(f"/v2.0/ports/{port['id']}").json()["port"]["status"] == "ACTIVE"
    )
    assert active
    timeline = http.get(f"/v2.0/ports/{port['id']}/provisioning").json()["provisioning"]
    assert timeline["host_id"] == host and timeline["state"] == "SUCCESS"
    stamps = [
        timeline[f"{s}_at"]
        for s in ("committed", "compiled", "published", "received", "programmed", "reported")
    ]
    assert None not in stamps, timeline
    assert timeline["committed_at"] <= timeline["published_at"] <= timeline["reported_at"]
    neutron_error(
        http.get(f"/v2.0/ports/{port['id']}/provisioning", headers=member_headers("x")), 403
    )
    unbound = http.put(f"/v2.0/ports/{port['id']}", json={"port": {"binding:host_id": ""}})
    assert unbound.json()["port"]["status"] == "DOWN"
    assert unbound.json()["port"]["binding:vif_type"] == "unbound"
