"""RBAC `access_as_shared` of subnet pools (`rbac-subnetpool`) and address groups
(`rbac-address-group`) as Neutron has them: the target sees and uses the object (carves
subnets from the pool, names the group in its rules), never changes it, and the grant cannot
be withdrawn while the target uses it; through a real server on SQLite and PostgreSQL, over
HTTP and openstacksdk."""

from __future__ import annotations

import uuid
from typing import Any

import httpx

from tests.api.conftest import member_headers, neutron_error
from tests.support.clients import sdk_connection

# Project ids as Keystone makes them: an RBAC grant names its target by one (or `*`).
OWNER, TARGET = uuid.uuid4().hex, uuid.uuid4().hex


def _make(http: httpx.Client, kind: str, plural: str, project: str, **attrs: Any) -> Any:
    resp = http.post(f"/v2.0/{plural}", json={kind: attrs}, headers=member_headers(project))
    assert resp.status_code == 201, resp.text
    return resp.json()[kind]


def test_subnetpool_shared_with_a_project(http: httpx.Client, server: Any) -> None:
    owner, target = member_headers(OWNER), member_headers(TARGET)
    pool = _make(
        http,
        "subnetpool",
        "subnetpools",
        OWNER,
        name="rp",
        prefixes=["10.70.0.0/16"],
        default_prefixlen=24,
    )
    net = _make(http, "network", "networks", TARGET, name="rp-net")
    carve = {"subnet": {"network_id": net["id"], "ip_version": 4, "subnetpool_id": pool["id"]}}
    neutron_error(http.get(f"/v2.0/subnetpools/{pool['id']}", headers=target), 404)
    neutron_error(http.post("/v2.0/subnets", json=carve, headers=target), 404, "SubnetPoolNotFound")

    bad = {
        "object_type": "subnetpool",
        "object_id": pool["id"],
        "action": "access_as_external",
        "target_tenant": TARGET,
    }
    neutron_error(
        http.post("/v2.0/rbac-policies", json={"rbac_policy": bad}, headers=owner),
        400,
        "InvalidActionForType",
    )
    sdk = sdk_connection(server.url, OWNER)
    grant = sdk.network.create_rbac_policy(
        object_type="subnetpool",
        object_id=pool["id"],
        action="access_as_shared",
        target_project_id=TARGET,
    )
    assert http.get(f"/v2.0/subnetpools/{pool['id']}", headers=target).status_code == 200
    listed = http.get("/v2.0/subnetpools", headers=target).json()["subnetpools"]
    assert pool["id"] in [p["id"] for p in listed]
    made = http.post("/v2.0/subnets", json=carve, headers=target)
    assert made.status_code == 201, made.text
    assert made.json()["subnet"]["cidr"] == "10.70.0.0/24"
    neutron_error(
        http.put(
            f"/v2.0/subnetpools/{pool['id']}", json={"subnetpool": {"name": "x"}}, headers=target
        ),
        403,
    )
    neutron_error(
        http.delete(f"/v2.0/rbac-policies/{grant.id}", headers=owner), 409, "RbacPolicyInUse"
    )
    http.delete(f"/v2.0/subnets/{made.json()['subnet']['id']}", headers=target).raise_for_status()
    assert http.delete(f"/v2.0/rbac-policies/{grant.id}", headers=owner).status_code == 204
    neutron_error(http.get(f"/v2.0/subnetpools/{pool['id']}", headers=target), 404)


def test_shared_subnetpool_is_a_wildcard_grant(http: httpx.Client) -> None:
    pool = http.post(
        "/v2.0/subnetpools",
        json={"subnetpool": {"name": "rp-all", "prefixes": ["10.71.0.0/16"], "shared": True}},
    ).json()["subnetpool"]
    grants = http.get(
        "/v2.0/rbac-policies", params={"object_id": pool["id"], "object_type": "subnetpool"}
    ).json()["rbac_policies"]
    assert [(g["action"], g["target_tenant"]) for g in grants] == [("access_as_shared", "*")]
    assert http.delete(f"/v2.0/rbac-policies/{grants[0]['id']}").status_code == 204
    assert http.get(f"/v2.0/subnetpools/{pool['id']}").json()["subnetpool"]["shared"] is False
    neutron_error(http.get(f"/v2.0/subnetpools/{pool['id']}", headers=member_headers(TARGET)), 404)
    assert http.delete(f"/v2.0/subnetpools/{pool['id']}").status_code == 204


