"""Routers (interfaces, gateway, extra routes) and floating IPs: Neutron's semantics."""

from __future__ import annotations

import ipaddress
import uuid
from typing import Any

import httpx
import openstack.exceptions as osexc
import pytest

from tests.api.conftest import member_headers, neutron_error

ADMIN: dict[str, str] = {}


def _project() -> dict[str, str]:
    return member_headers(f"p-{uuid.uuid4().hex[:8]}")


def _post(http: httpx.Client, kind: str, hdr: dict[str, str], **attrs: Any) -> dict:
    resp = http.post(f"/v2.0/{kind}s", json={kind: attrs}, headers=hdr)
    assert resp.status_code == 201, resp.text
    return resp.json()[kind]


def _tenant_net(http: httpx.Client, hdr: dict[str, str], cidr: str, **sub: Any) -> tuple[str, str]:
    net = _post(http, "network", hdr, name="tn")["id"]
    subnet = _post(http, "subnet", hdr, network_id=net, cidr=cidr, ip_version=4, **sub)["id"]
    return net, subnet


def _external(http: httpx.Client, cidr: str, **sub: Any) -> tuple[str, str]:
    net = _post(http, "network", ADMIN, name="ext", **{"router:external": True})["id"]
    subnet = _post(http, "subnet", ADMIN, network_id=net, cidr=cidr, ip_version=4, **sub)["id"]
    return net, subnet


def _put(http: httpx.Client, path: str, hdr: dict[str, str], body: dict) -> httpx.Response:
    return http.put(path, json=body, headers=hdr)


def _next_cidr() -> str:
    n = uuid.uuid4().int % 250
    return f"10.{100 + n % 100}.{n}.0/24"


# -- routers ----------------------------------------------------------------------------------


def test_interface_by_subnet_holds_the_gateway_ip(http: httpx.Client) -> None:
    hdr = _project()
    net, sub = _tenant_net(http, hdr, "10.60.1.0/24")
    router = _post(http, "router", hdr, name="r", external_gateway_info={})
    assert router["status"] == "ACTIVE" and router["external_gateway_info"] is None
    resp = _put(http, f"/v2.0/routers/{router['id']}/add_router_interface", hdr, {"subnet_id": sub})
    assert resp.status_code == 200, resp.text
    info = resp.json()
    assert info["id"] == router["id"] and info["subnet_id"] == sub
    assert info["subnet_ids"] == [sub] and info["network_id"] == net
    port = http.get(f"/v2.0/ports/{info['port_id']}", headers=hdr).json()["port"]
    assert port["device_owner"] == "network:router_interface"
    assert port["device_id"] == router["id"] and port["security_groups"] == []
    assert port["fixed_ips"] == [{"subnet_id": sub, "ip_address": "10.60.1.1"}]
    again = _put(
        http, f"/v2.0/routers/{router['id']}/add_router_interface", hdr, {"subnet_id": sub}
    )
    assert "already has a port on subnet" in neutron_error(again, 400)["message"]
    # the subnet and network are in use while attached
    neutron_error(http.delete(f"/v2.0/subnets/{sub}", headers=hdr), 409, "SubnetInUse")
    neutron_error(http.delete(f"/v2.0/networks/{net}", headers=hdr), 409, "NetworkInUse")
    neutron_error(http.delete(f"/v2.0/routers/{router['id']}", headers=hdr), 409, "RouterInUse")
    gone = _put(
        http, f"/v2.0/routers/{router['id']}/remove_router_interface", hdr, {"subnet_id": sub}
    )
    assert gone.status_code == 200 and gone.json()["port_id"] == info["port_id"]
    assert http.get(f"/v2.0/ports/{info['port_id']}", headers=hdr).status_code == 404
    neutron_error(
        _put(
            http, f"/v2.0/routers/{router['id']}/remove_router_interface", hdr, {"subnet_id": sub}
        ),
        404,
        "RouterInterfaceNotFoundForSubnet",
    )
    assert http.delete(f"/v2.0/routers/{router['id']}", headers=hdr).status_code == 204
    assert http.delete(f"/v2.0/networks/{net}", headers=hdr).status_code == 204


