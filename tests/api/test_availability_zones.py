"""Availability zones (`availability_zone`, `network_availability_zone`,
`router_availability_zone`, `availability_zone_filter`) through raw HTTP and the `openstack`
CLI: zones come from the agents, hints must name one, networks and routers are in the zones of
the hosts that serve them."""

from __future__ import annotations

import uuid

import httpx
import pytest

from alcor.lab.server_process import AlcorServer
from tests.api.conftest import neutron_error
from tests.api.test_cli import cli_json


def _zone(http: httpx.Client) -> tuple[str, str]:
    """A fresh zone with one registered agent in it: (zone, agent id)."""
    zone = f"az-{uuid.uuid4().hex[:6]}"
    body = {"agent": {"host": f"host-{zone}", "availability_zone": zone}}
    made = http.post("/v2.0/agents", json=body)
    assert made.status_code == 201, made.text
    return zone, made.json()["agent"]["id"]


def _zones(http: httpx.Client, query: str = "") -> list[dict[str, str]]:
    zones = http.get(f"/v2.0/availability_zones{query}").json()["availability_zones"]
    # either spelling of the collection, as Neutron routes it
    assert http.get(f"/v2.0/availability-zones{query}").json()["availability_zones"] == zones
    return list(zones)


def test_zones_listed_from_agents_and_filtered(http: httpx.Client) -> None:
    zone, agent = _zone(http)
    mine = [z for z in _zones(http) if z["name"] == zone]
    assert mine == [
        {"name": zone, "resource": "network", "state": "available"},
        {"name": zone, "resource": "router", "state": "available"},
    ]
    assert _zones(http, f"?name={zone}&resource=router") == [mine[1]]
    assert http.put(f"/v2.0/agents/{agent}", json={"agent": {"admin_state_up": False}}).is_success
    assert _zones(http, f"?name={zone}&state=unavailable&resource=network") == [
        {"name": zone, "resource": "network", "state": "unavailable"}
    ]
    neutron_error(http.get("/v2.0/availability_zones?colour=red"), 400)
    shown = http.get(f"/v2.0/agents?availability_zone={zone}").json()["agents"]
    assert [a["id"] for a in shown] == [agent]


def test_hints_checked_and_zones_derived_from_hosts(http: httpx.Client) -> None:
    zone, _ = _zone(http)
    bad = {"network": {"name": "azn", "availability_zone_hints": ["no-such-zone"]}}
    missing = neutron_error(http.post("/v2.0/networks", json=bad), 404, "AvailabilityZoneNotFound")
    assert missing["message"] == "AvailabilityZone no-such-zone could not be found."
    body = {"network": {"name": "azn", "availability_zone_hints": [zone]}}
    net = http.post("/v2.0/networks", json=body).json()["network"]
    assert net["availability_zone_hints"] == [zone] and net["availability_zones"] == []
    sub = http.post(
        "/v2.0/subnets",
        json={"subnet": {"network_id": net["id"], "ip_version": 4, "cidr": "10.88.0.0/24"}},
    ).json()["subnet"]
    port = {"port": {"network_id": net["id"], "binding:host_id": f"host-{zone}"}}
    assert http.post("/v2.0/ports", json=port).status_code == 201
    now = http.get(f"/v2.0/networks/{net['id']}").json()["network"]
    assert now["availability_zones"] == [zone]
    router = http.post(
        "/v2.0/routers", json={"router": {"name": "azr", "availability_zone_hints": [zone]}}
    ).json()["router"]
    assert router["availability_zones"] == []
    http.put(f"/v2.0/routers/{router['id']}/add_router_interface", json={"subnet_id": sub["id"]})
    routed = http.get(f"/v2.0/routers/{router['id']}").json()["router"]
    assert routed["availability_zones"] == [zone]
    bad_router = {"router": {"name": "azr", "availability_zone_hints": ["nowhere"]}}
    neutron_error(http.post("/v2.0/routers", json=bad_router), 404, "AvailabilityZoneNotFound")


def test_cli_availability_zones(server: AlcorServer, http: httpx.Client) -> None:
    if server.database_url.startswith("postgresql"):
        pytest.skip("the CLI's requests do not depend on the database (run on SQLite)")
    zone, _ = _zone(http)
    listed = cli_json(server, "availability", "zone", "list", "--network", "--long")
    assert {(z["Zone Name"], z["Zone Resource"]) for z in listed} >= {
        (zone, "network"),
        (zone, "router"),
    }
    net = cli_json(server, "network", "create", "--availability-zone-hint", zone, f"net-{zone}")
    assert net["availability_zone_hints"] == [zone]
