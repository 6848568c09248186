"""Port forwarding on floating IPs (`floating-ip-port-forwarding` and its companions) through
raw HTTP, openstacksdk and the `openstack` CLI: Neutron's attributes, conflicts and errors."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from alcor.lab.server_process import AlcorServer
from tests.api.conftest import member_headers, neutron_error
from tests.api.test_cli import cli_json

ADMIN: dict[str, str] = {}
PF_EXTENSIONS = {
    "floating-ip-port-forwarding",
    "floating-ip-port-forwarding-description",
    "floating-ip-port-forwarding-port-ranges",
    "floating-ip-port-forwarding-detail",
    "expose-port-forwarding-in-fip",
}


def _post(http: httpx.Client, path: str, kind: str, hdr: dict[str, str], **attrs: Any) -> dict:
    resp = http.post(path, json={kind: attrs}, headers=hdr)
    assert resp.status_code == 201, resp.text
    return resp.json()[kind]


class World:
    """An external network, a project's network routed to it, two ports and a floating IP."""

    def __init__(self, http: httpx.Client, third_octet: int) -> None:
        self.http = http
        self.hdr = member_headers(f"pf-{uuid.uuid4().hex[:8]}")
        self.ext = _post(
            http, "/v2.0/networks", "network", ADMIN, name="ext", **{"router:external": True}
        )["id"]
        _post(
            http,
            "/v2.0/subnets",
            "subnet",
            ADMIN,
            network_id=self.ext,
            cidr=f"198.19.{third_octet}.0/24",
            ip_version=4,
        )
        self.net = self.post("network", name="tn")["id"]
        self.subnet = self.post(
            "subnet", network_id=self.net, cidr=f"10.{third_octet}.0.0/24", ip_version=4
        )["id"]
        self.router = self.post("router", name="r", external_gateway_info={"network_id": self.ext})
        added = http.put(
            f"/v2.0/routers/{self.router['id']}/add_router_interface",
            json={"subnet_id": self.subnet},
            headers=self.hdr,
        )
        assert added.status_code == 200, added.text
        self.vm1 = self.post("port", network_id=self.net, name="vm1")
        self.vm2 = self.post("port", network_id=self.net, name="vm2")
        self.fip = self.post("floatingip", floating_network_id=self.ext)

    def post(self, kind: str, **attrs: Any) -> dict:
        return _post(self.http, f"/v2.0/{kind}s", kind, self.hdr, **attrs)

    @property
    def pfs(self) -> str:
        return f"/v2.0/floatingips/{self.fip['id']}/port_forwardings"

    def pf(self, port: dict, **attrs: Any) -> httpx.Response:
        body = {
            "internal_port_id": port["id"],
            "internal_ip_address": port["fixed_ips"][0]["ip_address"],
            "protocol": "tcp",
            **attrs,
        }
        return self.http.post(self.pfs, json={"port_forwarding": body}, headers=self.hdr)


def test_extensions_are_listed(http: httpx.Client) -> None:
    aliases = {e["alias"] for e in http.get("/v2.0/extensions").json()["extensions"]}
    assert aliases >= PF_EXTENSIONS
    assert "port_forwardings" not in {
        r["collection"] for r in http.get("/v2.0").json()["resources"]
    }