def test_interface_rules(http: httpx.Client) -> None:
    hdr = _project()
    router = _post(http, "router", hdr, name="r")["id"]
    path = f"/v2.0/routers/{router}"
    _, a = _tenant_net(http, hdr, "10.61.0.0/16")
    _, overlapping = _tenant_net(http, hdr, "10.61.5.0/24")
    _, no_gw = _tenant_net(http, hdr, "10.62.0.0/24", gateway_ip=None)
    assert _put(http, f"{path}/add_router_interface", hdr, {"subnet_id": a}).status_code == 200
    msg = neutron_error(
        _put(http, f"{path}/add_router_interface", hdr, {"subnet_id": overlapping}), 400
    )["message"]
    assert "overlaps with cidr" in msg
    msg = neutron_error(_put(http, f"{path}/add_router_interface", hdr, {"subnet_id": no_gw}), 400)[
        "message"
    ]
    assert "must have a gateway IP" in msg
    neutron_error(_put(http, f"{path}/add_router_interface", hdr, {}), 400)
    both = {"subnet_id": a, "port_id": str(uuid.uuid4())}
    assert (
        "Cannot specify both"
        in neutron_error(_put(http, f"{path}/add_router_interface", hdr, both), 400)["message"]
    )
    neutron_error(
        _put(http, f"{path}/add_router_interface", hdr, {"subnet_id": str(uuid.uuid4())}),
        404,
        "SubnetNotFound",
    )
    neutron_error(_put(http, f"{path}/frobnicate", hdr, {}), 404)
    other = _put(http, f"/v2.0/routers/{router}/add_router_interface", _project(), {"subnet_id": a})
    neutron_error(other, 404, "RouterNotFound")


def test_interface_by_port(http: httpx.Client) -> None:
    hdr = _project()
    net, sub = _tenant_net(http, hdr, "10.63.0.0/24")
    router = _post(http, "router", hdr, name="r")["id"]
    port = _post(
        http,
        "port",
        hdr,
        network_id=net,
        fixed_ips=[{"subnet_id": sub, "ip_address": "10.63.0.254"}],
    )
    resp = _put(http, f"/v2.0/routers/{router}/add_router_interface", hdr, {"port_id": port["id"]})
    assert resp.status_code == 200 and resp.json()["port_id"] == port["id"]
    got = http.get(f"/v2.0/ports/{port['id']}", headers=hdr).json()["port"]
    assert got["device_owner"] == "network:router_interface" and got["device_id"] == router
    router2 = _post(http, "router", hdr, name="r2")["id"]
    neutron_error(
        _put(http, f"/v2.0/routers/{router2}/add_router_interface", hdr, {"port_id": port["id"]}),
        409,
        "PortInUse",
    )
    neutron_error(
        _put(
            http,
            f"/v2.0/routers/{router2}/remove_router_interface",
            hdr,
            {"port_id": port["id"]},
        ),
        404,
        "RouterInterfaceNotFound",
    )
    _, other_sub = _tenant_net(http, hdr, "10.64.0.0/24")
    neutron_error(
        _put(
            http,
            f"/v2.0/routers/{router}/remove_router_interface",
            hdr,
            {"port_id": port["id"], "subnet_id": other_sub},
        ),
        400,
        "SubnetMismatchForPort",
    )
    ok = _put(http, f"/v2.0/routers/{router}/remove_router_interface", hdr, {"port_id": port["id"]})
    assert ok.status_code == 200


