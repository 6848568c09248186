"""The reachability endpoint's contract through the real server (SQLite and PostgreSQL):
bad questions are 4xx with Neutron's error body, ends resolve by port id, fixed IP, floating
IP or as an outside address, and other projects' ports stay invisible. What the verdicts are
worth is shown on real packets (`tests/e2e/test_reachability_matrix.py`)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.api.conftest import member_headers, neutron_error

PATH = "/v2.0/alcor/reachability"


@pytest.fixture(scope="module")
def ports(http: httpx.Client) -> dict[str, Any]:
    """Two unbound ports on one network (10.64.0.0/24)."""
    net = http.post("/v2.0/networks", json={"network": {"name": "rx"}}).json()["network"]
    http.post(
        "/v2.0/subnets",
        json={"subnet": {"network_id": net["id"], "ip_version": 4, "cidr": "10.64.0.0/24"}},
    )
    made = {}
    for name, ip in (("a", "10.64.0.10"), ("b", "10.64.0.11")):
        body = {"network_id": net["id"], "name": name, "fixed_ips": [{"ip_address": ip}]}
        made[name] = http.post("/v2.0/ports", json={"port": body}).json()["port"]
    return made


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"source": "x"},
        {"source": "10.64.0.10", "destination": "10.64.0.11", "protocol": "gre"},
        {"source": "10.64.0.10", "destination": "10.64.0.11", "protocol": "tcp"},
        {"source": "10.64.0.10", "destination": "10.64.0.11", "protocol": "tcp", "port": "0"},
        {"source": "10.64.0.10", "destination": "10.64.0.11", "protocol": "udp", "port": "x"},
        {"source": "10.64.0.10", "destination": "10.64.0.11", "protocol": "icmp", "port": "1"},
        {"source": "10.64.0.10", "destination": "fd00::1"},
        {"source": "198.51.100.1", "destination": "198.51.100.2"},
    ],
)
def test_bad_questions_are_400(http: httpx.Client, ports: dict[str, Any], params: Any) -> None:
    neutron_error(http.get(PATH, params=params), 400)


def test_unknown_and_foreign_ports_are_404(http: httpx.Client, ports: dict[str, Any]) -> None:
    missing = {"source": "0c2b5b8e-0000-4000-8000-000000000000", "destination": "10.64.0.11"}
    neutron_error(http.get(PATH, params=missing), 404, "PortNotFound")
    theirs = {"source": ports["a"]["id"], "destination": ports["b"]["id"]}
    resp = http.get(PATH, params=theirs, headers=member_headers("someone-else"))
    neutron_error(resp, 404, "PortNotFound")


def test_ends_by_id_or_address(http: httpx.Client, ports: dict[str, Any]) -> None:
    by_ip = http.get(PATH, params={"source": "10.64.0.10", "destination": "10.64.0.11"})
    assert by_ip.status_code == 200, by_ip.text
    answer = by_ip.json()["reachability"]
    assert answer["source"]["port_id"] == ports["a"]["id"]
    assert answer["destination"]["port_id"] == ports["b"]["id"]
    # unbound ports reach nothing, and the first hop says why
    assert answer["reachable"] is False
    assert answer["decided_by"]["hop"] == "port" and "not bound" in answer["decided_by"]["detail"]
    outside = http.get(
        PATH,
        params={
            "source": ports["a"]["id"],
            "destination": "198.51.100.7",
            "protocol": "tcp",
            "port": "443",
        },
    ).json()["reachability"]
    assert outside["destination"] == {"address": "198.51.100.7", "kind": "outside"}
    assert any(h["hop"] == "route" and "no router" in h["detail"] for h in outside["path"])
