"""Address groups (`address-group`, `security-groups-remote-address-group`) through
openstacksdk, the `openstack` CLI and raw HTTP: Neutron's semantics and errors."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from alcor.lab.server_process import AlcorServer
from tests.api.conftest import member_headers, neutron_error
from tests.api.test_cli import cli, cli_json


def _project() -> dict[str, str]:
    return member_headers(f"ag-{uuid.uuid4().hex[:8]}")


def _ag(http: httpx.Client, hdr: dict[str, str], **attrs: Any) -> httpx.Response:
    return http.post("/v2.0/address-groups", json={"address_group": attrs}, headers=hdr)


def _edit(
    http: httpx.Client, hdr: dict[str, str], ag_id: str, action: str, *addresses: Any
) -> httpx.Response:
    url = f"/v2.0/address-groups/{ag_id}/{action}"
    return http.put(url, json={"addresses": list(addresses)}, headers=hdr)


def _rule(http: httpx.Client, hdr: dict[str, str], sg_id: str, **attrs: Any) -> httpx.Response:
    body = {"security_group_id": sg_id, "direction": "ingress", **attrs}
    return http.post("/v2.0/security-group-rules", json={"security_group_rule": body}, headers=hdr)


def _sg(http: httpx.Client, hdr: dict[str, str]) -> str:
    body = {"security_group": {"name": "web"}}
    return str(
        http.post("/v2.0/security-groups", json=body, headers=hdr).json()["security_group"]["id"]
    )


def test_extensions_are_listed(http: httpx.Client) -> None:
    aliases = {e["alias"] for e in http.get("/v2.0/extensions").json()["extensions"]}
    assert {"address-group", "security-groups-remote-address-group"} <= aliases


def test_addresses_normalised_and_edited_by_actions(http: httpx.Client) -> None:
    hdr = _project()
    made = _ag(http, hdr, name="office", addresses=["10.1.2.3/24", "2001:db8::1/64"])
    assert made.status_code == 201, made.text
    ag = made.json()["address_group"]
    assert ag["addresses"] == ["10.1.2.0/24", "2001:db8::/64"]
    assert ag["name"] == "office" and ag["project_id"] == hdr["X-Project-Id"]
    added = _edit(http, hdr, ag["id"], "add_addresses", "192.0.2.7/32")
    assert added.status_code == 200, added.text
    body = added.json()["address_group"]
    assert body["addresses"] == ["10.1.2.0/24", "2001:db8::/64", "192.0.2.7/32"]
    assert body["revision_number"] == ag["revision_number"] + 1
    dup = neutron_error(
        _edit(http, hdr, ag["id"], "add_addresses", "10.1.2.9/24"), 400, "AddressesAlreadyExist"
    )
    assert dup["message"] == (
        f"Addresses ['10.1.2.0/24'] already exist in the address group {ag['id']}."
    )
    missing = neutron_error(
        _edit(http, hdr, ag["id"], "remove_addresses", "10.1.2.0/24", "198.51.100.0/24"),
        404,
        "AddressesNotFound",
    )
    assert "['198.51.100.0/24'] not found in the address group" in missing["message"]
    # the actions read a bare address as its host network, as Neutron's netaddr.IPNetwork
    bare = neutron_error(
        _edit(http, hdr, ag["id"], "remove_addresses", "10.200.200.200"), 404, "AddressesNotFound"
    )
    assert "['10.200.200.200/32'] not found" in bare["message"]
    neutron_error(_edit(http, hdr, ag["id"], "add_addresses", "10.9.9"), 400, "InvalidInput")
    # nothing changed by the refused edits
    now = http.get(f"/v2.0/address-groups/{ag['id']}", headers=hdr).json()["address_group"]
    assert now["addresses"] == body["addresses"]
    removed = _edit(http, hdr, ag["id"], "remove_addresses", "10.1.2.0/24", "2001:db8::/64")
    assert removed.json()["address_group"]["addresses"] == ["192.0.2.7/32"]
    host = _edit(http, hdr, ag["id"], "add_addresses", "2001:db8::9")
    assert host.json()["address_group"]["addresses"] == ["192.0.2.7/32", "2001:db8::9/128"]
    gone = _edit(http, hdr, ag["id"], "remove_addresses", "2001:db8::9")
    assert gone.json()["address_group"]["addresses"] == ["192.0.2.7/32"]
    neutron_error(
        http.put(
            f"/v2.0/address-groups/{ag['id']}",
            json={"address_group": {"addresses": []}},
            headers=hdr,
        ),
        400,
    )
    other = member_headers("someone-else")
    neutron_error(
        http.get(f"/v2.0/address-groups/{ag['id']}", headers=other), 404, "AddressGroupNotFound"
    )
    neutron_error(_edit(http, other, ag["id"], "add_addresses", "10.0.0.0/8"), 404)


def test_rules_name_address_groups(http: httpx.Client) -> None:
    hdr = _project()
    sg = _sg(http, hdr)
    ag = _ag(http, hdr, addresses=["10.5.0.0/16"]).json()["address_group"]["id"]
    ssh = {"protocol": "tcp", "port_range_min": 22, "port_range_max": 22}
    made = _rule(http, hdr, sg, remote_address_group_id=ag, **ssh)
    assert made.status_code == 201, made.text
    rule = made.json()["security_group_rule"]
    assert rule["remote_address_group_id"] == ag and rule["remote_group_id"] is None
    listed = http.get(
        f"/v2.0/security-group-rules?remote_address_group_id={ag}", headers=hdr
    ).json()["security_group_rules"]
    assert [r["id"] for r in listed] == [rule["id"]]
    neutron_error(
        _rule(http, hdr, sg, remote_address_group_id=ag, **ssh), 409, "SecurityGroupRuleExists"
    )
    # the same rule without the address group is another rule
    assert _rule(http, hdr, sg, **ssh).status_code == 201
    for extra in ({"remote_group_id": sg}, {"remote_ip_prefix": "10.0.0.0/8"}):
        neutron_error(
            _rule(http, hdr, sg, remote_address_group_id=ag, **extra),
            400,
            "SecurityGroupMultipleRemoteEntites",
        )
    neutron_error(
        _rule(http, hdr, sg, remote_address_group_id=str(uuid.uuid4())), 404, "AddressGroupNotFound"
    )
    neutron_error(_rule(http, hdr, sg, remote_address_group_id="nope"), 404, "AddressGroupNotFound")
    foreign = _ag(http, _project(), addresses=[]).json()["address_group"]["id"]
    neutron_error(
        _rule(http, hdr, sg, remote_address_group_id=foreign), 404, "AddressGroupNotFound"
    )
    in_use = neutron_error(
        http.delete(f"/v2.0/address-groups/{ag}", headers=hdr), 409, "AddressGroupInUse"
    )
    assert in_use["message"] == (
        f"Address group {ag} is in use on one or more security group rules."
    )
    assert http.delete(f"/v2.0/security-group-rules/{rule['id']}", headers=hdr).status_code == 204
    assert http.delete(f"/v2.0/address-groups/{ag}", headers=hdr).status_code == 204


def test_sdk_address_group_calls(conn: Any) -> None:
    ag = conn.network.create_address_group(name="sdk-ag", addresses=["10.7.0.0/24"])
    ag = conn.network.add_addresses_to_address_group(ag, ["10.8.0.1/32"])
    assert sorted(ag.addresses) == ["10.7.0.0/24", "10.8.0.1/32"]
    ag = conn.network.remove_addresses_from_address_group(ag, ["10.7.0.0/24"])
    assert ag.addresses == ["10.8.0.1/32"]
    assert conn.network.find_address_group("sdk-ag").id == ag.id
    conn.network.delete_address_group(ag)


def test_cli_address_group(server: AlcorServer, http: httpx.Client) -> None:
    if server.database_url.startswith("postgresql"):
        pytest.skip("the CLI's requests do not depend on the database (run on SQLite)")
    name = f"cli-ag-{uuid.uuid4().hex[:6]}"
    made = cli_json(server, "address", "group", "create", "--address", "10.44.0.1", name)
    assert made["addresses"] == ["10.44.0.1/32"]
    cli(server, "address", "group", "set", "--address", "10.45.0.0/16", name)
    sg = http.post("/v2.0/security-groups", json={"security_group": {"name": name}}).json()
    rule = cli_json(
        server,
        "security",
        "group",
        "rule",
        "create",
        "--remote-address-group",
        name,
        sg["security_group"]["id"],
    )
    assert rule["remote_address_group_id"] == made["id"]
    shown = http.get(f"/v2.0/address-groups/{made['id']}").json()["address_group"]
    assert sorted(shown["addresses"]) == ["10.44.0.1/32", "10.45.0.0/16"]
