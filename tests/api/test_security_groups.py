"""Security groups and rules through openstacksdk and raw HTTP: Neutron's semantics."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from tests.api.conftest import member_headers, neutron_error


def _project() -> dict[str, str]:
    return member_headers(f"p-{uuid.uuid4().hex[:8]}")


def _group(http: httpx.Client, headers: dict[str, str], **attrs: Any) -> dict:
    resp = http.post(
        "/v2.0/security-groups",
        json={"security_group": {"name": "g", **attrs}},
        headers=headers,
    )
    assert resp.status_code == 201, resp.text
    return resp.json()["security_group"]


def _rule(http: httpx.Client, headers: dict[str, str], sg_id: str, **attrs: Any) -> httpx.Response:
    body = {"security_group_id": sg_id, "direction": "ingress", **attrs}
    return http.post(
        "/v2.0/security-group-rules", json={"security_group_rule": body}, headers=headers
    )


def _net(http: httpx.Client, headers: dict[str, str], cidr: str = "10.50.0.0/24") -> str:
    net = http.post("/v2.0/networks", json={"network": {"name": "n"}}, headers=headers).json()
    net_id = net["network"]["id"]
    body = {"subnet": {"network_id": net_id, "cidr": cidr, "ip_version": 4}}
    assert http.post("/v2.0/subnets", json=body, headers=headers).status_code == 201
    return net_id


def test_default_group_made_on_first_read_with_neutron_rules(http: httpx.Client) -> None:
    hdr = _project()
    groups = http.get("/v2.0/security-groups", headers=hdr).json()["security_groups"]
    assert [g["name"] for g in groups] == ["default"]
    default = groups[0]
    assert default["description"] == "Default security group" and default["stateful"] is True
    shape = sorted(
        (r["direction"], r["ethertype"], r["remote_group_id"] is not None)
        for r in default["security_group_rules"]
    )
    assert shape == [
        ("egress", "IPv4", False),
        ("egress", "IPv6", False),
        ("ingress", "IPv4", True),
        ("ingress", "IPv6", True),
    ]
    assert all(r["belongs_to_default_sg"] for r in default["security_group_rules"])
    ingress = [r for r in default["security_group_rules"] if r["direction"] == "ingress"]
    assert {r["remote_group_id"] for r in ingress} == {default["id"]}
    again = http.get("/v2.0/security-groups", headers=hdr).json()["security_groups"]
    assert [g["id"] for g in again] == [default["id"]]  # exactly one default, ever
    rules = http.get("/v2.0/security-group-rules", headers=hdr).json()["security_group_rules"]
    assert len(rules) == 4


def test_default_group_is_protected(http: httpx.Client) -> None:
    hdr = _project()
    default = http.get("/v2.0/security-groups", headers=hdr).json()["security_groups"][0]
    neutron_error(
        http.delete(f"/v2.0/security-groups/{default['id']}", headers=hdr),
        409,
        "SecurityGroupCannotRemoveDefault",
    )
    neutron_error(
        http.put(
            f"/v2.0/security-groups/{default['id']}",
            json={"security_group": {"name": "other"}},
            headers=hdr,
        ),
        409,
        "SecurityGroupCannotUpdateDefault",
    )
    ok = http.put(
        f"/v2.0/security-groups/{default['id']}",
        json={"security_group": {"description": "still default"}},
        headers=hdr,
    )
    assert ok.status_code == 200, ok.text
    resp = http.post(
        "/v2.0/security-groups", json={"security_group": {"name": "default"}}, headers=hdr
    )
    neutron_error(resp, 409, "SecurityGroupDefaultAlreadyExists")
    other = _group(http, hdr)
    neutron_error(
        http.put(
            f"/v2.0/security-groups/{other['id']}",
            json={"security_group": {"name": "default"}},
            headers=hdr,
        ),
        409,
        "SecurityGroupDefaultAlreadyExists",
    )


def test_new_group_gets_egress_rules_and_crud(conn: Any) -> None:
    sg = conn.network.create_security_group(name="web", description="front")
    rules = sorted((r["direction"], r["ethertype"]) for r in sg.security_group_rules)
    assert rules == [("egress", "IPv4"), ("egress", "IPv6")]
    assert sg.stateful is True
    updated = conn.network.update_security_group(sg, name="web2")
    assert updated.name == "web2" and updated.revision_number == 1
    rule = conn.network.create_security_group_rule(
        security_group_id=sg.id,
        direction="ingress",
        protocol="tcp",
        port_range_min=22,
        port_range_max=22,
        remote_ip_prefix="198.51.100.7/24",
        ethertype="ipv4",
    )
    assert rule.remote_ip_prefix == "198.51.100.7/24"
    assert rule.ether_type == "IPv4"
    got = conn.network.get_security_group_rule(rule.id)
    assert got.to_dict()["normalized_cidr"] == "198.51.100.0/24"
    listed = [r.id for r in conn.network.security_group_rules(security_group_id=sg.id)]
    assert rule.id in listed and len(listed) == 3
    conn.network.delete_security_group_rule(rule)
    conn.network.delete_security_group(sg)
    assert conn.network.find_security_group(sg.id) is None


def test_rule_validation_errors(http: httpx.Client) -> None:
    hdr = _project()
    sg = _group(http, hdr)["id"]
    cases: list[tuple[dict[str, Any], int, str]] = [
        ({"protocol": "bogus"}, 400, "SecurityGroupRuleInvalidProtocol"),
        ({"protocol": "256"}, 400, "SecurityGroupRuleInvalidProtocol"),
        # a digit to str.isdigit, not to int(): the fuzzer's 500 of 2026-12-08
        ({"protocol": "\u00b2"}, 400, "SecurityGroupRuleInvalidProtocol"),
        ({"ethertype": "IPv5"}, 400, "SecurityGroupRuleInvalidEtherType"),
        ({"port_range_min": 22}, 400, "SecurityGroupProtocolRequiredWithPorts"),
        (
            {"protocol": "tcp", "port_range_min": 30, "port_range_max": 20},
            400,
            "SecurityGroupInvalidPortRange",
        ),
        ({"protocol": "tcp", "port_range_min": 10}, 400, "SecurityGroupInvalidPortRange"),
        (
            {"protocol": "udp", "port_range_min": 0, "port_range_max": 10},
            400,
            "SecurityGroupInvalidPortValue",
        ),
        ({"protocol": "icmp", "port_range_min": 256}, 400, "SecurityGroupInvalidIcmpValue"),
        ({"protocol": "icmp", "port_range_max": 0}, 400, "SecurityGroupMissingIcmpType"),
        ({"protocol": "gre", "port_range_min": 1}, 400, "SecurityGroupInvalidProtocolForPort"),
        ({"protocol": "ipv6-icmp"}, 400, "SecurityGroupEthertypeConflictWithProtocol"),
        ({"remote_ip_prefix": "2001:db8::/64"}, 400, "SecurityGroupRuleParameterConflict"),
        ({"remote_ip_prefix": "10.0.0.300/8"}, 400, "InvalidInput"),
        ({"direction": "sideways"}, 400, "InvalidInput"),
        # Neutron's convert_validate_port_value: anything but 0-65535 is this error
        ({"port_range_min": "x", "protocol": "tcp"}, 400, "SecurityGroupInvalidPortValue"),
        ({"port_range_min": -16, "protocol": "tcp"}, 400, "SecurityGroupInvalidPortValue"),
        (
            {"remote_ip_prefix": "10.0.0.0/8", "remote_group_id": sg},
            400,
            "SecurityGroupMultipleRemoteEntites",
        ),
        ({"remote_group_id": str(uuid.uuid4())}, 404, "SecurityGroupNotFound"),
        ({"remote_group_id": "no-such-group"}, 404, "SecurityGroupNotFound"),
        ({"security_group_id": str(uuid.uuid4())}, 404, "SecurityGroupNotFound"),
    ]
    for attrs, code, kind in cases:
        neutron_error(_rule(http, hdr, sg, **attrs), code, kind)
    bad_port = neutron_error(_rule(http, hdr, sg, protocol="tcp", port_range_min=-16), 400)
    assert bad_port["message"] == "Invalid value for port -16"
    count = len(
        http.get(f"/v2.0/security-group-rules?security_group_id={sg}", headers=hdr).json()[
            "security_group_rules"
        ]
    )
    assert count == 2  # nothing partial was written


def test_rule_normalisation_and_duplicates(http: httpx.Client) -> None:
    hdr = _project()
    sg = _group(http, hdr)["id"]
    numbered = _rule(http, hdr, sg, protocol=17, port_range_min=5353, port_range_max=5353)
    assert numbered.status_code == 201, numbered.text  # a JSON integer, as Neutron accepts
    assert numbered.json()["security_group_rule"]["protocol"] == "17"
    first = _rule(http, hdr, sg, protocol="TCP", port_range_min=80, port_range_max=80)
    assert first.status_code == 201, first.text
    assert first.json()["security_group_rule"]["protocol"] == "tcp"
    dup = _rule(http, hdr, sg, protocol="6", port_range_min=80, port_range_max=80)
    body = neutron_error(dup, 409, "SecurityGroupRuleExists")
    assert first.json()["security_group_rule"]["id"] in body["message"]
    # 0.0.0.0/0 and no prefix are the same rule, as in Neutron
    assert (
        _rule(http, hdr, sg, protocol="udp", port_range_min=53, port_range_max=53).status_code
        == 201
    )
    neutron_error(
        _rule(
            http,
            hdr,
            sg,
            protocol="udp",
            port_range_min=53,
            port_range_max=53,
            remote_ip_prefix="0.0.0.0/0",
        ),
        409,
        "SecurityGroupRuleExists",
    )
    v6 = _rule(http, hdr, sg, protocol="icmp", ethertype="ipv6")
    assert v6.json()["security_group_rule"]["protocol"] == "ipv6-icmp"
    assert v6.json()["security_group_rule"]["ethertype"] == "IPv6"
    anyproto = _rule(http, hdr, sg, protocol="any", remote_ip_prefix="192.0.2.1")
    got = anyproto.json()["security_group_rule"]
    assert got["protocol"] is None and got["remote_ip_prefix"] == "192.0.2.1/32"
    icmp = _rule(http, hdr, sg, protocol="icmp", port_range_min=8, port_range_max=0)
    assert icmp.status_code == 201, icmp.text
    # rules cannot be updated
    rid = icmp.json()["security_group_rule"]["id"]
    resp = http.put(
        f"/v2.0/security-group-rules/{rid}",
        json={"security_group_rule": {"description": "x"}},
        headers=hdr,
    )
    neutron_error(resp, 405)


def test_bulk_rules_all_or_nothing(http: httpx.Client) -> None:
    hdr = _project()
    sg = _group(http, hdr)["id"]
    good = {"security_group_id": sg, "direction": "ingress", "protocol": "tcp"}
    bad = {"security_group_id": sg, "direction": "ingress", "protocol": "nope"}
    resp = http.post(
        "/v2.0/security-group-rules", json={"security_group_rules": [good, bad]}, headers=hdr
    )
    neutron_error(resp, 400, "SecurityGroupRuleInvalidProtocol")
    resp = http.post(
        "/v2.0/security-group-rules", json={"security_group_rules": [good, good]}, headers=hdr
    )
    neutron_error(resp, 409, "DuplicateSecurityGroupRuleInPost")
    other = _group(http, hdr)["id"]
    resp = http.post(
        "/v2.0/security-group-rules",
        json={"security_group_rules": [good, {**good, "security_group_id": other}]},
        headers=hdr,
    )
    neutron_error(resp, 400, "SecurityGroupNotSingleGroupRules")
    rules = http.get(f"/v2.0/security-group-rules?security_group_id={sg}", headers=hdr).json()
    assert len(rules["security_group_rules"]) == 2
    ok = http.post(
        "/v2.0/security-group-rules",
        json={"security_group_rules": [good, {**good, "protocol": "udp"}]},
        headers=hdr,
    )
    assert ok.status_code == 201 and len(ok.json()["security_group_rules"]) == 2


def test_ports_get_default_group_and_groups_are_checked(http: httpx.Client) -> None:
    hdr = _project()
    net = _net(http, hdr)
    port = http.post("/v2.0/ports", json={"port": {"network_id": net}}, headers=hdr).json()["port"]
    default = [
        g
        for g in http.get("/v2.0/security-groups", headers=hdr).json()["security_groups"]
        if g["name"] == "default"
    ]
    assert port["security_groups"] == [default[0]["id"]]
    explicit = http.post(
        "/v2.0/ports", json={"port": {"network_id": net, "security_groups": []}}, headers=hdr
    )
    assert explicit.json()["port"]["security_groups"] == []
    nosec = http.post(
        "/v2.0/ports",
        json={"port": {"network_id": net, "port_security_enabled": False}},
        headers=hdr,
    )
    assert nosec.json()["port"]["security_groups"] == []
    router_port = http.post(
        "/v2.0/ports",
        json={"port": {"network_id": net, "device_owner": "network:dhcp"}},
        headers=hdr,
    )
    assert router_port.json()["port"]["security_groups"] == []
    bad = http.post(
        "/v2.0/ports",
        json={
            "port": {
                "network_id": net,
                "port_security_enabled": False,
                "security_groups": [default[0]["id"]],
            }
        },
        headers=hdr,
    )
    neutron_error(bad, 409, "PortSecurityAndIPRequiredForSecurityGroups")
    foreign = _group(http, _project())["id"]
    resp = http.post(
        "/v2.0/ports", json={"port": {"network_id": net, "security_groups": [foreign]}}, headers=hdr
    )
    neutron_error(resp, 404, "SecurityGroupNotFound")
    web = _group(http, hdr, name="web")["id"]
    moved = http.put(
        f"/v2.0/ports/{port['id']}", json={"port": {"security_groups": [web]}}, headers=hdr
    )
    assert moved.json()["port"]["security_groups"] == [web]
    neutron_error(
        http.delete(f"/v2.0/security-groups/{web}", headers=hdr), 409, "SecurityGroupInUse"
    )
    neutron_error(
        http.put(
            f"/v2.0/security-groups/{web}",
            json={"security_group": {"stateful": False}},
            headers=hdr,
        ),
        409,
        "SecurityGroupInUse",
    )
    assert http.delete(f"/v2.0/ports/{port['id']}", headers=hdr).status_code == 204
    assert http.delete(f"/v2.0/security-groups/{web}", headers=hdr).status_code == 204


def test_remote_group_rules_go_with_their_group(http: httpx.Client) -> None:
    hdr = _project()
    a, b = _group(http, hdr)["id"], _group(http, hdr)["id"]
    resp = _rule(http, hdr, a, remote_group_id=b)
    assert resp.status_code == 201
    assert http.delete(f"/v2.0/security-groups/{b}", headers=hdr).status_code == 204
    rules = http.get(f"/v2.0/security-group-rules?security_group_id={a}", headers=hdr).json()
    assert all(r["remote_group_id"] != b for r in rules["security_group_rules"])


def test_isolation_between_projects(http: httpx.Client) -> None:
    alice, bob = _project(), _project()
    sg = _group(http, alice)
    assert http.get(f"/v2.0/security-groups/{sg['id']}", headers=bob).status_code == 404
    neutron_error(_rule(http, bob, sg["id"]), 404, "SecurityGroupNotFound")
    rule_id = sg["security_group_rules"][0]["id"]
    assert http.get(f"/v2.0/security-group-rules/{rule_id}", headers=bob).status_code == 404
    assert http.delete(f"/v2.0/security-group-rules/{rule_id}", headers=bob).status_code == 404
    names = {
        g["id"] for g in http.get("/v2.0/security-groups", headers=bob).json()["security_groups"]
    }
    assert sg["id"] not in names
    seen = http.get("/v2.0/security-group-rules", headers=bob).json()["security_group_rules"]
    assert rule_id not in {r["id"] for r in seen}


@pytest.mark.parametrize("stateful", [True, False])
def test_stateful_groups(conn: Any, stateful: bool) -> None:
    sg = conn.network.create_security_group(name=f"s-{stateful}", stateful=stateful)
    assert conn.network.get_security_group(sg.id).stateful is stateful
    conn.network.delete_security_group(sg)


def test_shared_and_default_rule_filters(http: httpx.Client) -> None:
    """`security-groups-shared-filtering`, `security-groups-rules-belongs-to-default-sg`,
    `security-groups-normalized-cidr`."""
    hdr = _project()
    sg = _group(http, hdr)
    groups = http.get("/v2.0/security-groups?shared=false", headers=hdr).json()
    assert {g["id"] for g in groups["security_groups"]} >= {sg["id"]}
    assert http.get("/v2.0/security-groups?shared=true", headers=hdr).json() == {
        "security_groups": []
    }
    neutron_error(http.get("/v2.0/security-groups?shared=maybe", headers=hdr), 400)
    rules = http.get("/v2.0/security-group-rules?belongs_to_default_sg=true", headers=hdr).json()[
        "security_group_rules"
    ]
    assert rules and all(r["belongs_to_default_sg"] for r in rules)
    assert sg["id"] not in {r["security_group_id"] for r in rules}
    made = _rule(http, hdr, sg["id"], remote_ip_prefix="10.1.2.3/16").json()
    assert made["security_group_rule"]["normalized_cidr"] == "10.1.0.0/16"


def test_default_rule_templates_shape_new_groups(http: httpx.Client) -> None:
    """`security-groups-default-rules`: Neutron's four templates, admins add and remove
    templates, and new groups (default or not) get exactly the templates meant for them."""
    url = "/v2.0/default-security-group-rules"
    seeded = http.get(url).json()["default_security_group_rules"]
    shape = sorted(
        (
            t["direction"],
            t["ethertype"],
            t["remote_group_id"],
            t["used_in_default_sg"],
            t["used_in_non_default_sg"],
        )
        for t in seeded
    )
    assert shape == [
        ("egress", "IPv4", None, True, True),
        ("egress", "IPv6", None, True, True),
        ("ingress", "IPv4", "PARENT", True, False),
        ("ingress", "IPv6", "PARENT", True, False),
    ]
    assert {(t["direction"], t["description"]) for t in seeded} == {
        ("egress", "Legacy default SG rule for egress traffic"),
        ("ingress", "Legacy default SG rule for ingress traffic"),
    }
    hdr = _project()
    neutron_error(
        http.post(url, json={"default_security_group_rule": {"direction": "ingress"}}, headers=hdr),
        403,
        "PolicyNotAuthorized",
    )
    ssh = {"direction": "ingress", "protocol": "tcp", "port_range_min": 22, "port_range_max": 22}
    made = http.post(url, json={"default_security_group_rule": ssh})
    assert made.status_code == 201, made.text
    template = made.json()["default_security_group_rule"]
    assert (template["used_in_default_sg"], template["used_in_non_default_sg"]) == (False, True)
    neutron_error(
        http.post(url, json={"default_security_group_rule": ssh}),
        409,
        "DefaultSecurityGroupRuleExists",
    )
    try:
        sg = _group(http, hdr)
        rules = [
            (r["direction"], r["protocol"], r["port_range_min"]) for r in sg["security_group_rules"]
        ]
        assert sorted(rules) == [
            ("egress", None, None),
            ("egress", None, None),
            ("ingress", "tcp", 22),
        ]
        default = next(
            g
            for g in http.get("/v2.0/security-groups", headers=hdr).json()["security_groups"]
            if g["name"] == "default"
        )
        assert all(r["protocol"] is None for r in default["security_group_rules"])
        assert len(default["security_group_rules"]) == 4
    finally:
        assert http.delete(f"{url}/{template['id']}").status_code == 204
    neutron_error(http.get(f"{url}/{template['id']}"), 404, "DefaultSecurityGroupRuleNotFound")


def test_groups_without_any_rule_template(http: httpx.Client) -> None:
    """With every default rule template deleted by an admin, new groups (the default one made
    for a new project's first port too) come without rules, never a 500."""
    url = "/v2.0/default-security-group-rules"
    seeded = http.get(url).json()["default_security_group_rules"]
    keys = ("direction", "ethertype", "remote_group_id", "used_in_default_sg")
    keys += ("used_in_non_default_sg", "description")
    try:
        for template in seeded:
            assert http.delete(f"{url}/{template['id']}").status_code == 204
        hdr = _project()
        net = http.post("/v2.0/networks", json={"network": {"name": "bare"}}, headers=hdr)
        port = http.post(
            "/v2.0/ports", json={"port": {"network_id": net.json()["network"]["id"]}}, headers=hdr
        )
        assert port.status_code == 201, port.text
        [default] = http.get("/v2.0/security-groups", headers=hdr).json()["security_groups"]
        assert default["name"] == "default" and default["security_group_rules"] == []
    finally:
        for template in seeded:
            body = {k: template[k] for k in keys}
            assert http.post(url, json={"default_security_group_rule": body}).status_code == 201


def test_admin_listing_a_projects_groups_makes_its_default(http: httpx.Client) -> None:
    """Neutron's get_security_groups makes the default group of the project a list filters
    on (tempest lists a new project's `default` group as admin before the project did
    anything); a member filtering on another project makes nothing there."""
    project = uuid.uuid4().hex
    other = _project()
    neutron_filter = {"project_id": project, "name": "default"}
    by_member = http.get("/v2.0/security-groups", params=neutron_filter, headers=other)
    assert by_member.json()["security_groups"] == []
    listed = http.get("/v2.0/security-groups", params=neutron_filter).json()["security_groups"]
    assert [(g["name"], g["project_id"]) for g in listed] == [("default", project)]
    assert len(listed[0]["security_group_rules"]) == 4
    again = http.get("/v2.0/security-groups", params={"project_id": project})
    assert [g["id"] for g in again.json()["security_groups"]] == [listed[0]["id"]]


def test_one_rule_in_each_template(http: httpx.Client) -> None:
    """A rule may be a template for default groups and, separately, for the other groups;
    twice in the same template it is DefaultSecurityGroupRuleExists."""
    url = "/v2.0/default-security-group-rules"
    rule = {"direction": "ingress", "protocol": "tcp", "port_range_min": 2022}
    rule["port_range_max"] = 2022
    made = []
    try:
        for flags in ((True, False), (False, True)):
            body = dict(zip(("used_in_default_sg", "used_in_non_default_sg"), flags, strict=True))
            resp = http.post(url, json={"default_security_group_rule": {**rule, **body}})
            assert resp.status_code == 201, resp.text
            made.append(resp.json()["default_security_group_rule"]["id"])
        both = {**rule, "used_in_default_sg": True, "used_in_non_default_sg": True}
        dup = neutron_error(
            http.post(url, json={"default_security_group_rule": both}),
            409,
            "DefaultSecurityGroupRuleExists",
        )
        assert (
            dup["message"] == f"Default Security group rule already exists. Rule id is {made[0]}."
        )
    finally:
        for template in made:
            assert http.delete(f"{url}/{template}").status_code == 204