def test_lifecycle(server: AlcorServer, http: httpx.Client) -> None:
    w = World(http, 31)
    made = w.pf(w.vm1, internal_port=22, external_port=2222, description="ssh")
    assert made.status_code == 201, made.text
    pf = made.json()["port_forwarding"]
    ip1 = w.vm1["fixed_ips"][0]["ip_address"]
    assert pf["internal_port"] == 22 and pf["external_port"] == 2222
    assert pf["internal_port_range"] == "22:22" and pf["external_port_range"] == "2222:2222"
    assert (pf["protocol"], pf["internal_ip_address"], pf["description"]) == ("tcp", ip1, "ssh")
    assert set(pf) == {
        "id",
        "external_port",
        "external_port_range",
        "internal_port",
        "internal_port_range",
        "internal_ip_address",
        "internal_port_id",
        "protocol",
        "description",
    }
    fip = http.get(f"/v2.0/floatingips/{w.fip['id']}", headers=w.hdr).json()["floatingip"]
    assert fip["router_id"] == w.router["id"] and fip["port_id"] is None
    assert fip["status"] == "DOWN"  # no host can take the router's gateway here (no agents)
    blank = http.put(f"/v2.0/floatingips/{w.fip['id']}", json={"floatingip": {}}, headers=w.hdr)
    assert blank.json()["floatingip"]["router_id"] == w.router["id"]  # still forwarding
    assert fip["port_forwardings"] == [
        {
            "id": pf["id"],
            "internal_ip_address": ip1,
            "protocol": "tcp",
            "internal_port": 22,
            "external_port": 2222,
            "internal_port_id": w.vm1["id"],
        }
    ]
    ranged = w.pf(w.vm2, internal_port_range="3000:3009", external_port_range="4000:4009")
    assert ranged.status_code == 201, ranged.text
    rpf = ranged.json()["port_forwarding"]
    assert rpf["external_port"] is None and rpf["internal_port"] is None
    assert rpf["external_port_range"] == "4000:4009"
    listed = http.get(w.pfs, headers=w.hdr).json()["port_forwardings"]
    assert {p["id"] for p in listed} == {pf["id"], rpf["id"]}
    page = http.get(w.pfs, params={"limit": 1}, headers=w.hdr).json()
    assert len(page["port_forwardings"]) == 1
    assert page["port_forwardings_links"][0]["href"].startswith(f"{server.url}{w.pfs}?limit=1")
    only = http.get(w.pfs, params={"external_port": 2222}, headers=w.hdr).json()
    assert [p["id"] for p in only["port_forwardings"]] == [pf["id"]]
    neutron_error(
        http.get(w.pfs, params={"internal_port": 22}, headers=w.hdr),
        400,
        "PortForwardingNotSupportFilterField",
    )
    one = f"{w.pfs}/{pf['id']}"
    assert http.get(one, headers=w.hdr).json()["port_forwarding"]["id"] == pf["id"]
    moved = http.put(
        one, json={"port_forwarding": {"external_port": 2200, "protocol": "udp"}}, headers=w.hdr
    )
    assert moved.status_code == 200, moved.text
    got = moved.json()["port_forwarding"]
    assert (got["external_port"], got["external_port_range"], got["protocol"]) == (
        2200,
        "2200:2200",
        "udp",
    )
    assert http.delete(one, headers=w.hdr).status_code == 204
    neutron_error(http.get(one, headers=w.hdr), 404, "PortForwardingNotFound")
    assert http.delete(f"{w.pfs}/{rpf['id']}", headers=w.hdr).status_code == 204
    fip = http.get(f"/v2.0/floatingips/{w.fip['id']}", headers=w.hdr).json()["floatingip"]
    assert fip["router_id"] is None and fip["port_forwardings"] == []


def test_ranges_and_collisions(http: httpx.Client) -> None:
    w = World(http, 32)
    bad = neutron_error(
        w.pf(w.vm1, internal_port_range="100:102", external_port_range="200:209"), 400, "BadRequest"
    )
    assert bad["message"] == (
        "Bad port_forwarding request: Invalid ranges of internal and/or external ports. The "
        "relation between internal and external ports must be N-N or 1-N."
    )
    invalid = neutron_error(w.pf(w.vm1, internal_port=22, external_port_range="9:8"), 400)
    assert invalid["type"] == "InvalidInput"
    assert "First port in a port range must be lower than the second port" in invalid["message"]
    neutron_error(w.pf(w.vm1, internal_port=0, external_port=22), 400, "InvalidInput")
    neutron_error(w.pf(w.vm1, internal_port=22, external_port=22, protocol="icmp"), 400)
    neutron_error(w.pf(w.vm1, external_port=22), 400, "BadRequest")
    assert w.pf(w.vm1, internal_port=80, external_port_range="8000:8009").status_code == 201
    clash = neutron_error(w.pf(w.vm2, internal_port=80, external_port=8005), 400, "BadRequest")
    assert clash["message"] == (
        "Bad port_forwarding request: There is a port collision with the "
        "external_port_range. The following ranges collide: 8000:8009 and 8005:8005."
    )
    assert w.pf(w.vm2, internal_port=80, external_port=8005, protocol="udp").status_code == 201
    inner = neutron_error(w.pf(w.vm1, internal_port=80, external_port=9000), 400, "BadRequest")
    assert "collision with the internal_port_range" in inner["message"]


