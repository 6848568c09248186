"""Subnet pools (`subnet_allocation`, `default-subnetpools`, `subnetpool-prefix-ops`,
`subnet_onboard`) through openstacksdk, the `openstack` CLI and raw HTTP: Neutron's carving
and errors."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from alcor.lab.server_process import AlcorServer
from tests.api.conftest import member_headers, neutron_error
from tests.api.test_cli import cli_json

ADMIN = {"X-Project-Id": "sp-admin", "X-Roles": "admin"}


def _project() -> dict[str, str]:
    return member_headers(f"sp-{uuid.uuid4().hex[:8]}")


def _pool(http: httpx.Client, hdr: dict[str, str], **attrs: Any) -> httpx.Response:
    body = {"name": "pool", **attrs}
    return http.post("/v2.0/subnetpools", json={"subnetpool": body}, headers=hdr)


def _net(http: httpx.Client, hdr: dict[str, str]) -> str:
    resp = http.post("/v2.0/networks", json={"network": {"name": "n"}}, headers=hdr)
    return str(resp.json()["network"]["id"])


def _subnet(http: httpx.Client, hdr: dict[str, str], net: str, **attrs: Any) -> httpx.Response:
    body = {"network_id": net, "ip_version": 4, **attrs}
    return http.post("/v2.0/subnets", json={"subnet": body}, headers=hdr)


def test_extensions_are_listed(http: httpx.Client) -> None:
    aliases = {e["alias"] for e in http.get("/v2.0/extensions").json()["extensions"]}
    wanted = {"subnet_allocation", "default-subnetpools", "subnetpool-prefix-ops", "subnet_onboard"}
    assert wanted <= aliases


def test_pool_prefixes_and_bounds(http: httpx.Client) -> None:
    hdr = _project()
    made = _pool(http, hdr, prefixes=["10.10.0.0/17", "10.10.128.0/17", "10.20.0.9/24"])
    assert made.status_code == 201, made.text
    pool = made.json()["subnetpool"]
    assert pool["prefixes"] == ["10.10.0.0/16", "10.20.0.0/24"]
    # prefix lengths are strings, as Neutron's _make_subnetpool_dict shows them
    assert (pool["ip_version"], pool["min_prefixlen"], pool["max_prefixlen"]) == (4, "8", "32")
    assert pool["default_prefixlen"] == "8" and pool["default_quota"] is None
    assert pool["is_default"] is False and pool["shared"] is False
    v6 = _pool(http, hdr, prefixes=["2001:db8::/48"]).json()["subnetpool"]
    assert (v6["ip_version"], v6["min_prefixlen"], v6["max_prefixlen"]) == (6, "64", "128")
    shown = http.get(f"/v2.0/subnetpools/{v6['id']}", headers=hdr).json()["subnetpool"]
    assert (shown["default_prefixlen"], shown["max_prefixlen"]) == ("64", "128")
    changed = http.put(
        f"/v2.0/subnetpools/{v6['id']}", json={"subnetpool": {"min_prefixlen": "56"}}, headers=hdr
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["subnetpool"]["min_prefixlen"] == "56"
    listed = http.get("/v2.0/subnetpools", params={"min_prefixlen": 56}, headers=hdr)
    assert [p["id"] for p in listed.json()["subnetpools"]] == [v6["id"]]
    cases = [
        ({"prefixes": []}, "EmptySubnetPoolPrefixList"),
        ({"prefixes": ["10.0.0.0/8", "2001:db8::/32"]}, "PrefixVersionMismatch"),
        (
            {"prefixes": ["10.0.0.0/8"], "min_prefixlen": 24, "max_prefixlen": 16},
            "IllegalSubnetPoolPrefixBounds",
        ),
        ({"prefixes": ["10.0.0.0/8"], "max_prefixlen": 33}, "IllegalSubnetPoolPrefixBounds"),
        (
            {"prefixes": ["10.0.0.0/8"], "min_prefixlen": 16, "default_prefixlen": 12},
            "IllegalSubnetPoolPrefixBounds",
        ),
        ({"prefixes": ["10.0.0.0/8"], "is_default": True}, "PolicyNotAuthorized"),
    ]
    for attrs, kind in cases:
        code = 403 if kind == "PolicyNotAuthorized" else 400
        neutron_error(_pool(http, hdr, **attrs), code, kind)
    bounds = neutron_error(
        _pool(http, hdr, prefixes=["10.0.0.0/8"], min_prefixlen=24, max_prefixlen=16), 400
    )
    assert bounds["message"] == "Illegal prefix bounds: min_prefixlen=24, max_prefixlen=16."
    url = f"/v2.0/subnetpools/{pool['id']}"
    shrink = http.put(url, json={"subnetpool": {"prefixes": ["10.10.0.0/16"]}}, headers=hdr)
    neutron_error(shrink, 400, "IllegalSubnetPoolPrefixUpdate")
    grow = http.put(
        url, json={"subnetpool": {"prefixes": ["10.10.0.0/16", "10.20.0.0/23"]}}, headers=hdr
    )
    assert grow.json()["subnetpool"]["prefixes"] == ["10.10.0.0/16", "10.20.0.0/23"]


def test_carving_by_prefixlen_and_cidr(http: httpx.Client) -> None:
    hdr = _project()
    pool = _pool(
        http, hdr, prefixes=["10.30.0.0/22"], default_prefixlen=26, min_prefixlen=24
    ).json()["subnetpool"]
    net = _net(http, hdr)
    first = _subnet(http, hdr, net, subnetpool_id=pool["id"])
    assert first.status_code == 201, first.text
    s1 = first.json()["subnet"]
    assert s1["cidr"] == "10.30.0.0/26" and s1["subnetpool_id"] == pool["id"]
    assert s1["gateway_ip"] == "10.30.0.1"
    assert s1["allocation_pools"] == [{"start": "10.30.0.2", "end": "10.30.0.62"}]
    assert "prefixlen" not in s1 and "use_default_subnetpool" not in s1
    s2 = _subnet(http, hdr, net, subnetpool_id=pool["id"], prefixlen=24).json()["subnet"]
    assert s2["cidr"] == "10.30.1.0/24"  # the smallest free block that fits, as Neutron
    s3 = _subnet(http, hdr, net, subnetpool_id=pool["id"], prefixlen=26).json()["subnet"]
    assert s3["cidr"] == "10.30.0.64/26"
    s4 = _subnet(http, hdr, net, subnetpool_id=pool["id"], cidr="10.30.3.0/25").json()["subnet"]
    assert s4["cidr"] == "10.30.3.0/25"
    cases = [
        ({"cidr": "10.30.1.0/25"}, 409, "SubnetAllocationError"),  # taken
        ({"cidr": "10.99.0.0/24"}, 409, "SubnetAllocationError"),  # outside
        ({"prefixlen": 23}, 400, "MinPrefixSubnetAllocationError"),
        ({"prefixlen": 24, "cidr": "10.30.2.0/24"}, 400, "BadRequest"),
        ({"ip_version": 6}, 400, "BadRequest"),
        ({"allocation_pools": [{"start": "10.30.2.5", "end": "10.30.2.9"}]}, 400, None),
        ({"subnetpool_id": str(uuid.uuid4())}, 404, "SubnetPoolNotFound"),
    ]
    for attrs, code, kind in cases:
        body = {"subnetpool_id": pool["id"], **attrs}
        neutron_error(_subnet(http, hdr, net, **body), code, kind)
    msg = neutron_error(_subnet(http, hdr, net, subnetpool_id=pool["id"], prefixlen=33), 400)
    assert "maximum allowed prefix is 32" in msg["message"]
    assert _subnet(http, hdr, net, subnetpool_id=pool["id"], prefixlen=24).status_code == 201
    full = neutron_error(_subnet(http, hdr, net, subnetpool_id=pool["id"], prefixlen=24), 409)
    assert full["message"] == (
        "Failed to allocate subnet: Insufficient prefix space to allocate subnet size /24."
    )
    # a network's subnets of one version come from one pool
    neutron_error(
        _subnet(http, hdr, net, cidr="192.0.2.0/24"), 400, "NetworkSubnetPoolAffinityError"
    )
    in_use = neutron_error(
        http.delete(f"/v2.0/subnetpools/{pool['id']}", headers=hdr), 400, "SubnetPoolDeleteError"
    )
    assert (
        in_use["message"] == "Unable to delete subnet pool: Subnet pool has existing allocations."
    )
    assert http.delete(f"/v2.0/networks/{net}", headers=hdr).status_code == 204
    assert http.delete(f"/v2.0/subnetpools/{pool['id']}", headers=hdr).status_code == 204


def test_ipv6_pool_and_quota(http: httpx.Client) -> None:
    hdr = _project()
    pool = _pool(http, hdr, prefixes=["2001:db8:5::/48"], default_quota=2).json()["subnetpool"]
    net = _net(http, hdr)
    made = [_subnet(http, hdr, net, ip_version=6, subnetpool_id=pool["id"]) for _ in range(2)]
    assert [m.json()["subnet"]["cidr"] for m in made] == ["2001:db8:5::/64", "2001:db8:5:1::/64"]
    over = _subnet(http, hdr, net, ip_version=6, subnetpool_id=pool["id"])
    neutron_error(over, 409, "SubnetPoolQuotaExceeded")


def test_default_pool_and_use_default_subnetpool(http: httpx.Client) -> None:
    hdr = _project()
    net = _net(http, hdr)
    none = neutron_error(_subnet(http, hdr, net, ip_version=6, use_default_subnetpool=True), 400)
    assert none["message"] == "Bad subnets request: No default subnetpool found for IPv6."
    made = _pool(http, ADMIN, prefixes=["2001:db8:77::/48"], is_default=True, shared=True)
    assert made.status_code == 201, made.text
    pool = made.json()["subnetpool"]
    try:
        again = _pool(http, ADMIN, prefixes=["2001:db8:78::/48"], is_default=True)
        neutron_error(again, 400, "InvalidInput")
        sub = _subnet(http, hdr, net, ip_version=6, use_default_subnetpool=True)
        assert sub.status_code == 201, sub.text
        assert sub.json()["subnet"]["subnetpool_id"] == pool["id"]
        assert sub.json()["subnet"]["cidr"].startswith("2001:db8:77:")
        # a shared pool is visible to every project, editable only by its owner
        seen = http.get(f"/v2.0/subnetpools/{pool['id']}", headers=hdr)
        assert seen.status_code == 200
        assert http.delete(f"/v2.0/networks/{net}", headers=hdr).status_code == 204
    finally:
        http.delete(f"/v2.0/subnetpools/{pool['id']}", headers=ADMIN)


def test_prefix_actions_and_onboarding(http: httpx.Client) -> None:
    hdr = _project()
    pool = _pool(http, hdr, prefixes=["10.40.0.0/24"], min_prefixlen=24).json()["subnetpool"]
    url = f"/v2.0/subnetpools/{pool['id']}"
    added = http.put(f"{url}/add_prefixes", json={"prefixes": ["10.40.1.0/24"]}, headers=hdr)
    assert added.json() == {"prefixes": ["10.40.0.0/23"]}
    net = _net(http, hdr)
    sub = _subnet(http, hdr, net, subnetpool_id=pool["id"]).json()["subnet"]
    assert sub["cidr"] == "10.40.0.0/24"
    busy = http.put(f"{url}/remove_prefixes", json={"prefixes": ["10.40.0.0/24"]}, headers=hdr)
    neutron_error(busy, 400, "IllegalSubnetPoolPrefixUpdate")
    removed = http.put(f"{url}/remove_prefixes", json={"prefixes": ["10.40.1.0/24"]}, headers=hdr)
    assert removed.json() == {"prefixes": ["10.40.0.0/24"]}
    noop = http.put(f"{url}/remove_prefixes", json={"prefixes": ["10.99.0.0/24"]}, headers=hdr)
    assert noop.json() == {"prefixes": ["10.40.0.0/24"]}
    # onboarding: a network's pool-less subnets join the pool, their CIDRs its prefixes
    other = _net(http, hdr)
    loose = _subnet(http, hdr, other, cidr="10.41.0.0/24").json()["subnet"]
    target = _pool(http, hdr, prefixes=["10.42.0.0/24"], min_prefixlen=24).json()["subnetpool"]
    tgt = f"/v2.0/subnetpools/{target['id']}"
    onboarded = http.put(f"{tgt}/onboard_network_subnets", json={"network_id": other}, headers=hdr)
    assert onboarded.status_code == 200, onboarded.text
    assert onboarded.json() == [{"id": loose["id"], "cidr": "10.41.0.0/24"}]
    now = http.get(tgt, headers=hdr).json()["subnetpool"]
    assert now["prefixes"] == ["10.41.0.0/24", "10.42.0.0/24"]
    assert (
        http.get(f"/v2.0/subnets/{loose['id']}", headers=hdr).json()["subnet"]["subnetpool_id"]
        == target["id"]
    )
    missing = http.put(f"{tgt}/onboard_network_subnets", json={}, headers=hdr)
    neutron_error(missing, 400, "InvalidInput")


def test_sdk_subnet_pool_calls(conn: Any) -> None:
    pool = conn.network.create_subnet_pool(
        name="sdk-pool", prefixes=["10.50.0.0/16"], default_prefixlen=24
    )
    net = conn.network.create_network(name="sdk-pool-net")
    sub = conn.network.create_subnet(network_id=net.id, ip_version=4, subnet_pool_id=pool.id)
    assert sub.cidr == "10.50.0.0/24"
    assert conn.network.find_subnet_pool("sdk-pool").id == pool.id
    conn.network.delete_network(net)
    conn.network.delete_subnet_pool(pool)


def test_cli_subnet_pool(server: AlcorServer, http: httpx.Client) -> None:
    if server.database_url.startswith("postgresql"):
        pytest.skip("the CLI's requests do not depend on the database (run on SQLite)")
    name = f"cli-sp-{uuid.uuid4().hex[:6]}"
    pool = cli_json(
        server,
        "subnet",
        "pool",
        "create",
        "--pool-prefix",
        "10.60.0.0/16",
        "--default-prefix-length",
        "25",
        name,
    )
    assert pool["prefixes"] == ["10.60.0.0/16"] and pool["default_prefixlen"] == 25
    http.post("/v2.0/networks", json={"network": {"name": name}})
    sized = cli_json(
        server,
        "subnet",
        "create",
        "--network",
        name,
        "--subnet-pool",
        name,
        "--prefix-length",
        "24",
        name,
    )
    assert sized["cidr"] == "10.60.0.0/24" and sized["subnetpool_id"] == pool["id"]