def test_gateway_and_snat(http: httpx.Client) -> None:
    ext, ext_sub = _external(http, "198.18.10.0/24")
    hdr = _project()
    plain = _post(http, "network", hdr, name="plain")["id"]
    resp = http.post(
        "/v2.0/routers",
        json={"router": {"name": "r", "external_gateway_info": {"network_id": plain}}},
        headers=hdr,
    )
    assert "is not an external network" in neutron_error(resp, 400)["message"]
    resp = http.post(
        "/v2.0/routers",
        json={"router": {"external_gateway_info": {"network_id": ext, "enable_snat": False}}},
        headers=hdr,
    )
    neutron_error(resp, 403, "PolicyNotAuthorized")  # enable_snat is admin-only
    router = _post(http, "router", hdr, name="r", external_gateway_info={"network_id": ext})
    info = router["external_gateway_info"]
    assert info["network_id"] == ext and info["enable_snat"] is True
    [fixed] = info["external_fixed_ips"]
    assert fixed["subnet_id"] == ext_sub
    assert ipaddress.ip_address(fixed["ip_address"]) in ipaddress.ip_network("198.18.10.0/24")
    gw_ports = http.get(
        f"/v2.0/ports?device_id={router['id']}&device_owner=network:router_gateway"
    ).json()["ports"]
    assert len(gw_ports) == 1 and gw_ports[0]["project_id"] == ""
    neutron_error(http.delete(f"/v2.0/networks/{ext}"), 409, "NetworkInUse")
    admin_set = _put(
        http,
        f"/v2.0/routers/{router['id']}",
        ADMIN,
        {
            "router": {
                "external_gateway_info": {
                    "network_id": ext,
                    "enable_snat": False,
                    "external_fixed_ips": [{"ip_address": "198.18.10.77"}],
                }
            }
        },
    ).json()["router"]
    assert admin_set["external_gateway_info"]["enable_snat"] is False
    assert (
        admin_set["external_gateway_info"]["external_fixed_ips"][0]["ip_address"] == "198.18.10.77"
    )
    cleared = _put(
        http, f"/v2.0/routers/{router['id']}", hdr, {"router": {"external_gateway_info": {}}}
    ).json()["router"]
    assert cleared["external_gateway_info"] is None
    assert not http.get(f"/v2.0/ports?device_id={router['id']}").json()["ports"]
    assert http.delete(f"/v2.0/networks/{ext}").status_code == 204


def test_extra_routes(http: httpx.Client) -> None:
    hdr = _project()
    _, sub = _tenant_net(http, hdr, "10.65.0.0/24")
    router = _post(http, "router", hdr, name="r")["id"]
    path = f"/v2.0/routers/{router}"
    assert _put(http, f"{path}/add_router_interface", hdr, {"subnet_id": sub}).status_code == 200
    route = {"destination": "10.99.0.0/16", "nexthop": "10.65.0.10"}
    ok = _put(http, path, hdr, {"router": {"routes": [route]}})
    assert ok.status_code == 200 and ok.json()["router"]["routes"] == [route]
    for bad, why in [
        ({"destination": "10.98.0.0/16", "nexthop": "10.200.0.1"}, "not connected"),
        ({"destination": "10.98.0.0/16", "nexthop": "10.65.0.1"}, "used by router"),
    ]:
        body = neutron_error(
            _put(http, path, hdr, {"router": {"routes": [bad]}}), 400, "InvalidRoutes"
        )
        assert why in body["message"]
    neutron_error(
        _put(
            http, path, hdr, {"router": {"routes": [{"destination": "x", "nexthop": "10.65.0.9"}]}}
        ),
        400,
    )
    more = [{"destination": f"10.{i}.0.0/16", "nexthop": "10.65.0.11"} for i in range(31)]
    neutron_error(_put(http, path, hdr, {"router": {"routes": more}}), 400, "RoutesExhausted")
    second = {"destination": "10.97.0.0/16", "nexthop": "10.65.0.12"}
    added = _put(http, f"{path}/add_extraroutes", hdr, {"router": {"routes": [second, route]}})
    assert added.status_code == 200 and added.json()["router"]["routes"] == [route, second]
    removed = _put(http, f"{path}/remove_extraroutes", hdr, {"router": {"routes": [route]}})
    assert removed.json()["router"]["routes"] == [second]
    neutron_error(
        _put(http, f"{path}/remove_router_interface", hdr, {"subnet_id": sub}),
        409,
        "RouterInterfaceInUseByRoute",
    )


def test_sdk_router_calls(conn: Any) -> None:
    net = conn.network.create_network(name="sdk-r")
    sub = conn.network.create_subnet(network_id=net.id, cidr="10.66.0.0/24", ip_version=4)
    router = conn.network.create_router(name="sdk-router")
    info = conn.network.add_interface_to_router(router, subnet_id=sub.id)
    assert info["subnet_id"] == sub.id
    route = {"destination": "10.67.0.0/16", "nexthop": "10.66.0.20"}
    router = conn.network.add_extra_routes_to_router(router, body={"router": {"routes": [route]}})
    assert router.routes == [route]
    router = conn.network.remove_extra_routes_from_router(
        router, body={"router": {"routes": [route]}}
    )
    assert router.routes == []
    conn.network.remove_interface_from_router(router, subnet_id=sub.id)
    with pytest.raises(osexc.NotFoundException):
        conn.network.remove_interface_from_router(router, subnet_id=sub.id)
    conn.network.delete_router(router)


