"""Address scopes (`address-scope`) through raw HTTP, openstacksdk and the `openstack` CLI:
Neutron's attributes, visibility, errors, subnet pools' `address_scope_id` and networks'
derived scopes."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from alcor.lab.server_process import AlcorServer
from tests.api.conftest import member_headers, neutron_error
from tests.api.test_cli import cli_json

ADMIN = {"X-Project-Id": "as-admin", "X-Roles": "admin"}


def _project() -> dict[str, str]:
    return member_headers(uuid.uuid4().hex)  # RBAC grants name projects by UUID


def _post(http: httpx.Client, kind: str, hdr: dict[str, str], **attrs: Any) -> httpx.Response:
    path = "/v2.0/address-scopes" if kind == "address_scope" else f"/v2.0/{kind}s"
    return http.post(path, json={kind: attrs}, headers=hdr)


def _made(resp: httpx.Response, kind: str) -> dict[str, Any]:
    assert resp.status_code == 201, resp.text
    return dict(resp.json()[kind])


def test_extension_is_listed(http: httpx.Client) -> None:
    aliases = {e["alias"] for e in http.get("/v2.0/extensions").json()["extensions"]}
    assert {"address-scope", "rbac-address-scope"} <= aliases


def test_scope_lifecycle_and_visibility(http: httpx.Client) -> None:
    hdr, other = _project(), _project()
    scope = _made(_post(http, "address_scope", hdr, name="s", ip_version=4), "address_scope")
    assert set(scope) == {"id", "name", "ip_version", "shared", "project_id", "tenant_id"}
    assert (scope["ip_version"], scope["shared"]) == (4, False)
    url = f"/v2.0/address-scopes/{scope['id']}"
    neutron_error(http.get(url, headers=other), 404, "AddressScopeNotFound")
    neutron_error(_post(http, "address_scope", hdr, name="x", ip_version=5), 400, "InvalidInput")
    neutron_error(_post(http, "address_scope", hdr, name="x"), 400)
    neutron_error(
        _post(http, "address_scope", hdr, name="x", ip_version=4, shared=True),
        403,
        "PolicyNotAuthorized",
    )
    renamed = http.put(url, json={"address_scope": {"name": "t"}}, headers=hdr)
    assert renamed.json()["address_scope"]["name"] == "t"
    shared = _made(
        _post(http, "address_scope", ADMIN, name="pub", ip_version=6, shared=True),
        "address_scope",
    )
    seen = http.get("/v2.0/address-scopes", headers=other).json()["address_scopes"]
    assert shared["id"] in {s["id"] for s in seen} and scope["id"] not in {s["id"] for s in seen}
    unshare = http.put(
        f"/v2.0/address-scopes/{shared['id']}",
        json={"address_scope": {"shared": False}},
        headers=ADMIN,
    )
    assert neutron_error(unshare, 400, "AddressScopeUpdateError")["message"] == (
        f"Unable to update address scope {shared['id']} : Shared address scope can't be unshared."
    )
    assert http.delete(url, headers=hdr).status_code == 204
    assert http.delete(f"/v2.0/address-scopes/{shared['id']}", headers=ADMIN).status_code == 204


def test_pools_in_scopes(http: httpx.Client) -> None:
    hdr = _project()
    v4 = _made(_post(http, "address_scope", hdr, name="v4", ip_version=4), "address_scope")
    v6 = _made(_post(http, "address_scope", hdr, name="v6", ip_version=6), "address_scope")
    pool = _made(
        _post(
            http, "subnetpool", hdr, name="p", prefixes=["10.70.0.0/16"], address_scope_id=v4["id"]
        ),
        "subnetpool",
    )
    assert pool["address_scope_id"] == v4["id"]
    clash = _post(
        http, "subnetpool", hdr, name="q", prefixes=["10.70.128.0/17"], address_scope_id=v4["id"]
    )
    neutron_error(clash, 409, "AddressScopePrefixConflict")
    wrong = _post(
        http, "subnetpool", hdr, name="q", prefixes=["10.71.0.0/16"], address_scope_id=v6["id"]
    )
    assert neutron_error(wrong, 400, "IllegalSubnetPoolIpVersionAssociationToAddressScope")
    missing = _post(
        http,
        "subnetpool",
        hdr,
        name="q",
        prefixes=["10.71.0.0/16"],
        address_scope_id=str(uuid.uuid4()),
    )
    neutron_error(missing, 404, "AddressScopeNotFound")
    neutron_error(
        http.delete(f"/v2.0/address-scopes/{v4['id']}", headers=hdr), 409, "AddressScopeInUse"
    )
    # a network shows the scope of its subnets' pool
    net = _made(_post(http, "network", hdr, name="n"), "network")
    assert net["ipv4_address_scope"] is None and net["ipv6_address_scope"] is None
    _made(
        _post(
            http,
            "subnet",
            hdr,
            network_id=net["id"],
            ip_version=4,
            subnetpool_id=pool["id"],
            prefixlen=24,
        ),
        "subnet",
    )
    shown = http.get(f"/v2.0/networks/{net['id']}", headers=hdr).json()["network"]
    assert shown["ipv4_address_scope"] == v4["id"] and shown["ipv6_address_scope"] is None
    # re-scoping the pool moves its networks
    other = _made(_post(http, "address_scope", hdr, name="o", ip_version=4), "address_scope")
    moved = http.put(
        f"/v2.0/subnetpools/{pool['id']}",
        json={"subnetpool": {"address_scope_id": other["id"]}},
        headers=hdr,
    )
    assert moved.status_code == 200, moved.text
    shown = http.get(f"/v2.0/networks/{net['id']}", headers=hdr).json()["network"]
    assert shown["ipv4_address_scope"] == other["id"]
    unscoped = http.put(
        f"/v2.0/subnetpools/{pool['id']}",
        json={"subnetpool": {"address_scope_id": None}},
        headers=hdr,
    )
    assert unscoped.json()["subnetpool"]["address_scope_id"] is None
    shown = http.get(f"/v2.0/networks/{net['id']}", headers=hdr).json()["network"]
    assert shown["ipv4_address_scope"] is None


def test_rbac_shares_a_scope(http: httpx.Client) -> None:
    """`rbac-address-scope`: a grant lets one project see the scope as shared and put its
    pools in it; it is not withdrawn while such a pool uses it; `shared` is a `*` grant."""
    owner, guest, stranger = _project(), _project(), _project()
    scope = _made(_post(http, "address_scope", owner, name="g", ip_version=4), "address_scope")
    url = f"/v2.0/address-scopes/{scope['id']}"
    neutron_error(http.get(url, headers=guest), 404, "AddressScopeNotFound")
    grant = {
        "object_type": "address_scope",
        "object_id": scope["id"],
        "action": "access_as_shared",
        "target_tenant": guest["X-Project-Id"],
    }
    made = http.post("/v2.0/rbac-policies", json={"rbac_policy": grant}, headers=owner)
    assert made.status_code == 201, made.text
    policy = made.json()["rbac_policy"]
    assert http.get(url, headers=guest).json()["address_scope"]["shared"] is True
    assert http.get(url, headers=owner).json()["address_scope"]["shared"] is False
    neutron_error(http.get(url, headers=stranger), 404, "AddressScopeNotFound")
    pool = _made(
        _post(
            http,
            "subnetpool",
            guest,
            name="gp",
            prefixes=["10.75.0.0/16"],
            address_scope_id=scope["id"],
        ),
        "subnetpool",
    )
    # the pool's prefixes are the scope owner's address space: only an admin changes it
    # (Neutron's _check_subnetpool_update_allowed)
    pool_url = f"/v2.0/subnetpools/{pool['id']}"
    grow = {"subnetpool": {"prefixes": ["10.75.0.0/16", "10.76.0.0/16"]}}
    refused = neutron_error(http.put(pool_url, json=grow, headers=guest), 400)
    assert refused["type"] == "IllegalSubnetPoolUpdate"
    assert refused["message"] == (
        f"Illegal subnetpool update : subnetpool {pool['id']} cannot be updated when "
        f"associated with shared address scope {scope['id']}."
    )
    grown = http.put(pool_url, json=grow, headers=ADMIN)
    assert grown.status_code == 200, grown.text
    rbac_url = f"/v2.0/rbac-policies/{policy['id']}"
    neutron_error(http.delete(rbac_url, headers=owner), 409, "RbacPolicyInUse")
    assert http.delete(f"/v2.0/subnetpools/{pool['id']}", headers=guest).status_code == 204
    assert http.delete(rbac_url, headers=owner).status_code == 204
    neutron_error(http.get(url, headers=guest), 404, "AddressScopeNotFound")
    everyone = http.put(url, json={"address_scope": {"shared": True}}, headers=ADMIN)
    assert everyone.status_code == 200, everyone.text
    policies = http.get(
        "/v2.0/rbac-policies", params={"object_id": scope["id"]}, headers=ADMIN
    ).json()["rbac_policies"]
    assert [(p["target_tenant"], p["action"]) for p in policies] == [("*", "access_as_shared")]
    assert http.get(url, headers=stranger).json()["address_scope"]["shared"] is True


def test_sdk_calls(conn: Any) -> None:
    name = f"sdk-as-{uuid.uuid4().hex[:6]}"
    scope = conn.network.create_address_scope(name=name, ip_version=4)
    assert scope.ip_version == 4 and scope.is_shared is False
    assert conn.network.find_address_scope(name).id == scope.id
    pool = conn.network.create_subnet_pool(
        name=name, prefixes=["10.73.0.0/16"], address_scope_id=scope.id
    )
    assert pool.address_scope_id == scope.id
    assert conn.network.update_address_scope(scope, name=f"{name}-2").name == f"{name}-2"
    conn.network.delete_subnet_pool(pool)
    conn.network.delete_address_scope(scope, ignore_missing=False)
    assert conn.network.find_address_scope(f"{name}-2") is None


def test_cli(server: AlcorServer) -> None:
    if server.database_url.startswith("postgresql"):
        pytest.skip("the CLI's requests do not depend on the database (run on SQLite)")
    name = f"cli-as-{uuid.uuid4().hex[:6]}"
    scope = cli_json(server, "address", "scope", "create", "--ip-version", "4", "--share", name)
    assert scope["ip_version"] == 4 and scope["shared"] is True
    pool = cli_json(
        server,
        "subnet",
        "pool",
        "create",
        "--pool-prefix",
        "10.74.0.0/16",
        "--address-scope",
        name,
        name,
    )
    assert pool["address_scope_id"] == scope["id"]
    listed = cli_json(server, "address", "scope", "list")
    assert scope["id"] in {s["ID"] for s in listed}
