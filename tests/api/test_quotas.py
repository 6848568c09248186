"""Quotas, network IP availability and project isolation: Neutron's semantics."""

from __future__ import annotations

import uuid
from typing import Any

import httpx

from alcor.lab.server_process import AlcorServer
from tests.api.conftest import member_headers, neutron_error

NEUTRON_DEFAULTS = {
    "network": 100,
    "subnet": 100,
    "subnetpool": -1,
    "port": 500,
    "router": 10,
    "floatingip": 50,
    "rbac_policy": 10,
    "security_group": 10,
    "security_group_rule": 100,
}


def _project() -> str:
    return f"q-{uuid.uuid4().hex[:8]}"


def _set(http: httpx.Client, project: str, **limits: Any) -> httpx.Response:
    return http.put(f"/v2.0/quotas/{project}", json={"quota": limits})


def test_defaults_show_update_reset(http: httpx.Client, conn: Any) -> None:
    project = _project()
    assert http.get(f"/v2.0/quotas/{project}/default").json()["quota"] == NEUTRON_DEFAULTS
    assert http.get(f"/v2.0/quotas/{project}").json()["quota"] == NEUTRON_DEFAULTS
    resp = _set(http, project, port=7, network="-1")
    assert resp.status_code == 200, resp.text
    assert resp.json()["quota"] == {**NEUTRON_DEFAULTS, "port": 7, "network": -1}
    listed = {q["project_id"]: q for q in http.get("/v2.0/quotas").json()["quotas"]}
    assert listed[project]["port"] == 7 and listed[project]["tenant_id"] == project
    sdk = conn.network.get_quota(project)
    assert sdk.ports == 7 and sdk.networks == -1
    conn.network.update_quota(project, ports=9)
    assert conn.network.get_quota(project).ports == 9
    assert http.delete(f"/v2.0/quotas/{project}").status_code == 204
    assert http.get(f"/v2.0/quotas/{project}").json()["quota"] == NEUTRON_DEFAULTS
    for bad in ({"port": -2}, {"port": "many"}, {"port": True}, {"bogus": 1}, {"port": 2**31}):
        neutron_error(_set(http, project, **bad), 400)
    body = neutron_error(_set(http, project, port=10**30), 400, "InvalidInput")
    assert body["message"] == (
        f"Invalid input for port. Reason: '{10**30}' is too large - must be no larger than "
        f"'{2**31 - 1}'"
    )
    neutron_error(http.put(f"/v2.0/quotas/{project}", json={"port": 1}), 400)


def test_limit_below_usage_needs_force(http: httpx.Client) -> None:
    """Neutron's quota-check-limit-default: a limit below what the project uses is a 400
    unless the body says `"force": true` (a JSON true only); -1 is never checked."""
    project = _project()
    hdr = member_headers(project)
    for name in ("a", "b"):
        resp = http.post("/v2.0/networks", json={"network": {"name": name}}, headers=hdr)
        assert resp.status_code == 201
    body = neutron_error(_set(http, project, network=1), 400, "HTTPBadRequest")
    assert body["message"] == (
        "Quota limit 1 for network must be greater than or equal to already used 2"
    )
    neutron_error(_set(http, project, network=0, force="true"), 400)
    assert http.get(f"/v2.0/quotas/{project}").json()["quota"]["network"] == 100
    for limit in (2, -1):
        assert _set(http, project, network=limit, check_limit=True).status_code == 200
    forced = _set(http, project, network=0, security_group=0, force=True)
    assert forced.status_code == 200, forced.text
    assert forced.json()["quota"] == {**NEUTRON_DEFAULTS, "network": 0, "security_group": 0}
    neutron_error(http.post("/v2.0/networks", json={"network": {}}, headers=hdr), 409, "OverQuota")
    aliases = {e["alias"] for e in http.get("/v2.0/extensions").json()["extensions"]}
    assert {"quota-check-limit", "quota-check-limit-default"} <= aliases


def test_managers_see_only_their_own_quota(http: httpx.Client) -> None:
    """A project reads its own quota (Neutron's quota controller checks no policy then);
    `get_quota` guards the others' (an admin, or the project's `manager`)."""
    mine, other = _project(), _project()
    member = member_headers(mine)
    for path in ("", "/default", "/details"):
        assert http.get(f"/v2.0/quotas/{mine}{path}", headers=member).status_code == 200
        neutron_error(http.get(f"/v2.0/quotas/{other}{path}", headers=member), 403)
    hdr = {"X-Project-Id": mine, "X-Roles": "manager"}
    assert http.get(f"/v2.0/quotas/{mine}", headers=hdr).status_code == 200
    assert http.get(f"/v2.0/quotas/{mine}/details", headers=hdr).status_code == 200
    neutron_error(http.get(f"/v2.0/quotas/{other}", headers=hdr), 403, "PolicyNotAuthorized")
    neutron_error(http.get("/v2.0/quotas", headers=hdr), 403)
    neutron_error(http.put(f"/v2.0/quotas/{mine}", json={"quota": {"port": -1}}, headers=hdr), 403)
    neutron_error(http.delete(f"/v2.0/quotas/{mine}", headers=hdr), 403)


