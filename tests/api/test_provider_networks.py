"""Provider networks: flat networks on a physical network, with ML2's rules and messages."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx

from tests.api.conftest import member_headers, neutron_error


def _create(http: httpx.Client, **attrs: Any) -> httpx.Response:
    return http.post("/v2.0/networks", json={"network": {"name": "p", **attrs}})


def _flat(physnet: str, **attrs: Any) -> dict[str, Any]:
    return {"provider:network_type": "flat", "provider:physical_network": physnet, **attrs}


def _physnet() -> str:
    return f"phys-{uuid.uuid4().hex[:12]}"


def test_flat_network_one_per_physical_network(http: httpx.Client) -> None:
    physnet = _physnet()
    resp = _create(http, **_flat(physnet))
    assert resp.status_code == 201, resp.text
    net = resp.json()["network"]
    assert net["provider:network_type"] == "flat"
    assert net["provider:physical_network"] == physnet
    assert net["provider:segmentation_id"] is None
    assert net["mtu"] == 1500  # no encapsulation on a physical network
    body = neutron_error(_create(http, **_flat(physnet)), 409, "FlatNetworkInUse")
    assert body["message"] == (
        f"Unable to create the flat network. Physical network {physnet} is in use."
    )
    other = _create(http, **_flat(_physnet()))
    assert other.status_code == 201, other.text
    listed = http.get("/v2.0/networks", params={"provider:physical_network": physnet}).json()[
        "networks"
    ]
    assert [n["id"] for n in listed] == [net["id"]]
    assert http.delete(f"/v2.0/networks/{net['id']}").status_code == 204
    again = _create(http, **_flat(physnet, mtu=1400))  # released with its network
    assert again.status_code == 201, again.text
    assert again.json()["network"]["mtu"] == 1400
    for n in (again.json()["network"], other.json()["network"]):
        assert http.delete(f"/v2.0/networks/{n['id']}").status_code == 204


def test_flat_network_refusals(http: httpx.Client) -> None:
    cases = [
        (_flat(""), "physical_network required for flat provider network"),
        ({"provider:network_type": "flat"}, "physical_network required for flat provider network"),
        (
            _flat(_physnet(), **{"provider:segmentation_id": 7}),
            "segmentation_id prohibited for flat provider network",
        ),
        (
            {"provider:network_type": "vxlan", "provider:physical_network": "physnet1"},
            "provider:physical_network specified for vxlan network",
        ),
    ]
    for attrs, reason in cases:
        body = neutron_error(_create(http, **attrs), 400, "InvalidInput")
        assert body["message"] == f"Invalid input for operation: {reason}.", attrs
    neutron_error(_create(http, **{"provider:network_type": "gre"}), 400, "InvalidInput")
    neutron_error(
        http.post(
            "/v2.0/networks",
            json={"network": _flat(_physnet())},
            headers=member_headers(uuid.uuid4().hex),
        ),
        403,
        "PolicyNotAuthorized",
    )


def test_tenant_default_stays_vxlan(http: httpx.Client) -> None:
    net = _create(http).json()["network"]
    assert net["provider:network_type"] == "vxlan" and net["mtu"] == 1450
    assert net["provider:physical_network"] is None and net["provider:segmentation_id"] > 0
    http.delete(f"/v2.0/networks/{net['id']}")


def test_concurrent_flat_creates_one_wins(http: httpx.Client) -> None:
    physnet = _physnet()
    with ThreadPoolExecutor(8) as pool:
        codes = list(pool.map(lambda _: _create(http, **_flat(physnet)).status_code, range(8)))
    assert sorted(codes) == [201] + [409] * 7
    listed = http.get("/v2.0/networks", params={"provider:physical_network": physnet}).json()[
        "networks"
    ]
    assert len(listed) == 1
    http.delete(f"/v2.0/networks/{listed[0]['id']}")


def test_external_flat_network_with_ports(http: httpx.Client) -> None:
    """The shape issue 11 builds on: an external flat network, its subnet and ports."""
    net = _create(http, **_flat(_physnet(), **{"router:external": True})).json()["network"]
    resp = http.post(
        "/v2.0/subnets",
        json={
            "subnet": {
                "network_id": net["id"],
                "cidr": "203.0.113.0/24",
                "ip_version": 4,
                "gateway_ip": "203.0.113.1",
                "allocation_pools": [{"start": "203.0.113.100", "end": "203.0.113.199"}],
            }
        },
    )
    assert resp.status_code == 201, resp.text
    port = http.post("/v2.0/ports", json={"port": {"network_id": net["id"]}}).json()["port"]
    assert port["fixed_ips"][0]["ip_address"].startswith("203.0.113.1")
    neutron_error(http.delete(f"/v2.0/networks/{net['id']}"), 409, "NetworkInUse")
    http.delete(f"/v2.0/ports/{port['id']}")
    assert http.delete(f"/v2.0/networks/{net['id']}").status_code == 204