def test_router_ports_are_held(http: httpx.Client) -> None:
    """Neutron: the gateway IP may not move or go while a router interface holds it
    (GatewayIpInUse), and a router's ports go only through the router's API, even for an
    admin (ServicePortInUse); a gateway not yet taken moves freely."""
    ext, _ = _external(http, "198.18.22.0/24")
    hdr = _project()
    pools = [{"start": "10.61.0.100", "end": "10.61.0.200"}]
    net, sub = _tenant_net(http, hdr, "10.61.0.0/24", allocation_pools=pools)
    moved = _put(http, f"/v2.0/subnets/{sub}", hdr, {"subnet": {"gateway_ip": "10.61.0.2"}})
    assert moved.status_code == 200, moved.text
    router = _post(http, "router", hdr, name="r", external_gateway_info={"network_id": ext})["id"]
    intf = _put(http, f"/v2.0/routers/{router}/add_router_interface", hdr, {"subnet_id": sub})
    port_id = intf.json()["port_id"]
    for gateway in ("10.61.0.3", None):
        body = neutron_error(
            _put(http, f"/v2.0/subnets/{sub}", hdr, {"subnet": {"gateway_ip": gateway}}),
            409,
            "GatewayIpInUse",
        )
        assert body["message"] == (
            f"Current gateway ip 10.61.0.2 already in use by port {port_id}. Unable to update."
        )
    same = _put(http, f"/v2.0/subnets/{sub}", hdr, {"subnet": {"gateway_ip": "10.61.0.2"}})
    assert same.status_code == 200
    ports = http.get(f"/v2.0/ports?device_id={router}").json()["ports"]
    assert {p["device_owner"] for p in ports} == {
        "network:router_interface",
        "network:router_gateway",
    }
    for p in ports:
        body = neutron_error(http.delete(f"/v2.0/ports/{p['id']}"), 409, "ServicePortInUse")
        assert body["message"] == (
            f"Port {p['id']} cannot be deleted directly via the port API: has device owner "
            f"{p['device_owner']}."
        )
    path = f"/v2.0/routers/{router}"
    assert _put(http, f"{path}/remove_router_interface", hdr, {"subnet_id": sub}).status_code == 200
    assert _put(http, path, hdr, {"router": {"external_gateway_info": {}}}).status_code == 200
    assert http.get(f"/v2.0/ports?device_id={router}").json()["ports"] == []
    assert http.delete(f"/v2.0/networks/{net}", headers=hdr).status_code == 204


# -- floating IPs -----------------------------------------------------------------------------


def _wired(http: httpx.Client, hdr: dict[str, str], ext: str) -> tuple[str, str, str]:
    """A tenant network routed to `ext`: (router id, subnet id, a port id)."""
    net, sub = _tenant_net(http, hdr, _next_cidr())
    router = _post(http, "router", hdr, name="r", external_gateway_info={"network_id": ext})["id"]
    resp = _put(http, f"/v2.0/routers/{router}/add_router_interface", hdr, {"subnet_id": sub})
    assert resp.status_code == 200, resp.text
    port = _post(http, "port", hdr, network_id=net)["id"]
    return router, sub, port


def test_floating_ip_lifecycle(http: httpx.Client) -> None:
    ext, ext_sub = _external(http, "198.18.20.0/24")
    hdr = _project()
    router, sub, port = _wired(http, hdr, ext)
    fip = _post(http, "floatingip", hdr, floating_network_id=ext)
    assert fip["status"] == "DOWN" and fip["port_id"] is None and fip["router_id"] is None
    assert ipaddress.ip_address(fip["floating_ip_address"]) in ipaddress.ip_network(
        "198.18.20.0/24"
    )
    assert fip["port_details"] is None and "subnet_id" not in fip
    assoc = _put(http, f"/v2.0/floatingips/{fip['id']}", hdr, {"floatingip": {"port_id": port}})
    got = assoc.json()["floatingip"]
    # DOWN until the port's host reports it programmed (no host here; the e2e tests see it)
    assert got["router_id"] == router and got["status"] == "DOWN"
    assert got["port_details"]["network_id"] and got["fixed_ip_address"].startswith("10.")
    second = http.post(
        "/v2.0/floatingips",
        json={"floatingip": {"floating_network_id": ext, "port_id": port}},
        headers=hdr,
    )
    neutron_error(second, 409, "FloatingIPPortAlreadyAssociated")
    neutron_error(
        _put(http, f"/v2.0/routers/{router}/remove_router_interface", hdr, {"subnet_id": sub}),
        409,
        "RouterInterfaceInUseByFloatingIP",
    )
    neutron_error(
        _put(http, f"/v2.0/routers/{router}", hdr, {"router": {"external_gateway_info": {}}}),
        409,
        "RouterExternalGatewayInUseByFloatingIp",
    )
    listed = http.get(f"/v2.0/floatingips?port_id={port}", headers=hdr).json()["floatingips"]
    assert [f["id"] for f in listed] == [fip["id"]]
    # deleting the port disassociates the floating IP
    assert http.delete(f"/v2.0/ports/{port}", headers=hdr).status_code == 204
    after = http.get(f"/v2.0/floatingips/{fip['id']}", headers=hdr).json()["floatingip"]
    assert after["port_id"] is None and after["status"] == "DOWN" and after["router_id"] is None
    neutron_error(http.delete(f"/v2.0/subnets/{ext_sub}"), 409, "SubnetInUse")
    assert http.delete(f"/v2.0/floatingips/{fip['id']}", headers=hdr).status_code == 204
    avail = http.get(f"/v2.0/subnets/{ext_sub}").json()["subnet"]
    assert avail["id"] == ext_sub