def test_conflicts_with_floating_ip_associations(http: httpx.Client) -> None:
    w = World(http, 33)
    ip1 = w.vm1["fixed_ips"][0]["ip_address"]
    assert w.pf(w.vm1, internal_port=22, external_port=22).status_code == 201
    # the floating IP cannot be associated while it forwards
    fip_url = f"/v2.0/floatingips/{w.fip['id']}"
    busy = http.put(fip_url, json={"floatingip": {"port_id": w.vm2["id"]}}, headers=w.hdr)
    assert neutron_error(busy, 409, "FipInUseByPortForwarding")["message"] == (
        f"Floating IP {w.fip['id']} in use by Port Forwarding resources."
    )
    neutron_error(http.delete(fip_url, headers=w.hdr), 409, "FipInUseByPortForwarding")
    # a port with a forwarding takes no floating IP
    other = w.post("floatingip", floating_network_id=w.ext)
    taken = http.put(
        f"/v2.0/floatingips/{other['id']}",
        json={"floatingip": {"port_id": w.vm1["id"]}},
        headers=w.hdr,
    )
    neutron_error(taken, 400, "PortHasPortForwarding")
    # a port with a floating IP takes no forwarding
    assert (
        http.put(
            f"/v2.0/floatingips/{other['id']}",
            json={"floatingip": {"port_id": w.vm2["id"]}},
            headers=w.hdr,
        ).status_code
        == 200
    )
    neutron_error(w.pf(w.vm2, internal_port=80, external_port=80), 409, "PortHasBindingFloatingIP")
    # an associated floating IP takes no forwarding
    assoc = w.http.post(
        f"/v2.0/floatingips/{other['id']}/port_forwardings",
        json={
            "port_forwarding": {
                "internal_port_id": w.vm1["id"],
                "internal_ip_address": ip1,
                "internal_port": 80,
                "external_port": 80,
                "protocol": "tcp",
            }
        },
        headers=w.hdr,
    )
    neutron_error(assoc, 409, "FloatingIPPortAlreadyAssociated")
    # the internal address must be the port's, and reachable through a router
    wrong = neutron_error(
        w.pf(w.vm1, internal_port=81, external_port=81, internal_ip_address="10.33.0.250"), 400
    )
    assert "is not suitable for internal neutron port" in wrong["message"]
    lone = w.post("network", name="lone")["id"]
    w.post("subnet", network_id=lone, cidr="10.133.0.0/24", ip_version=4)
    stray = w.post("port", network_id=lone)
    far = neutron_error(w.pf(stray, internal_port=1, external_port=1), 400, "BadRequest")
    assert "is not reachable from subnet" in far["message"]
    # a port that gives up the internal address loses the forwardings to it
    spare = w.post("port", network_id=w.net, name="spare")
    assert w.pf(spare, internal_port=22, external_port=2022).status_code == 201
    renumbered = http.put(
        f"/v2.0/ports/{spare['id']}",
        json={"port": {"fixed_ips": [{"ip_address": "10.33.0.200"}]}},
        headers=w.hdr,
    )
    assert renumbered.status_code == 200, renumbered.text
    kept = http.get(w.pfs, headers=w.hdr).json()["port_forwardings"]
    assert {p["internal_port_id"] for p in kept} == {w.vm1["id"]}
    # deleting the internal port deletes its forwardings
    assert http.delete(f"/v2.0/ports/{w.vm1['id']}", headers=w.hdr).status_code == 204
    assert http.get(w.pfs, headers=w.hdr).json()["port_forwardings"] == []
    assert http.delete(fip_url, headers=w.hdr).status_code == 204