def test_over_quota_for_each_resource(http: httpx.Client) -> None:
    project = _project()
    hdr = member_headers(project)
    assert _set(http, project, network=1, subnet=1, port=2, security_group=2).status_code == 200
    net = http.post("/v2.0/networks", json={"network": {"name": "a"}}, headers=hdr)
    net_id = net.json()["network"]["id"]
    over = http.post("/v2.0/networks", json={"network": {"name": "b"}}, headers=hdr)
    body = neutron_error(over, 409, "OverQuota")
    assert body["message"] == "Quota exceeded for resources: ['network']."
    sub = {"network_id": net_id, "cidr": "10.90.0.0/24", "ip_version": 4}
    assert http.post("/v2.0/subnets", json={"subnet": sub}, headers=hdr).status_code == 201
    sub2 = {**sub, "cidr": "10.91.0.0/24"}
    neutron_error(http.post("/v2.0/subnets", json={"subnet": sub2}, headers=hdr), 409, "OverQuota")
    # a bulk create that would cross the limit creates nothing
    ports = {"ports": [{"network_id": net_id}] * 3}
    neutron_error(http.post("/v2.0/ports", json=ports, headers=hdr), 409, "OverQuota")
    assert http.get(f"/v2.0/ports?network_id={net_id}", headers=hdr).json()["ports"] == []
    ports = {"ports": [{"network_id": net_id}] * 2}
    assert http.post("/v2.0/ports", json=ports, headers=hdr).status_code == 201
    neutron_error(
        http.post("/v2.0/ports", json={"port": {"network_id": net_id}}, headers=hdr),
        409,
        "OverQuota",
    )
    # the default group counts: one more group fits, then none
    assert (
        http.post(
            "/v2.0/security-groups", json={"security_group": {"name": "x"}}, headers=hdr
        ).status_code
        == 201
    )
    neutron_error(
        http.post("/v2.0/security-groups", json={"security_group": {"name": "y"}}, headers=hdr),
        409,
        "OverQuota",
    )
    manager = {**hdr, "X-Roles": "manager"}
    details = http.get(f"/v2.0/quotas/{project}/details", headers=manager).json()["quota"]
    assert details["network"] == {"limit": 1, "used": 1, "reserved": 0}
    assert details["port"]["used"] == 2 and details["security_group"]["used"] == 2
    assert details["security_group_rule"]["used"] == 6  # 4 default + 2 egress rules


def test_router_and_floating_ip_quotas(http: httpx.Client) -> None:
    project = _project()
    hdr = member_headers(project)
    assert _set(http, project, router=1, floatingip=1).status_code == 200
    assert http.post("/v2.0/routers", json={"router": {}}, headers=hdr).status_code == 201
    neutron_error(http.post("/v2.0/routers", json={"router": {}}, headers=hdr), 409, "OverQuota")
    ext = http.post(
        "/v2.0/networks", json={"network": {"name": "e", "router:external": True}}
    ).json()["network"]["id"]
    sub = {"network_id": ext, "cidr": "198.18.60.0/24", "ip_version": 4}
    assert http.post("/v2.0/subnets", json={"subnet": sub}).status_code == 201
    fip = {"floatingip": {"floating_network_id": ext}}
    assert http.post("/v2.0/floatingips", json=fip, headers=hdr).status_code == 201
    neutron_error(http.post("/v2.0/floatingips", json=fip, headers=hdr), 409, "OverQuota")