def test_floating_ip_blank_update_and_foreign_port(http: httpx.Client) -> None:
    """Neutron: an update of other attributes keeps the association, a blank one
    ({"floatingip": {}}) clears it; a port on the caller's network that another project
    owns is a 400, not a 404."""
    ext, _ = _external(http, "198.18.21.0/24")
    hdr = _project()
    _router, _sub, port = _wired(http, hdr, ext)
    fip = _post(http, "floatingip", hdr, floating_network_id=ext, port_id=port)
    path = f"/v2.0/floatingips/{fip['id']}"
    kept = _put(http, path, hdr, {"floatingip": {"description": "d2"}}).json()["floatingip"]
    assert kept["description"] == "d2" and kept["port_id"] == port
    assert kept["port_details"]["network_id"]
    cleared = _put(http, path, hdr, {"floatingip": {}})
    assert cleared.status_code == 200, cleared.text
    got = cleared.json()["floatingip"]
    assert got["port_id"] is None and got["fixed_ip_address"] is None
    assert got["router_id"] is None and got["port_details"] is None
    assert got["description"] == "d2" and got["revision_number"] > kept["revision_number"]
    again = _put(http, path, hdr, {"floatingip": {}}).json()["floatingip"]
    assert again["revision_number"] == got["revision_number"]
    net = http.get(f"/v2.0/ports/{port}").json()["port"]["network_id"]
    other = f"p-{uuid.uuid4().hex[:8]}"
    theirs = _post(http, "port", ADMIN, network_id=net, project_id=other)["id"]
    body = neutron_error(_put(http, path, hdr, {"floatingip": {"port_id": theirs}}), 400)
    assert body["type"] == "BadRequest" and body["message"] == (
        f"Bad floatingip request: Cannot process floating IP association with Port {theirs}, "
        "since that port is owned by a different project."
    )


