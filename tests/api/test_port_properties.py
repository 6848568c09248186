"""Property extensions of ports, subnets and agents (ports filtered by security group, MAC
regeneration, NUMA affinity policy, device profile, a subnet's `router:external`, agents'
sort keys), through a real server on SQLite and PostgreSQL, over raw HTTP, openstacksdk and
the `openstack` CLI where it has the option."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from alcor.lab.server_process import AlcorServer
from tests.api.conftest import neutron_error
from tests.api.test_cli import cli
from tests.support.sim_fleet import running_fleet
from tests.support.waiting import wait_for


def _network(http: httpx.Client, name: str) -> dict[str, Any]:
    net = http.post("/v2.0/networks", json={"network": {"name": name}}).json()["network"]
    http.post(
        "/v2.0/subnets",
        json={"subnet": {"network_id": net["id"], "ip_version": 4, "cidr": "10.62.0.0/24"}},
    ).raise_for_status()
    return net  # type: ignore[no-any-return]


def _group(http: httpx.Client, name: str) -> str:
    return str(
        http.post("/v2.0/security-groups", json={"security_group": {"name": name}}).json()[
            "security_group"
        ]["id"]
    )


def test_ports_filtered_by_security_groups(
    http: httpx.Client, conn: Any, server: AlcorServer
) -> None:
    net = _network(http, "sgfilter")
    web, db, idle = _group(http, "sgf-web"), _group(http, "sgf-db"), _group(http, "sgf-idle")

    def port(groups: list[str]) -> str:
        body = {"port": {"network_id": net["id"], "security_groups": groups}}
        return str(http.post("/v2.0/ports", json=body).json()["port"]["id"])

    p_web, p_both, p_db = port([web]), port([web, db]), port([db])
    port([])

    def ids(*groups: str) -> set[str]:
        found = http.get("/v2.0/ports", params=[("security_groups", g) for g in groups])
        assert found.status_code == 200, found.text
        return {p["id"] for p in found.json()["ports"]}

    assert ids(web) == {p_web, p_both}
    assert ids(db) == {p_both, p_db}
    assert ids(web, db) == {p_web, p_both, p_db}  # any of them, as Neutron
    assert ids(idle) == set()
    narrowed = http.get(
        "/v2.0/ports", params={"security_groups": web, "network_id": net["id"], "id": p_web}
    ).json()["ports"]
    assert [p["id"] for p in narrowed] == [p_web]
    assert ids("not-a-uuid") == set()  # Neutron converts, never validates, filter values

    sdk = {p.id for p in conn.network.ports(security_group_ids=[db])}
    assert sdk == {p_both, p_db}
    out = cli(server, "port", "list", "--security-group", web, "-f", "json")
    assert {p["ID"] for p in json.loads(out.stdout)} == {p_web, p_both}
    listed = http.get("/v2.0/extensions/port-security-groups-filtering")
    assert listed.json()["extension"]["name"] == "Port filtering on security groups"


@pytest.fixture(scope="module")
def live_host(server: AlcorServer, http: httpx.Client) -> Iterator[str]:
    """A simulated host (real NATS) that ports can be bound to."""
    with running_fleet(server, "pprops", count=1) as fleet:
        host = next(iter(fleet.hosts))
        wait_for(
            lambda: any(
                a["host"] == host and a["alive"] for a in http.get("/v2.0/agents").json()["agents"]
            ),
            30,
            "the simulated host to register",
        )
        yield host


def test_mac_address_regenerate(http: httpx.Client, live_host: str) -> None:
    net = _network(http, "macregen")
    port = http.post("/v2.0/ports", json={"port": {"network_id": net["id"]}}).json()["port"]
    fresh = http.put(f"/v2.0/ports/{port['id']}", json={"port": {"mac_address": None}})
    assert fresh.status_code == 200, fresh.text
    mac = fresh.json()["port"]["mac_address"]
    assert mac != port["mac_address"] and mac.startswith("fa:16:3e:")
    made = http.post("/v2.0/ports", json={"port": {"network_id": net["id"], "mac_address": None}})
    assert made.status_code == 201 and made.json()["port"]["mac_address"].startswith("fa:16:3e:")
    http.put(
        f"/v2.0/ports/{port['id']}", json={"port": {"binding:host_id": live_host}}
    ).raise_for_status()
    body = neutron_error(
        http.put(f"/v2.0/ports/{port['id']}", json={"port": {"mac_address": None}}),
        409,
        "PortBound",
    )
    assert f"old_mac {mac}" in body["message"]
    assert http.get(f"/v2.0/ports/{port['id']}").json()["port"]["mac_address"] == mac


def test_numa_affinity_policy_and_device_profile(
    http: httpx.Client, conn: Any, server: AlcorServer
) -> None:
    net = _network(http, "numa")
    body = {"network_id": net["id"], "numa_affinity_policy": "socket", "device_profile": "dp1"}
    port = http.post("/v2.0/ports", json={"port": body}).json()["port"]
    assert port["numa_affinity_policy"] == "socket" and port["device_profile"] == "dp1"
    plain = http.post("/v2.0/ports", json={"port": {"network_id": net["id"]}}).json()["port"]
    assert plain["numa_affinity_policy"] is None and plain["device_profile"] is None
    pid = port["id"]
    changed = http.put(f"/v2.0/ports/{pid}", json={"port": {"numa_affinity_policy": "legacy"}})
    assert changed.json()["port"]["numa_affinity_policy"] == "legacy"
    cleared = http.put(f"/v2.0/ports/{pid}", json={"port": {"numa_affinity_policy": None}})
    assert cleared.json()["port"]["numa_affinity_policy"] is None
    neutron_error(
        http.put(f"/v2.0/ports/{pid}", json={"port": {"numa_affinity_policy": "any"}}), 400
    )
    neutron_error(http.put(f"/v2.0/ports/{pid}", json={"port": {"device_profile": "dp2"}}), 400)
    assert conn.network.get_port(pid).device_profile == "dp1"
    conn.network.update_port(pid, numa_affinity_policy="preferred")
    assert conn.network.get_port(pid).numa_affinity_policy == "preferred"
    cli(server, "port", "set", "--numa-policy-required", pid)
    shown = json.loads(cli(server, "port", "show", pid, "-f", "json").stdout)
    assert shown["numa_affinity_policy"] == "required"
    made = cli(
        server,
        "port",
        "create",
        "--network",
        net["id"],
        "--device-profile",
        "dp3",
        "--numa-policy-socket",
        "cliport",
        "-f",
        "json",
    )
    created = json.loads(made.stdout)
    assert created["device_profile"] == "dp3" and created["numa_affinity_policy"] == "socket"


def test_subnet_external_network(http: httpx.Client) -> None:
    ext = http.post(
        "/v2.0/networks", json={"network": {"name": "subext", "router:external": True}}
    ).json()["network"]
    inner = http.post("/v2.0/networks", json={"network": {"name": "subint"}}).json()["network"]
    made = {}
    for net, cidr in ((ext, "198.19.40.0/24"), (inner, "10.63.0.0/24")):
        body = {"subnet": {"network_id": net["id"], "ip_version": 4, "cidr": cidr}}
        made[net["id"]] = http.post("/v2.0/subnets", json=body).json()["subnet"]
    assert made[ext["id"]]["router:external"] is True
    assert made[inner["id"]]["router:external"] is False
    ours = {s["id"] for s in made.values()}

    def listed(value: str) -> set[str]:
        found = http.get("/v2.0/subnets", params={"router:external": value})
        assert found.status_code == 200, found.text
        return {s["id"] for s in found.json()["subnets"]} & ours

    assert listed("true") == {made[ext["id"]]["id"]}
    assert listed("false") == {made[inner["id"]]["id"]}
    neutron_error(http.get("/v2.0/subnets", params={"router:external": "maybe"}), 400)
    neutron_error(
        http.put(
            f"/v2.0/subnets/{made[inner['id']]['id']}", json={"subnet": {"router:external": True}}
        ),
        400,
    )


def test_agents_sort_key(http: httpx.Client, live_host: str) -> None:
    hosts = [
        a["host"]
        for a in http.get("/v2.0/agents", params={"sort_key": "host", "sort_dir": "desc"}).json()[
            "agents"
        ]
    ]
    assert live_host in hosts and hosts == sorted(hosts, reverse=True)
    assert http.get("/v2.0/extensions/agent_sort_key").status_code == 200
