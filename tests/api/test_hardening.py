"""Bounded requests and no 500s: what a hostile or careless client sends is answered with a 4xx
and a Neutron error body, on a connection that stays usable."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from alcor import errors
from alcor.resources import kinds
from tests.api.conftest import neutron_error


def _network(http: httpx.Client, **attrs: Any) -> dict[str, Any]:
    resp = http.post("/v2.0/networks", json={"network": {"name": "h", **attrs}})
    assert resp.status_code == 201, resp.text
    return dict(resp.json()["network"])


# -- routing --------------------------------------------------------------------------------


def test_collections_answer_with_underscores_as_with_dashes(http: httpx.Client) -> None:
    for dashed in (
        "security-groups",
        "security-group-rules",
        "network-acls",
        "network-acl-rules",
        "network-ip-availabilities",
    ):
        with_dashes = http.get(f"/v2.0/{dashed}")
        with_underscores = http.get(f"/v2.0/{dashed.replace('-', '_')}")
        assert with_dashes.status_code == with_underscores.status_code == 200
        assert with_dashes.json() == with_underscores.json()
    sg = http.post("/v2.0/security_groups", json={"security_group": {"name": "u"}})
    assert sg.status_code == 201, sg.text
    path = f"/v2.0/security_groups/{sg.json()['security_group']['id']}"
    assert http.get(path).json()["security_group"]["name"] == "u"
    assert http.delete(path).status_code == 204
    neutron_error(http.get(path), 404, "SecurityGroupNotFound")


# -- CIDRs ----------------------------------------------------------------------------------


def test_subnet_cidr_kind_takes_host_bits_as_neutron() -> None:
    subnet_cidr = kinds.Cidr(host_bits=True)
    assert subnet_cidr.check("cidr", "10.0.0.77/24") == "10.0.0.0/24"
    assert subnet_cidr.check("cidr", "2001:DB8::1/64") == "2001:db8::/64"
    for bad in ("10.0.0.0/255.255.255.0", "010.0.0.0/24", "10.0.0.0", "x/24", 24):
        with pytest.raises(errors.InvalidInput, match="is not a valid IP subnet"):
            subnet_cidr.check("cidr", bad)
    with pytest.raises(errors.InvalidInput):  # a route's destination: neutron-lib refuses it
        kinds.Cidr().check("destination", "10.0.0.77/24")


def test_route_destinations_with_host_bits_stay_refused(http: httpx.Client) -> None:
    net = _network(http)
    subnet = {
        "network_id": net["id"],
        "ip_version": 4,
        "cidr": "10.88.0.0/24",
        "host_routes": [{"destination": "198.19.1.5/24", "nexthop": "10.88.0.254"}],
    }
    neutron_error(http.post("/v2.0/subnets", json={"subnet": subnet}), 400, "InvalidInput")
