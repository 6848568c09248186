"""Network ACLs (alcor-network-acl) through the real server, SQLite and PostgreSQL."""

from __future__ import annotations

import uuid
from typing import Any

import httpx

from tests.api.conftest import member_headers, neutron_error


def _project() -> dict[str, str]:
    return member_headers(f"a-{uuid.uuid4().hex[:8]}")


def _network(http: httpx.Client, hdr: dict[str, str], *cidrs: str) -> tuple[str, list[str]]:
    net = http.post("/v2.0/networks", json={"network": {"name": "vpc"}}, headers=hdr)
    net_id = net.json()["network"]["id"]
    subs = []
    for cidr in cidrs:
        body = {"subnet": {"network_id": net_id, "cidr": cidr, "ip_version": 4}}
        subs.append(http.post("/v2.0/subnets", json=body, headers=hdr).json()["subnet"]["id"])
    return net_id, subs


def _acl(http: httpx.Client, hdr: dict[str, str], **attrs: Any) -> httpx.Response:
    return http.post("/v2.0/network-acls", json={"network_acl": attrs}, headers=hdr)


def _rule(http: httpx.Client, hdr: dict[str, str], acl_id: str, **attrs: Any) -> httpx.Response:
    body = {"network_acl_id": acl_id, "direction": "ingress", "action": "allow", **attrs}
    return http.post("/v2.0/network-acl-rules", json={"network_acl_rule": body}, headers=hdr)


def test_extension_is_listed(http: httpx.Client) -> None:
    ext = http.get("/v2.0/extensions/alcor-network-acl").json()["extension"]
    assert ext["name"] == "Network ACLs" and "lowest number first" in ext["description"]


def test_every_network_has_a_default_acl_allowing_all(http: httpx.Client) -> None:
    hdr = _project()
    net, _ = _network(http, hdr, "10.70.0.0/24")
    acls = http.get(f"/v2.0/network-acls?network_id={net}", headers=hdr).json()["network_acls"]
    [default] = acls
    assert default["is_default"] is True and default["name"] == "default"
    assert default["subnets"] == []
    rules = http.get(
        f"/v2.0/network-acl-rules?network_acl_id={default['id']}&sort_key=number", headers=hdr
    ).json()["network_acl_rules"]
    shape = sorted((r["direction"], r["number"], r["ethertype"], r["action"]) for r in rules)
    assert shape == [
        ("egress", 100, "IPv4", "allow"),
        ("egress", 101, "IPv6", "allow"),
        ("ingress", 100, "IPv4", "allow"),
        ("ingress", 101, "IPv6", "allow"),
    ]
    assert all(r["protocol"] is None and r["ip_prefix"] is None for r in rules)
    neutron_error(
        http.delete(f"/v2.0/network-acls/{default['id']}", headers=hdr),
        409,
        "NetworkAclDefaultInUse",
    )
    # the network takes its ACLs with it
    assert http.delete(f"/v2.0/networks/{net}", headers=hdr).status_code == 204
    assert http.get(f"/v2.0/network-acls/{default['id']}", headers=hdr).status_code == 404


def test_acl_lifecycle_and_subnet_association(http: httpx.Client) -> None:
    hdr = _project()
    net, (a, b) = _network(http, hdr, "10.71.0.0/24", "10.71.1.0/24")
    other_net, (c,) = _network(http, hdr, "10.72.0.0/24")
    resp = _acl(http, hdr, name="web", network_id=net, subnets=[a])
    assert resp.status_code == 201, resp.text
    web = resp.json()["network_acl"]
    assert web["subnets"] == [a] and web["is_default"] is False
    rules = http.get(f"/v2.0/network-acl-rules?network_acl_id={web['id']}", headers=hdr).json()
    assert rules["network_acl_rules"] == []  # a new ACL denies everything
    dup = _acl(http, hdr, name="db", network_id=net, subnets=[a])
    neutron_error(dup, 409, "SubnetAlreadyAssociatedWithNetworkAcl")
    neutron_error(
        _acl(http, hdr, name="x", network_id=net, subnets=[c]), 400, "NetworkAclSubnetNotInNetwork"
    )
    assert (
        len(http.get(f"/v2.0/network-acls?network_id={net}", headers=hdr).json()["network_acls"])
        == 2
    )
    db = _acl(http, hdr, name="db", network_id=net).json()["network_acl"]
    moved = http.put(
        f"/v2.0/network-acls/{db['id']}", json={"network_acl": {"subnets": [b]}}, headers=hdr
    )
    assert moved.json()["network_acl"]["subnets"] == [b]
    assert moved.json()["network_acl"]["revision_number"] == 1
    neutron_error(
        http.delete(f"/v2.0/network-acls/{web['id']}", headers=hdr), 409, "NetworkAclInUse"
    )
    cleared = http.put(
        f"/v2.0/network-acls/{web['id']}", json={"network_acl": {"subnets": []}}, headers=hdr
    )
    assert cleared.json()["network_acl"]["subnets"] == []
    assert http.delete(f"/v2.0/network-acls/{web['id']}", headers=hdr).status_code == 204
    # deleting a subnet removes it from its ACL
    assert http.delete(f"/v2.0/subnets/{b}", headers=hdr).status_code == 204
    got = http.get(f"/v2.0/network-acls/{db['id']}", headers=hdr).json()["network_acl"]
    assert got["subnets"] == []
    neutron_error(_acl(http, hdr, network_id=str(uuid.uuid4())), 404, "NetworkNotFound")
    neutron_error(_acl(http, hdr, name="no-network"), 400)
    assert other_net


