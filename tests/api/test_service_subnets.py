"""Service subnets (`subnet-service-types`): which subnets a port takes its addresses from,
as Neutron's IPAM picks them (neutron-tempest-plugin's SubnetServiceTypeTestJSON)."""

from __future__ import annotations

import ipaddress
import uuid
from typing import Any

import httpx

from tests.api.conftest import member_headers, neutron_error

ADMIN: dict[str, str] = {}


def _post(http: httpx.Client, kind: str, **attrs: Any) -> httpx.Response:
    return http.post(f"/v2.0/{kind}s", json={kind: attrs}, headers=ADMIN)


def _made(resp: httpx.Response, kind: str) -> dict[str, Any]:
    assert resp.status_code == 201, resp.text
    return resp.json()[kind]  # type: ignore[no-any-return]


def _network(http: httpx.Client, *subnets: tuple[str, list[str]]) -> tuple[str, list[str]]:
    """A network with a subnet per (cidr, service_types); its id and the subnets' ids."""
    net = _made(_post(http, "network", name=f"st-{uuid.uuid4().hex[:6]}"), "network")["id"]
    ids = [
        _made(
            _post(http, "subnet", network_id=net, cidr=cidr, ip_version=4, service_types=types),
            "subnet",
        )["id"]
        for cidr, types in subnets
    ]
    return net, ids


def _subnet_of(port: dict[str, Any]) -> list[str]:
    return [f["subnet_id"] for f in port["fixed_ips"]]


def test_port_addresses_come_from_its_owners_subnet(http: httpx.Client) -> None:
    net, (one, two) = _network(
        http, ("10.181.1.0/24", ["test:type_1"]), ("10.181.2.0/24", ["test:type_2"])
    )
    p1 = _made(_post(http, "port", network_id=net, device_owner="test:type_1"), "port")
    p2 = _made(_post(http, "port", network_id=net, device_owner="test:type_2"), "port")
    assert _subnet_of(p1) == [one] and _subnet_of(p2) == [two]
    assert ipaddress.ip_address(p2["fixed_ips"][0]["ip_address"]) in ipaddress.ip_network(
        "10.181.2.0/24"
    )


def test_bulk_ports_of_several_owners(http: httpx.Client) -> None:
    """A bulk create allocates per (network, owner), never one subnet for every port."""
    net, (one, two) = _network(
        http, ("10.182.1.0/24", ["test:type_1"]), ("10.182.2.0/24", ["test:type_2"])
    )
    ports = [
        {"network_id": net, "device_owner": owner}
        for owner in ("test:type_1", "test:type_2", "test:type_1", "test:type_2")
    ]
    resp = http.post("/v2.0/ports", json={"ports": ports}, headers=ADMIN)
    assert resp.status_code == 201, resp.text
    assert [_subnet_of(p) for p in resp.json()["ports"]] == [[one], [two], [one], [two]]


def test_typed_subnets_first_untyped_for_everyone(http: httpx.Client) -> None:
    net, (plain, typed) = _network(http, ("10.183.1.0/24", []), ("10.183.2.0/24", ["compute:nova"]))
    vm = _made(_post(http, "port", network_id=net, device_owner="compute:nova"), "port")
    other = _made(_post(http, "port", network_id=net, device_owner="test:other"), "port")
    assert _subnet_of(vm) == [typed] and _subnet_of(other) == [plain]


def test_no_subnet_for_the_owner(http: httpx.Client) -> None:
    net, (typed,) = _network(http, ("10.184.1.0/24", ["test:type_1"]))
    body = neutron_error(
        _post(http, "port", network_id=net, device_owner="test:type_2"),
        409,
        "IpAddressGenerationFailureNoMatchingSubnet",
    )
    assert body["message"] == (
        f"No valid service subnet for the given device owner, network {net}, "
        "service type test:type_2."
    )
    # a DHCP port may use any subnet with DHCP on
    dhcp = _made(_post(http, "port", network_id=net, device_owner="network:dhcp"), "port")
    assert _subnet_of(dhcp) == [typed]


def test_explicit_subnet_of_another_service(http: httpx.Client) -> None:
    net, (one, two) = _network(
        http, ("10.185.1.0/24", ["test:type_1"]), ("10.185.2.0/24", ["test:type_2"])
    )
    body = neutron_error(
        _post(
            http, "port", network_id=net, device_owner="test:type_1", fixed_ips=[{"subnet_id": two}]
        ),
        400,
        "InvalidInput",
    )
    assert body["message"] == (
        f"Invalid input for operation: Failed to create port on network {net}, "
        f"because fixed_ips included invalid subnet {two}."
    )
    mine = _post(
        http, "port", network_id=net, device_owner="test:type_1", fixed_ips=[{"subnet_id": one}]
    )
    assert _subnet_of(_made(mine, "port")) == [one]


def test_update_keeps_an_address_its_subnet_no_longer_serves(http: httpx.Client) -> None:
    net, (typed, plain) = _network(http, ("10.186.1.0/24", ["test:type_1"]), ("10.186.2.0/24", []))
    port = _made(_post(http, "port", network_id=net, device_owner="test:type_1"), "port")
    assert _subnet_of(port) == [typed]
    retyped = http.put(
        f"/v2.0/subnets/{typed}", json={"subnet": {"service_types": ["test:type_3"]}}, headers=ADMIN
    )
    assert retyped.status_code == 200, retyped.text
    wanted = [*port["fixed_ips"], {"subnet_id": plain}]
    resp = http.put(
        f"/v2.0/ports/{port['id']}", json={"port": {"fixed_ips": wanted}}, headers=ADMIN
    )
    assert resp.status_code == 200, resp.text
    assert _subnet_of(resp.json()["port"]) == [typed, plain]
    again = http.put(
        f"/v2.0/ports/{port['id']}",
        json={"port": {"fixed_ips": [{"subnet_id": typed}]}},
        headers=ADMIN,
    )
    assert again.status_code == 200, again.text
    assert again.json()["port"]["fixed_ips"] == port["fixed_ips"]


def test_members_set_their_subnets_service_types(http: httpx.Client) -> None:
    """Neutron never enforces create/update_subnet:service_types (the attribute is not
    `enforce_policy`): a subnet's owner sets them."""
    hdr = member_headers(f"st-{uuid.uuid4().hex[:8]}")
    net = http.post("/v2.0/networks", json={"network": {"name": "st"}}, headers=hdr)
    body = {"network_id": net.json()["network"]["id"], "cidr": "10.187.0.0/24", "ip_version": 4}
    made = http.post(
        "/v2.0/subnets", json={"subnet": {**body, "service_types": ["compute:"]}}, headers=hdr
    )
    assert made.status_code == 201, made.text
    subnet = made.json()["subnet"]
    changed = http.put(
        f"/v2.0/subnets/{subnet['id']}", json={"subnet": {"service_types": []}}, headers=hdr
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["subnet"]["service_types"] == []
    assert changed.json()["subnet"]["revision_number"] > subnet["revision_number"]
