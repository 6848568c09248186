"""Declared references through the real API: existence and visibility checks on write, and
what a delete does to what refers to it (refuse, clear, cascade), as Neutron does."""

from __future__ import annotations

import uuid
from typing import Any

import httpx

from tests.api.conftest import member_headers, neutron_error


def _made(http: httpx.Client, kind: str, hdr: dict[str, str] | None = None, **attrs: Any) -> dict:
    resp = http.post(f"/v2.0/{kind.replace('_', '-')}s", json={kind: attrs}, headers=hdr or {})
    assert resp.status_code == 201, resp.text
    return dict(resp.json()[kind])


def _gone(http: httpx.Client, path: str) -> None:
    neutron_error(http.get(path), 404)


def test_references_must_exist_and_be_visible(http: httpx.Client) -> None:
    mine, theirs = member_headers(f"p-{uuid.uuid4().hex[:8]}"), member_headers("other")
    private = _made(http, "network", theirs, name="private")
    for kind, attrs, type_name in (
        ("subnet", {"network_id": private["id"], "cidr": "10.60.0.0/24", "ip_version": 4}, None),
        ("port", {"network_id": private["id"]}, None),
        ("network_acl", {"network_id": private["id"]}, None),
    ):
        resp = http.post(f"/v2.0/{kind.replace('_', '-')}s", json={kind: attrs}, headers=mine)
        body = neutron_error(resp, 404, type_name or "NetworkNotFound")
        assert private["id"] in body["message"]
    # a shared network is visible, but a subnet on it is its owner's business: Neutron's
    # `create_subnet` (network owner or admin) refuses what the caller can see
    shared = _made(http, "network", name="shared", shared=True)
    refused = http.post(
        "/v2.0/subnets",
        json={"subnet": {"network_id": shared["id"], "cidr": "10.61.0.0/24", "ip_version": 4}},
        headers=mine,
    )
    neutron_error(refused, 403, "PolicyNotAuthorized")
    assert (
        http.post(
            "/v2.0/ports", json={"port": {"network_id": shared["id"]}}, headers=mine
        ).status_code
        == 201
    )
    # another project's group cannot be a port's group, even when an admin asks
    group = _made(http, "security_group", theirs, name="g")
    net = _made(http, "network", mine, name="n")
    neutron_error(
        http.post(
            "/v2.0/ports",
            json={"port": {"network_id": net["id"], "security_groups": [group["id"]]}},
            headers=mine,
        ),
        404,
        "SecurityGroupNotFound",
    )


def test_network_delete_cascades_subnets_acls_and_floating_ips(http: httpx.Client) -> None:
    ext = _made(http, "network", name="ext", **{"router:external": True})
    sub = _made(http, "subnet", network_id=ext["id"], cidr="198.18.70.0/24", ip_version=4)
    fips = [_made(http, "floatingip", floating_network_id=ext["id"]) for _ in range(3)]
    acl = _made(http, "network_acl", network_id=ext["id"], subnets=[sub["id"]])
    rule = _made(
        http,
        "network_acl_rule",
        network_acl_id=acl["id"],
        number=5,
        direction="ingress",
        action="deny",
    )
    assert http.delete(f"/v2.0/networks/{ext['id']}").status_code == 204
    for path in (
        f"/v2.0/subnets/{sub['id']}",
        f"/v2.0/network-acls/{acl['id']}",
        f"/v2.0/network-acl-rules/{rule['id']}",
        *[f"/v2.0/floatingips/{f['id']}" for f in fips],
    ):
        _gone(http, path)
    acls = http.get("/v2.0/network-acls", params={"network_id": ext["id"]}).json()
    assert acls["network_acls"] == []  # the default ACL went too


def test_network_with_ports_is_refused_and_nothing_moves(http: httpx.Client) -> None:
    net = _made(http, "network", name="busy")
    sub = _made(http, "subnet", network_id=net["id"], cidr="10.62.0.0/24", ip_version=4)
    _made(http, "port", network_id=net["id"])
    neutron_error(http.delete(f"/v2.0/networks/{net['id']}"), 409, "NetworkInUse")
    assert http.get(f"/v2.0/subnets/{sub['id']}").status_code == 200
    acls = http.get("/v2.0/network-acls", params={"network_id": net["id"]}).json()
    assert len(acls["network_acls"]) == 1


def test_security_group_delete_refused_in_use_and_cascades_rules(http: httpx.Client) -> None:
    hdr = member_headers(f"p-{uuid.uuid4().hex[:8]}")
    target = _made(http, "security_group", hdr, name="target")
    other = _made(http, "security_group", hdr, name="other")
    remote = _made(
        http,
        "security_group_rule",
        hdr,
        security_group_id=other["id"],
        direction="ingress",
        remote_group_id=target["id"],
    )
    net = _made(http, "network", hdr, name="n")
    port = _made(http, "port", hdr, network_id=net["id"], security_groups=[target["id"]])
    body = neutron_error(
        http.delete(f"/v2.0/security-groups/{target['id']}", headers=hdr), 409, "SecurityGroupInUse"
    )
    assert target["id"] in body["message"]
    assert http.delete(f"/v2.0/ports/{port['id']}", headers=hdr).status_code == 204
    assert http.delete(f"/v2.0/security-groups/{target['id']}", headers=hdr).status_code == 204
    # a rule admitting the deleted group goes with it, as in Neutron
    neutron_error(
        http.get(f"/v2.0/security-group-rules/{remote['id']}", headers=hdr),
        404,
        "SecurityGroupRuleNotFound",
    )


def test_ipv6_modes_and_auto_address_subnets(http: httpx.Client) -> None:
    net = _made(http, "network", name="v6")

    def subnet(cidr: str, **modes: Any) -> httpx.Response:
        return http.post(
            "/v2.0/subnets",
            json={"subnet": {"network_id": net["id"], "cidr": cidr, "ip_version": 6, **modes}},
        )

    mixed = subnet("2001:db8:50::/64", ipv6_ra_mode="slaac", ipv6_address_mode="dhcpv6-stateful")
    assert "must be the same value" in neutron_error(mixed, 400, "InvalidInput")["message"]
    wide = subnet("2001:db8:51::/56", ipv6_ra_mode="slaac", ipv6_address_mode="slaac")
    assert "/64" in neutron_error(wide, 400, "InvalidInput")["message"]
    no_dhcp = subnet("2001:db8:52::/64", ipv6_address_mode="slaac", enable_dhcp=False)
    neutron_error(no_dhcp, 400, "InvalidInput")
    stateless = subnet("2001:db8:53::/64", ipv6_address_mode="dhcpv6-stateless")
    assert stateless.status_code == 201, stateless.text
    sid = stateless.json()["subnet"]["id"]
    port = _made(http, "port", network_id=net["id"], mac_address="fa:16:3e:aa:bb:cc")
    assert port["fixed_ips"] == [
        {"subnet_id": sid, "ip_address": "2001:db8:53:0:f816:3eff:feaa:bbcc"}
    ]
    # Neutron deletes an auto-address subnet under its ports: their EUI-64 address goes
    assert http.delete(f"/v2.0/subnets/{sid}").status_code == 204
    after = http.get(f"/v2.0/ports/{port['id']}").json()["port"]
    assert after["fixed_ips"] == [] and after["revision_number"] > port["revision_number"]