def test_floating_ip_errors(http: httpx.Client) -> None:
    ext, ext_sub = _external(http, "198.18.30.0/29")  # 5 usable addresses after the gateway
    hdr = _project()
    plain = _post(http, "network", hdr, name="plain")["id"]
    resp = http.post(
        "/v2.0/floatingips", json={"floatingip": {"floating_network_id": plain}}, headers=hdr
    )
    assert "not a valid external network" in neutron_error(resp, 400)["message"]
    resp = http.post(
        "/v2.0/floatingips",
        json={"floatingip": {"floating_network_id": str(uuid.uuid4())}},
        headers=hdr,
    )
    neutron_error(resp, 404, "NetworkNotFound")
    resp = http.post(
        "/v2.0/floatingips",
        json={"floatingip": {"floating_network_id": ext, "floating_ip_address": "198.18.30.3"}},
        headers=hdr,
    )
    neutron_error(resp, 403, "PolicyNotAuthorized")
    explicit = _post(
        http, "floatingip", ADMIN, floating_network_id=ext, floating_ip_address="198.18.30.3"
    )
    assert explicit["floating_ip_address"] == "198.18.30.3"
    resp = http.post(
        "/v2.0/floatingips",
        json={"floatingip": {"floating_network_id": ext, "floating_ip_address": "198.18.30.3"}},
    )
    neutron_error(resp, 409, "IpAddressInUse")
    resp = http.post(
        "/v2.0/floatingips",
        json={"floatingip": {"floating_network_id": ext, "floating_ip_address": "198.18.99.3"}},
    )
    neutron_error(resp, 400)
    # no router between the port's subnet and the external network
    net, _sub = _tenant_net(http, hdr, _next_cidr())
    lonely = _post(http, "port", hdr, network_id=net)["id"]
    resp = http.post(
        "/v2.0/floatingips",
        json={"floatingip": {"floating_network_id": ext, "port_id": lonely}},
        headers=hdr,
    )
    neutron_error(resp, 404, "ExternalGatewayForFloatingIPNotFound")
    # a port of another project is not found
    _r, _s, theirs = _wired(http, _project(), ext)
    resp = http.post(
        "/v2.0/floatingips",
        json={"floatingip": {"floating_network_id": ext, "port_id": theirs}},
        headers=hdr,
    )
    neutron_error(resp, 404, "PortNotFound")
    _router, _sub2, port = _wired(http, hdr, ext)
    resp = http.post(
        "/v2.0/floatingips",
        json={
            "floatingip": {
                "floating_network_id": ext,
                "port_id": port,
                "fixed_ip_address": "10.0.0.1",
            }
        },
        headers=hdr,
    )
    assert "does not have fixed ip" in neutron_error(resp, 400)["message"]
    # exhaustion: 6 addresses minus the gateway, two router gateways and one explicit
    made = []
    while True:
        resp = http.post(
            "/v2.0/floatingips", json={"floatingip": {"floating_network_id": ext}}, headers=hdr
        )
        if resp.status_code != 201:
            neutron_error(resp, 409, "IpAddressGenerationFailure")
            break
        made.append(resp.json()["floatingip"]["floating_ip_address"])
    assert len(made) == 2 and len(set(made)) == 2
    assert ext_sub


def test_sdk_and_isolation(conn: Any, http: httpx.Client) -> None:
    ext, _ = _external(http, "198.18.40.0/24")
    fip = conn.network.create_ip(floating_network_id=ext)
    assert fip.floating_ip_address.startswith("198.18.40.")
    hdr = _project()
    assert http.get(f"/v2.0/floatingips/{fip.id}", headers=hdr).status_code == 404
    neutron_error(
        http.delete(f"/v2.0/floatingips/{fip.id}", headers=hdr), 404, "FloatingipNotFound"
    )
    mine = _post(http, "floatingip", hdr, floating_network_id=ext)
    listed = http.get("/v2.0/floatingips", headers=hdr).json()["floatingips"]
    assert [f["id"] for f in listed] == [mine["id"]]
    conn.network.delete_ip(fip)


def test_routers_say_they_are_distributed_not_ha(http: httpx.Client) -> None:
    """`dvr`, `l3-ha`, `router-admin-state-down-before-update`: every router is distributed
    and none is HA; asking for another kind is refused, and changing either attribute of an
    active router is refused with Neutron's message first."""
    made = http.post("/v2.0/routers", json={"router": {"name": "mode"}})
    router = made.json()["router"]
    assert (router["distributed"], router["ha"]) == (True, False)
    for attrs in ({"distributed": False}, {"ha": True}):
        body = {"router": {"name": "mode", **attrs}}
        neutron_error(http.post("/v2.0/routers", json=body), 400, "BadRequest")
    url = f"/v2.0/routers/{router['id']}"
    active = neutron_error(http.put(url, json={"router": {"ha": True}}), 400, "BadRequest")
    assert active["message"] == (
        "Bad router request: Cannot change the HA attribute of active routers. Please set "
        "router admin_state_up to False prior to upgrade."
    )
    assert http.put(url, json={"router": {"admin_state_up": False}}).status_code == 200
    down = neutron_error(http.put(url, json={"router": {"distributed": False}}), 400)
    assert "not supported" in down["message"]
    same = http.put(url, json={"router": {"distributed": True, "ha": False}})
    assert same.status_code == 200
    member = {"X-Project-Id": "p-mode", "X-Roles": "member"}
    mine = http.post("/v2.0/routers", json={"router": {"name": "m"}}, headers=member)
    assert "distributed" not in mine.json()["router"]  # admin-only, as Neutron's policy
    # Neutron declares no default for either: a member naming one, even the value every
    # router has, is refused by policy
    for attrs in ({"distributed": True}, {"ha": False}):
        body = {"router": {"name": "m", **attrs}}
        asked = http.post("/v2.0/routers", json=body, headers=member)
        neutron_error(asked, 403, "PolicyNotAuthorized")
    explicit = http.post("/v2.0/routers", json={"router": {"name": "a", "distributed": True}})
    assert explicit.status_code == 201, explicit.text
    assert (explicit.json()["router"]["distributed"], explicit.json()["router"]["ha"]) == (
        True,
        False,
    )
    assert http.delete(url).status_code == 204


