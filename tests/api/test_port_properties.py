"""Property extensions of ports (filtering ports by security group, ...), through a real
server on SQLite and PostgreSQL, over raw HTTP, openstacksdk and the `openstack` CLI."""

from __future__ import annotations

import json
from typing import Any

import httpx

from alcor.lab.server_process import AlcorServer
from tests.api.test_cli import cli


def _network(http: httpx.Client, name: str) -> dict[str, Any]:
    net = http.post("/v2.0/networks", json={"network": {"name": name}}).json()["network"]
    http.post(
        "/v2.0/subnets",
        json={"subnet": {"network_id": net["id"], "ip_version": 4, "cidr": "10.62.0.0/24"}},
    ).raise_for_status()
    return net  # type: ignore[no-any-return]


def _group(http: httpx.Client, name: str) -> str:
    return str(
        http.post("/v2.0/security-groups", json={"security_group": {"name": name}}).json()[
            "security_group"
        ]["id"]
    )


def test_ports_filtered_by_security_groups(
    http: httpx.Client, conn: Any, server: AlcorServer
) -> None:
    net = _network(http, "sgfilter")
    web, db, idle = _group(http, "sgf-web"), _group(http, "sgf-db"), _group(http, "sgf-idle")

    def port(groups: list[str]) -> str:
        body = {"port": {"network_id": net["id"], "security_groups": groups}}
        return str(http.post("/v2.0/ports", json=body).json()["port"]["id"])

    p_web, p_both, p_db = port([web]), port([web, db]), port([db])
    port([])

    def ids(*groups: str) -> set[str]:
        found = http.get("/v2.0/ports", params=[("security_groups", g) for g in groups])
        assert found.status_code == 200, found.text
        return {p["id"] for p in found.json()["ports"]}

    assert ids(web) == {p_web, p_both}
    assert ids(db) == {p_both, p_db}
    assert ids(web, db) == {p_web, p_both, p_db}  # any of them, as Neutron
    assert ids(idle) == set()
    narrowed = http.get(
        "/v2.0/ports", params={"security_groups": web, "network_id": net["id"], "id": p_web}
    ).json()["ports"]
    assert [p["id"] for p in narrowed] == [p_web]
    assert ids("not-a-uuid") == set()  # Neutron converts, never validates, filter values

    sdk = {p.id for p in conn.network.ports(security_group_ids=[db])}
    assert sdk == {p_both, p_db}
    out = cli(server, "port", "list", "--security-group", web, "-f", "json")
    assert {p["ID"] for p in json.loads(out.stdout)} == {p_web, p_both}
    listed = http.get("/v2.0/extensions/port-security-groups-filtering")
    assert listed.json()["extension"]["name"] == "Port filtering on security groups"