def test_address_group_shared_with_a_project(http: httpx.Client) -> None:
    owner, target = member_headers(OWNER), member_headers(TARGET)
    group = _make(
        http, "address_group", "address-groups", OWNER, name="ra", addresses=["192.0.2.0/24"]
    )
    sg = _make(http, "security_group", "security-groups", TARGET, name="ra-sg")
    rule = {
        "security_group_rule": {
            "security_group_id": sg["id"],
            "direction": "ingress",
            "remote_address_group_id": group["id"],
        }
    }
    neutron_error(http.post("/v2.0/security-group-rules", json=rule, headers=target), 404)
    grant = _make(
        http,
        "rbac_policy",
        "rbac-policies",
        OWNER,
        object_type="address_group",
        object_id=group["id"],
        action="access_as_shared",
        target_tenant=TARGET,
    )
    shown = http.get(f"/v2.0/address-groups/{group['id']}", headers=target)
    assert shown.status_code == 200 and shown.json()["address_group"]["addresses"] == [
        "192.0.2.0/24"
    ]
    made = http.post("/v2.0/security-group-rules", json=rule, headers=target)
    assert made.status_code == 201, made.text
    neutron_error(
        http.put(
            f"/v2.0/address-groups/{group['id']}/add_addresses",
            json={"addresses": ["198.51.100.0/24"]},
            headers=target,
        ),
        403,
    )
    # an update is a 404: Neutron checks get_address_group on the group without its hidden
    # `shared`, which is what lets the target see it
    renamed = http.put(
        f"/v2.0/address-groups/{group['id']}",
        json={"address_group": {"name": "new_name"}},
        headers=target,
    )
    body = neutron_error(renamed, 404, "HTTPNotFound")
    assert body["message"] == "The resource could not be found."
    neutron_error(
        http.delete(f"/v2.0/rbac-policies/{grant['id']}", headers=owner), 409, "RbacPolicyInUse"
    )
    rule_id = made.json()["security_group_rule"]["id"]
    http.delete(f"/v2.0/security-group-rules/{rule_id}", headers=target).raise_for_status()
    assert http.delete(f"/v2.0/rbac-policies/{grant['id']}", headers=owner).status_code == 204
    neutron_error(http.get(f"/v2.0/address-groups/{group['id']}", headers=target), 404)
    for alias in ("rbac-subnetpool", "rbac-address-group"):
        assert http.get(f"/v2.0/extensions/{alias}").status_code == 200


def test_pool_shared_only_where_its_address_scope_is(http: httpx.Client) -> None:
    """Neutron's SubnetPool.validate_rbac_policy_create: sharing a pool of an address scope
    with a project the scope is not shared with is refused (400)."""
    owner, target = uuid.uuid4().hex, uuid.uuid4().hex
    scope = http.post(
        "/v2.0/address-scopes", json={"address_scope": {"name": "rs", "ip_version": 4}}
    ).json()["address_scope"]

    def grant(who: str, kind: str, oid: str, to: str) -> httpx.Response:
        body = {"object_type": kind, "object_id": oid, "action": "access_as_shared"}
        return http.post(
            "/v2.0/rbac-policies",
            json={"rbac_policy": {**body, "target_tenant": to}},
            headers=member_headers(who) if who else {},
        )

    assert grant("", "address_scope", scope["id"], owner).status_code == 201
    pool = _make(
        http,
        "subnetpool",
        "subnetpools",
        owner,
        name="rs-pool",
        prefixes=["10.71.0.0/16"],
        address_scope_id=scope["id"],
    )
    refused = neutron_error(grant(owner, "subnetpool", pool["id"], target), 400, "InvalidInput")
    assert refused["message"] == (
        f"Invalid input for operation: Failed to create RBAC policy on object {pool['id']} "
        "because target project doesn't have access to associated address scope."
    )
    assert grant("", "address_scope", scope["id"], target).status_code == 201
    assert grant(owner, "subnetpool", pool["id"], target).status_code == 201