def test_rules_validation_numbers_and_updates(http: httpx.Client) -> None:
    hdr = _project()
    net, _ = _network(http, hdr)
    acl_id = _acl(http, hdr, network_id=net).json()["network_acl"]["id"]
    ok = _rule(
        http,
        hdr,
        acl_id,
        number=10,
        protocol="TCP",
        ip_prefix="198.51.100.7/24",
        port_range_min=443,
        port_range_max=443,
    )
    assert ok.status_code == 201, ok.text
    rule = ok.json()["network_acl_rule"]
    assert rule["protocol"] == "tcp" and rule["ip_prefix"] == "198.51.100.0/24"
    assert rule["project_id"] == hdr["X-Project-Id"]
    neutron_error(
        _rule(http, hdr, acl_id, number=10, protocol="udp"), 409, "NetworkAclRuleNumberInUse"
    )
    egress = _rule(http, hdr, acl_id, number=10, direction="egress", action="deny")
    assert egress.status_code == 201  # numbers are per direction
    cases: list[tuple[dict[str, Any], str]] = [
        ({"number": 0}, "InvalidInput"),
        ({"number": 32767}, "InvalidInput"),
        ({"number": 11, "action": "maybe"}, "InvalidInput"),
        ({"number": 11, "protocol": "bogus"}, "SecurityGroupRuleInvalidProtocol"),
        ({"number": 11, "ip_prefix": "2001:db8::/32"}, "NetworkAclRuleParameterConflict"),
        ({"number": 11, "ip_prefix": "nope"}, "InvalidInput"),
        (
            {"number": 11, "protocol": "icmp", "port_range_min": 1, "port_range_max": 2},
            "NetworkAclRuleInvalidPortRange",
        ),
        (
            {"number": 11, "protocol": "tcp", "port_range_min": 5, "port_range_max": 4},
            "NetworkAclRuleInvalidPortRange",
        ),
        ({"number": 11, "protocol": "tcp", "icmp_type": 8}, "NetworkAclRuleInvalidIcmp"),
        ({"number": 11, "protocol": "icmp", "icmp_code": 0}, "NetworkAclRuleInvalidIcmp"),
    ]
    for attrs, kind in cases:
        neutron_error(_rule(http, hdr, acl_id, **attrs), 400, kind)
    icmp = _rule(http, hdr, acl_id, number=20, protocol="icmp", icmp_type=8, icmp_code=0)
    assert icmp.status_code == 201
    neutron_error(_rule(http, hdr, str(uuid.uuid4()), number=1), 404, "NetworkAclNotFound")
    path = f"/v2.0/network-acl-rules/{rule['id']}"
    changed = http.put(
        path, json={"network_acl_rule": {"action": "deny", "number": 15}}, headers=hdr
    )
    assert changed.status_code == 200 and changed.json()["network_acl_rule"]["action"] == "deny"
    neutron_error(
        http.put(path, json={"network_acl_rule": {"number": 20}}, headers=hdr),
        409,
        "NetworkAclRuleNumberInUse",
    )
    neutron_error(
        http.put(path, json={"network_acl_rule": {"port_range_max": 80}}, headers=hdr),
        400,
        "NetworkAclRuleInvalidPortRange",
    )
    bulk = [
        {"network_acl_id": acl_id, "direction": "ingress", "action": "allow", "number": 30},
        {"network_acl_id": acl_id, "direction": "ingress", "action": "allow", "number": 30},
    ]
    resp = http.post("/v2.0/network-acl-rules", json={"network_acl_rules": bulk}, headers=hdr)
    neutron_error(resp, 409, "NetworkAclRuleNumberInUse")
    listed = http.get(f"/v2.0/network-acl-rules?network_acl_id={acl_id}", headers=hdr).json()
    assert sorted(r["number"] for r in listed["network_acl_rules"]) == [10, 15, 20]


