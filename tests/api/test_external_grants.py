"""Withdrawing or moving a network's `*` access_as_external grant, as Neutron checks it
(neutron-tempest-plugin's ExternalNetworksRBACTestJSON): the default external network's
grant stays, and a grant moved to the one project whose routers use the network is no
longer in use."""

from __future__ import annotations

import uuid
from typing import Any

import httpx

from tests.api.conftest import member_headers, neutron_error

ADMIN: dict[str, str] = {}


def _external(http: httpx.Client, cidr: str, **attrs: Any) -> tuple[str, str]:
    """An external network with a subnet, and its `*` access_as_external grant."""
    resp = http.post(
        "/v2.0/networks", json={"network": {"name": "ext", "router:external": True, **attrs}}
    )
    assert resp.status_code == 201, resp.text
    net = resp.json()["network"]["id"]
    sub = {"network_id": net, "cidr": cidr, "ip_version": 4}
    assert http.post("/v2.0/subnets", json={"subnet": sub}).status_code == 201
    grants = http.get(
        "/v2.0/rbac-policies",
        params={"object_id": net, "action": "access_as_external", "target_tenant": "*"},
    ).json()["rbac_policies"]
    assert len(grants) == 1, grants
    return net, grants[0]["id"]


def test_default_external_network_stays_shared_to_everyone(http: httpx.Client) -> None:
    net, grant = _external(http, "172.30.1.0/24", is_default=True)
    path = f"/v2.0/rbac-policies/{grant}"
    message = (
        f"RBAC policy on object {net} cannot be removed because other objects depend on it.\n"
        "Details: Default external networks must be shared to everyone."
    )
    body = neutron_error(http.delete(path), 409, "RbacPolicyInUse")
    assert body["message"] == message
    moved = http.put(path, json={"rbac_policy": {"target_tenant": uuid.uuid4().hex}})
    assert neutron_error(moved, 409, "RbacPolicyInUse")["message"] == message
    assert http.get(f"/v2.0/networks/{net}").json()["network"]["router:external"] is True
    # no longer the default: the grant may go
    changed = http.put(f"/v2.0/networks/{net}", json={"network": {"is_default": False}})
    assert changed.status_code == 200, changed.text
    assert http.delete(path).status_code == 204


def test_wildcard_moved_to_the_project_using_the_network(http: httpx.Client) -> None:
    net, grant = _external(http, "172.30.2.0/24")
    user = uuid.uuid4().hex
    router = http.post(
        "/v2.0/routers",
        json={"router": {"name": "r", "external_gateway_info": {"network_id": net}}},
        headers=member_headers(user),
    )
    assert router.status_code == 201, router.text
    path = f"/v2.0/rbac-policies/{grant}"
    elsewhere = http.put(path, json={"rbac_policy": {"target_tenant": uuid.uuid4().hex}})
    body = neutron_error(elsewhere, 409, "RbacPolicyInUse")
    assert router.json()["router"]["id"] in body["message"]
    moved = http.put(path, json={"rbac_policy": {"target_tenant": user}})
    assert moved.status_code == 200, moved.text
    assert moved.json()["rbac_policy"]["target_tenant"] == user