def test_floatingip_pools(http: httpx.Client) -> None:
    """`floatingip-pools`: every IPv4 subnet of an external network that admits floating IPs."""
    ext = http.post(
        "/v2.0/networks", json={"network": {"name": "pools", "router:external": True}}
    ).json()["network"]["id"]
    subnets = [
        http.post(
            "/v2.0/subnets",
            json={"subnet": {"network_id": ext, "ip_version": v, "cidr": c, **attrs}},
        ).json()["subnet"]
        for v, c, attrs in (
            (4, "198.51.100.0/26", {"name": "fips"}),
            (4, "198.51.100.64/26", {"service_types": ["network:router_gateway"]}),
            (6, "2001:db8:fe::/64", {}),
        )
    ]
    pools = http.get("/v2.0/floatingip_pools").json()["floatingip_pools"]
    # Neutron takes either spelling of a collection (tempest asks for floatingip-pools)
    assert http.get("/v2.0/floatingip-pools").json()["floatingip_pools"] == pools
    mine = [p for p in pools if p["network_id"] == ext]
    assert mine == [
        {
            "subnet_id": subnets[0]["id"],
            "subnet_name": "fips",
            "network_id": ext,
            "project_id": subnets[0]["project_id"],
            "tenant_id": subnets[0]["project_id"],
            "cidr": "198.51.100.0/26",
        }
    ]
    assert http.delete(f"/v2.0/networks/{ext}").status_code == 204


def test_router_interface_addresses_do_not_change(http: httpx.Client) -> None:
    """`l3-port-ip-change-not-allowed`: an interface port's IPv4 addresses change only through
    the router; its gateway port's may (as Neutron)."""
    hdr = _project()
    net, sub = _tenant_net(http, hdr, _next_cidr())
    router = _post(http, "router", hdr, name="r")["id"]
    iface = _put(http, f"/v2.0/routers/{router}/add_router_interface", hdr, {"subnet_id": sub})
    port_id = iface.json()["port_id"]
    port = http.get(f"/v2.0/ports/{port_id}", headers=hdr).json()["port"]
    gateway_ip = port["fixed_ips"][0]["ip_address"]
    moved = ipaddress.ip_address(gateway_ip) + 5
    body = {"port": {"fixed_ips": [{"subnet_id": sub, "ip_address": str(moved)}]}}
    for who in (hdr, ADMIN):
        refused = neutron_error(_put(http, f"/v2.0/ports/{port_id}", who, body), 400, "BadRequest")
        assert refused["message"] == (
            f"Bad ports request: IP updates for port {port_id} are not allowed."
        )
    after = http.get(f"/v2.0/ports/{port_id}", headers=hdr).json()["port"]
    assert after["fixed_ips"] == port["fixed_ips"]  # nothing changed, nothing leaked
    free = _post(http, "port", hdr, network_id=net, fixed_ips=[{"ip_address": str(moved)}])
    assert free["fixed_ips"][0]["ip_address"] == str(moved)
    same = _put(http, f"/v2.0/ports/{port_id}", hdr, {"port": {"fixed_ips": port["fixed_ips"]}})
    assert same.status_code == 200, same.text
    ext, _ = _external(http, "198.19.40.0/24")
    made = _post(http, "router", ADMIN, name="g", external_gateway_info={"network_id": ext})
    query = f"/v2.0/ports?device_id={made['id']}&device_owner=network:router_gateway"
    [gw] = http.get(query).json()["ports"]
    regw = _put(
        http,
        f"/v2.0/ports/{gw['id']}",
        ADMIN,
        {"port": {"fixed_ips": [{"ip_address": "198.19.40.77"}]}},
    )
    assert regw.status_code == 200, regw.text
    assert regw.json()["port"]["fixed_ips"][0]["ip_address"] == "198.19.40.77"