def test_acls_are_isolated_between_projects(http: httpx.Client) -> None:
    alice, bob = _project(), _project()
    net, _ = _network(http, alice)
    acl_id = _acl(http, alice, network_id=net).json()["network_acl"]["id"]
    rule_id = _rule(http, alice, acl_id, number=5).json()["network_acl_rule"]["id"]
    neutron_error(_acl(http, bob, network_id=net), 404, "NetworkNotFound")
    assert http.get(f"/v2.0/network-acls/{acl_id}", headers=bob).status_code == 404
    assert http.get(f"/v2.0/network-acl-rules/{rule_id}", headers=bob).status_code == 404
    neutron_error(_rule(http, bob, acl_id, number=6), 404, "NetworkAclNotFound")
    assert http.delete(f"/v2.0/network-acl-rules/{rule_id}", headers=bob).status_code == 404
    assert http.get("/v2.0/network-acls", headers=bob).json()["network_acls"] == []


def _port(http: httpx.Client, hdr: dict[str, str], net: str) -> str:
    body = {"port": {"network_id": net}}
    return str(http.post("/v2.0/ports", json=body, headers=hdr).json()["port"]["id"])


def test_port_association(http: httpx.Client) -> None:
    hdr = _project()
    net, _ = _network(http, hdr, "10.74.0.0/24")
    other_net, _ = _network(http, hdr, "10.75.0.0/24")
    p, q, stranger = _port(http, hdr, net), _port(http, hdr, net), _port(http, hdr, other_net)
    resp = _acl(http, hdr, name="vm", network_id=net, ports=[p])
    assert resp.status_code == 201, resp.text
    vm = resp.json()["network_acl"]
    assert vm["ports"] == [p] and vm["subnets"] == []
    neutron_error(
        _acl(http, hdr, name="dup", network_id=net, ports=[p]),
        409,
        "PortAlreadyAssociatedWithNetworkAcl",
    )
    neutron_error(
        _acl(http, hdr, name="x", network_id=net, ports=[stranger]),
        400,
        "NetworkAclPortNotInNetwork",
    )
    neutron_error(
        _acl(http, hdr, name="x", network_id=net, ports=[str(uuid.uuid4())]), 404, "PortNotFound"
    )
    [default] = http.get(
        f"/v2.0/network-acls?network_id={net}&is_default=true", headers=hdr
    ).json()["network_acls"]
    assert default["ports"] == []
    neutron_error(
        http.put(
            f"/v2.0/network-acls/{default['id']}",
            json={"network_acl": {"ports": [q]}},
            headers=hdr,
        ),
        400,
        "NetworkAclDefaultAssociation",
    )
    both = http.put(
        f"/v2.0/network-acls/{vm['id']}", json={"network_acl": {"ports": [p, q]}}, headers=hdr
    )
    assert sorted(both.json()["network_acl"]["ports"]) == sorted([p, q])
    neutron_error(
        http.delete(f"/v2.0/network-acls/{vm['id']}", headers=hdr), 409, "NetworkAclInUse"
    )
    # deleting a port removes it from its ACL
    assert http.delete(f"/v2.0/ports/{q}", headers=hdr).status_code == 204
    got = http.get(f"/v2.0/network-acls/{vm['id']}", headers=hdr).json()["network_acl"]
    assert got["ports"] == [p]
    cleared = http.put(
        f"/v2.0/network-acls/{vm['id']}", json={"network_acl": {"ports": []}}, headers=hdr
    )
    assert cleared.json()["network_acl"]["ports"] == []
    assert http.delete(f"/v2.0/network-acls/{vm['id']}", headers=hdr).status_code == 204