def test_network_ip_availability(http: httpx.Client) -> None:
    project = _project()
    hdr = member_headers(project)
    net = http.post("/v2.0/networks", json={"network": {"name": f"av-{project}"}}, headers=hdr)
    net_id = net.json()["network"]["id"]
    for cidr in ("10.92.0.0/28", "fd00:92::/64"):
        body = {"network_id": net_id, "cidr": cidr, "ip_version": 6 if ":" in cidr else 4}
        assert http.post("/v2.0/subnets", json={"subnet": body}, headers=hdr).status_code == 201
    for _ in range(3):
        resp = http.post("/v2.0/ports", json={"port": {"network_id": net_id}}, headers=hdr)
        assert resp.status_code == 201
    neutron_error(
        http.get(f"/v2.0/network-ip-availabilities/{net_id}", headers=hdr),
        403,
        "PolicyNotAuthorized",
    )
    got = http.get(f"/v2.0/network-ip-availabilities/{net_id}").json()["network_ip_availability"]
    assert got["network_name"] == f"av-{project}" and got["project_id"] == project
    v4, v6 = sorted(got["subnet_ip_availability"], key=lambda s: s["ip_version"])
    assert v4["total_ips"] == 13 and v4["used_ips"] == 3  # /28 minus network, broadcast, gateway
    assert v6["total_ips"] == 2**64 - 2 and v6["used_ips"] == 3
    assert got["used_ips"] == 6 and got["total_ips"] == 13 + 2**64 - 2
    listed = http.get(f"/v2.0/network-ip-availabilities?project_id={project}&ip_version=4").json()
    [only] = listed["network_ip_availabilities"]
    assert [s["ip_version"] for s in only["subnet_ip_availability"]] == [4]
    neutron_error(http.get(f"/v2.0/network-ip-availabilities/{uuid.uuid4()}"), 404)
    neutron_error(http.get("/v2.0/network-ip-availabilities?bogus=1"), 400)
    nothing = http.get("/v2.0/network-ip-availabilities", params={"ip_version": "9" * 5000})
    assert nothing.json() == {"network_ip_availabilities": []}


def test_project_isolation(http: httpx.Client) -> None:
    alice, bob = member_headers(_project()), member_headers(_project())
    net = http.post("/v2.0/networks", json={"network": {"name": "private"}}, headers=alice)
    net_id = net.json()["network"]["id"]
    body = {"network_id": net_id, "cidr": "10.93.0.0/24", "ip_version": 4}
    sub_id = http.post("/v2.0/subnets", json={"subnet": body}, headers=alice).json()["subnet"]["id"]
    port = http.post("/v2.0/ports", json={"port": {"network_id": net_id}}, headers=alice)
    port_id = port.json()["port"]["id"]
    for kind, rid in (("networks", net_id), ("subnets", sub_id), ("ports", port_id)):
        neutron_error(http.get(f"/v2.0/{kind}/{rid}", headers=bob), 404)
        neutron_error(http.delete(f"/v2.0/{kind}/{rid}", headers=bob), 404)
        resp = http.put(f"/v2.0/{kind}/{rid}", json={kind[:-1]: {"name": "x"}}, headers=bob)
        neutron_error(resp, 404)
        assert rid not in {r["id"] for r in http.get(f"/v2.0/{kind}", headers=bob).json()[kind]}
    neutron_error(
        http.post("/v2.0/ports", json={"port": {"network_id": net_id}}, headers=bob),
        404,
        "NetworkNotFound",
    )
    shared = http.post("/v2.0/networks", json={"network": {"name": "s", "shared": True}})
    external = http.post("/v2.0/networks", json={"network": {"router:external": True}})
    seen = {n["id"] for n in http.get("/v2.0/networks", headers=bob).json()["networks"]}
    assert {shared.json()["network"]["id"], external.json()["network"]["id"]} <= seen
    own = http.get(f"/v2.0/ports/{port_id}", headers=alice).json()["port"]
    assert not any(k.startswith("binding:") and k != "binding:vnic_type" for k in own)
    mine = http.get(f"/v2.0/networks/{net_id}", headers=alice).json()["network"]
    assert not any(k.startswith("provider:") for k in mine)
    admin_view = http.get(f"/v2.0/ports/{port_id}").json()["port"]
    assert "binding:host_id" in admin_view


def test_quota_settings_are_the_defaults_reported_and_enforced() -> None:
    env = {"ALCOR_QUOTA_PORT": "2", "ALCOR_QUOTA_RBAC_POLICY": "7"}
    with AlcorServer(extra_env=env) as server, httpx.Client(base_url=server.url) as http:
        project = _project()
        hdr = member_headers(project)
        defaults = http.get(f"/v2.0/quotas/{project}/default").json()["quota"]
        assert defaults == {**NEUTRON_DEFAULTS, "port": 2, "rbac_policy": 7}
        net = http.post("/v2.0/networks", json={"network": {}}, headers=hdr).json()["network"]
        port = {"port": {"network_id": net["id"]}}
        for _ in range(2):
            assert http.post("/v2.0/ports", json=port, headers=hdr).status_code == 201
        neutron_error(http.post("/v2.0/ports", json=port, headers=hdr), 409, "OverQuota")
