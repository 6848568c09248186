""" "Get me a network" (`auto-allocated-topology`) as Neutron serves it to Nova's `--nic auto`:
requirements checked by a dry run, the topology made once per project (network, a subnet from
the default pool, a router with its gateway on the default external network), the default
external network unique, deletion; through a real server on SQLite and PostgreSQL, over HTTP
and openstacksdk (the `openstack` CLI names the project through Keystone: not here)."""

from __future__ import annotations

import httpx

from alcor.lab.server_process import AlcorServer
from tests.api.conftest import member_headers, neutron_error
from tests.support.clients import sdk_connection

PROJECT, OTHER = "autoalloc-a", "autoalloc-b"
PATH = "/v2.0/auto-allocated-topology"


def _deployment_error(resp: httpx.Response, reason: str) -> None:
    body = neutron_error(resp, 409, "AutoAllocationFailure")
    assert body["message"] == f"Deployment error: {reason}."


def test_topology_made_once_per_project(http: httpx.Client, server: AlcorServer) -> None:
    member = member_headers(PROJECT)
    dry = {"fields": "dry-run"}
    _deployment_error(
        http.get(f"{PATH}/{PROJECT}", params=dry, headers=member),
        "No default router:external network",
    )
    ext = http.post(
        "/v2.0/networks",
        json={"network": {"name": "aa-ext", "router:external": True, "is_default": True}},
    ).json()["network"]
    assert ext["is_default"] is True
    body = {
        "subnet": {
            "network_id": ext["id"],
            "ip_version": 4,
            "cidr": "198.19.60.0/24",
            "enable_dhcp": False,
        }
    }
    http.post("/v2.0/subnets", json=body).raise_for_status()
    second = {"network": {"name": "aa-ext2", "router:external": True, "is_default": True}}
    found = neutron_error(
        http.post("/v2.0/networks", json=second), 409, "DefaultExternalNetworkExists"
    )
    assert found["message"] == f"A default external network already exists: {ext['id']}."
    neutron_error(
        http.post(
            "/v2.0/networks", json={"network": {"is_default": True}}, headers=member_headers("x")
        ),
        403,
        "PolicyNotAuthorized",
    )
    _deployment_error(
        http.get(f"{PATH}/{PROJECT}", params=dry, headers=member),
        "No default subnetpools defined",
    )
    pool = {
        "subnetpool": {
            "name": "aa-pool",
            "prefixes": ["10.80.0.0/16"],
            "default_prefixlen": 26,
            "is_default": True,
            "shared": True,
        }
    }
    http.post("/v2.0/subnetpools", json=pool).raise_for_status()
    checked = http.get(f"{PATH}/{PROJECT}", params=dry, headers=member)
    assert checked.json() == {
        "auto_allocated_topology": {"id": "dry-run=pass", "project_id": PROJECT}
    }
    neutron_error(http.get(f"{PATH}/{PROJECT}", params={"fields": "id"}, headers=member), 400)
    neutron_error(http.get(f"{PATH}/{OTHER}", headers=member), 403, "NotAuthorized")

    made = http.get(f"{PATH}/{PROJECT}", headers=member)
    assert made.status_code == 200, made.text
    net_id = made.json()["auto_allocated_topology"]["id"]
    assert made.json()["auto_allocated_topology"]["project_id"] == PROJECT
    assert http.get(f"{PATH}/{PROJECT}", headers=member).json() == made.json()
    net = http.get(f"/v2.0/networks/{net_id}", headers=member).json()["network"]
    assert net["name"] == "auto_allocated_network" and net["admin_state_up"] is True
    [sub] = http.get("/v2.0/subnets", params={"network_id": net_id}, headers=member).json()[
        "subnets"
    ]
    assert sub["cidr"].startswith("10.80.") and sub["cidr"].endswith("/26")
    [router] = http.get(
        "/v2.0/routers", params={"name": "auto_allocated_router"}, headers=member
    ).json()["routers"]
    assert router["external_gateway_info"]["network_id"] == ext["id"]
    ports = http.get(
        "/v2.0/ports", params={"device_id": router["id"], "network_id": net_id}
    ).json()["ports"]
    assert [p["device_owner"] for p in ports] == ["network:router_interface"]

    assert http.delete(f"{PATH}/{PROJECT}", headers=member).status_code == 204
    neutron_error(http.get(f"/v2.0/networks/{net_id}"), 404)
    neutron_error(http.get(f"/v2.0/routers/{router['id']}"), 404)
    again = http.get(f"{PATH}/{PROJECT}", headers=member).json()["auto_allocated_topology"]
    assert again["id"] != net_id

    # openstacksdk, as another project
    sdk = sdk_connection(server.url, OTHER)
    assert sdk.network.validate_auto_allocated_topology(OTHER) is not None
    topology = sdk.network.get_auto_allocated_topology(OTHER)
    assert sdk.network.get_network(topology.id).project_id == OTHER
    sdk.network.delete_auto_allocated_topology(OTHER)


def test_failure_leaves_nothing(http: httpx.Client) -> None:
    """The default pool has no room left once the network is made: the failure is Neutron's,
    and nothing of the topology is left (one unit of work)."""
    [old] = http.get("/v2.0/subnetpools", params={"is_default": "true"}).json()["subnetpools"]
    http.put(f"/v2.0/subnetpools/{old['id']}", json={"subnetpool": {"is_default": False}})
    body = {
        "name": "aa-tiny",
        "prefixes": ["10.81.0.0/26"],
        "default_prefixlen": 26,
        "is_default": True,
        "shared": True,
    }
    tiny = http.post("/v2.0/subnetpools", json={"subnetpool": body}).json()["subnetpool"]
    holder = http.post("/v2.0/networks", json={"network": {"name": "aa-holder"}}).json()["network"]
    taken = {"network_id": holder["id"], "ip_version": 4, "subnetpool_id": tiny["id"]}
    http.post("/v2.0/subnets", json={"subnet": taken}).raise_for_status()
    project = "autoalloc-c"
    before = len(http.get("/v2.0/networks").json()["networks"])
    _deployment_error(
        http.get(f"{PATH}/{project}", headers=member_headers(project)),
        "Unable to provide project private network",
    )
    assert len(http.get("/v2.0/networks").json()["networks"]) == before
    assert http.get("/v2.0/routers", params={"project_id": project}).json()["routers"] == []
    http.delete(f"/v2.0/networks/{holder['id']}").raise_for_status()
    http.delete(f"/v2.0/subnetpools/{tiny['id']}").raise_for_status()
    http.put(f"/v2.0/subnetpools/{old['id']}", json={"subnetpool": {"is_default": True}})