def test_visibility_and_policy(http: httpx.Client) -> None:
    w = World(http, 34)
    pf = w.pf(w.vm1, internal_port=22, external_port=22).json()["port_forwarding"]
    stranger = member_headers(f"pf-x-{uuid.uuid4().hex[:6]}")
    neutron_error(http.get(w.pfs, headers=stranger), 404, "FloatingipNotFound")
    neutron_error(http.get(f"{w.pfs}/{pf['id']}", headers=stranger), 404)
    reader = {"X-Project-Id": w.hdr["X-Project-Id"], "X-Roles": "reader"}
    assert http.get(f"{w.pfs}/{pf['id']}", headers=reader).status_code == 200
    denied = http.delete(f"{w.pfs}/{pf['id']}", headers=reader)
    neutron_error(denied, 403, "PolicyNotAuthorized")
    neutron_error(
        http.get(f"/v2.0/floatingips/{w.fip['id']}/port_forwardings/{uuid.uuid4()}"),
        404,
        "PortForwardingNotFound",
    )
    neutron_error(http.get(f"/v2.0/networks/{w.net}/port_forwardings"), 404)


def test_sdk_calls(http: httpx.Client, conn: Any) -> None:
    w = World(http, 35)
    ip = w.vm1["fixed_ips"][0]["ip_address"]
    pf = conn.network.create_floating_ip_port_forwarding(
        w.fip["id"],
        internal_port_id=w.vm1["id"],
        internal_ip_address=ip,
        internal_port=8080,
        external_port=80,
        protocol="tcp",
    )
    assert pf.internal_port == 8080 and pf.external_port == 80
    found = list(conn.network.floating_ip_port_forwardings(w.fip["id"]))
    assert [p.id for p in found] == [pf.id]
    changed = conn.network.update_floating_ip_port_forwarding(w.fip["id"], pf, external_port=81)
    assert changed.external_port == 81
    assert conn.network.get_floating_ip_port_forwarding(w.fip["id"], pf.id).external_port == 81
    conn.network.delete_floating_ip_port_forwarding(w.fip["id"], pf, ignore_missing=False)
    assert list(conn.network.floating_ip_port_forwardings(w.fip["id"])) == []


def test_cli(server: AlcorServer, http: httpx.Client) -> None:
    if server.database_url.startswith("postgresql"):
        pytest.skip("the CLI's requests do not depend on the database (run on SQLite)")
    w = World(http, 36)
    # the CLI acts as the admin of the default project: make its objects there
    w.hdr = {}
    w.fip = w.post("floatingip", floating_network_id=w.ext)
    w.net = w.post("network", name="cli")["id"]
    sub = w.post("subnet", network_id=w.net, cidr="10.136.0.0/24", ip_version=4)["id"]
    http.put(f"/v2.0/routers/{w.router['id']}/add_router_interface", json={"subnet_id": sub})
    port = w.post("port", network_id=w.net)
    made = cli_json(
        server,
        *["floating", "ip", "port", "forwarding", "create"],
        *[
            "--internal-ip-address",
            port["fixed_ips"][0]["ip_address"],
            "--port",
            port["id"],
            "--internal-protocol-port",
            "5000:5004",
            "--external-protocol-port",
            "6000:6004",
            "--protocol",
            "udp",
            w.fip["id"],
        ],
    )
    assert made["external_port_range"] == "6000:6004" and made["protocol"] == "udp"
    listed = cli_json(server, "floating", "ip", "port", "forwarding", "list", w.fip["id"])
    assert [p["ID"] for p in listed] == [made["id"]]
    cli_json(server, "floating", "ip", "port", "forwarding", "show", w.fip["id"], made["id"])
