"""Networks, subnets and ports through openstacksdk and raw HTTP: Neutron's semantics."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import openstack.exceptions as osexc
import pytest

from tests.api.conftest import member_headers, neutron_error


def _net(http: httpx.Client, **attrs: Any) -> dict:
    resp = http.post("/v2.0/networks", json={"network": {"name": "n", **attrs}})
    assert resp.status_code == 201, resp.text
    return resp.json()["network"]


def _subnet(http: httpx.Client, net_id: str, cidr: str, **attrs: Any) -> dict:
    version = 6 if ":" in cidr else 4
    resp = http.post(
        "/v2.0/subnets",
        json={"subnet": {"network_id": net_id, "cidr": cidr, "ip_version": version, **attrs}},
    )
    assert resp.status_code == 201, resp.text
    return resp.json()["subnet"]


def _port(http: httpx.Client, net_id: str, **attrs: Any) -> httpx.Response:
    return http.post("/v2.0/ports", json={"port": {"network_id": net_id, **attrs}})


# -- documents ------------------------------------------------------------------------------


def test_versions_resources_extensions(http: httpx.Client) -> None:
    versions = http.get("/").json()["versions"]
    assert versions[0]["id"] == "v2.0" and versions[0]["status"] == "CURRENT"
    names = {r["collection"] for r in http.get("/v2.0/").json()["resources"]}
    assert {"networks", "subnets", "ports"} <= names
    exts = {e["alias"]: e for e in http.get("/v2.0/extensions").json()["extensions"]}
    assert exts["binding"]["name"] == "Port Binding"
    assert "qos" not in exts  # only what is implemented
    assert {"security-group", "router", "extraroute-atomic", "fip-port-details"} <= set(exts)
    assert http.get("/v2.0/extensions/provider").json()["extension"]["alias"] == "provider"
    neutron_error(http.get("/v2.0/extensions/nope"), 404, "ExtensionNotFound")
    assert "networks" in http.get("/v2.0/networks.json").json()
    assert http.get("/v2.0/extensions.json").status_code == 200
    doc = http.get("/openapi.json").json()
    assert "/v2.0/ports/{id}" in doc["paths"]


def test_sdk_network_lifecycle(conn: Any) -> None:
    net = conn.network.create_network(name="sdk-net")
    assert net.mtu == 1450 and net.status == "ACTIVE" and net.is_admin_state_up
    assert net.provider_network_type == "vxlan" and net.provider_segmentation_id > 0
    assert net.project_id == net.tenant_id if hasattr(net, "tenant_id") else True
    subnet = conn.network.create_subnet(
        network_id=net.id, cidr="10.20.0.0/24", ip_version=4, dns_nameservers=["198.19.0.53"]
    )
    assert subnet.gateway_ip == "10.20.0.1"
    assert subnet.allocation_pools == [{"start": "10.20.0.2", "end": "10.20.0.254"}]
    port = conn.network.create_port(network_id=net.id, name="p1")
    assert port.status == "DOWN" and port.mac_address.startswith("fa:16:3e")
    assert port.fixed_ips[0]["subnet_id"] == subnet.id
    assert port.binding_vif_type == "unbound"
    assert conn.network.get_network(net.id).subnet_ids == [subnet.id]
    found = list(conn.network.ports(network_id=net.id))
    assert [p.id for p in found] == [port.id]
    port = conn.network.update_port(port, name="p1b")
    assert port.name == "p1b" and port.revision_number >= 1
    conn.network.delete_port(port)
    conn.network.delete_network(net)
    with pytest.raises(osexc.NotFoundException):
        conn.network.get_network(net.id)
    with pytest.raises(osexc.NotFoundException):
        conn.network.get_subnet(subnet.id)


# -- networks -------------------------------------------------------------------------------


def test_vni_unique_explicit_and_released(http: httpx.Client) -> None:
    vni = 700000 + uuid.uuid4().int % 100000
    net = _net(http, **{"provider:segmentation_id": vni})
    assert net["provider:segmentation_id"] == vni
    neutron_error(
        http.post("/v2.0/networks", json={"network": {"provider:segmentation_id": vni}}),
        409,
        "SegmentationIdInUse",
    )
    assert http.delete(f"/v2.0/networks/{net['id']}").status_code == 204
    again = _net(http, **{"provider:segmentation_id": vni})
    assert again["provider:segmentation_id"] == vni
    http.delete(f"/v2.0/networks/{again['id']}")


def test_network_in_use(http: httpx.Client) -> None:
    net = _net(http)
    _subnet(http, net["id"], "10.30.0.0/24")
    port = _port(http, net["id"]).json()["port"]
    neutron_error(http.delete(f"/v2.0/networks/{net['id']}"), 409, "NetworkInUse")
    http.delete(f"/v2.0/ports/{port['id']}")
    assert http.delete(f"/v2.0/networks/{net['id']}").status_code == 204


def test_member_cannot_set_provider_and_sees_only_own(http: httpx.Client) -> None:
    proj_a, proj_b = uuid.uuid4().hex, uuid.uuid4().hex
    resp = http.post(
        "/v2.0/networks",
        json={"network": {"provider:segmentation_id": 5}},
        headers=member_headers(proj_a),
    )
    neutron_error(resp, 403, "PolicyNotAuthorized")
    mine = http.post(
        "/v2.0/networks", json={"network": {"name": "a"}}, headers=member_headers(proj_a)
    ).json()["network"]
    assert "provider:segmentation_id" not in mine and mine["project_id"] == proj_a
    assert mine["tenant_id"] == proj_a
    neutron_error(
        http.get(f"/v2.0/networks/{mine['id']}", headers=member_headers(proj_b)),
        404,
        "NetworkNotFound",
    )
    listed = http.get("/v2.0/networks", headers=member_headers(proj_b)).json()["networks"]
    assert mine["id"] not in [n["id"] for n in listed]
    shared = _net(http, shared=True)
    listed = http.get("/v2.0/networks", headers=member_headers(proj_b)).json()["networks"]
    assert shared["id"] in [n["id"] for n in listed]
    neutron_error(
        http.post(
            "/v2.0/networks",
            json={"network": {"project_id": proj_b}},
            headers=member_headers(proj_a),
        ),
        400,
    )


# -- generic semantics ----------------------------------------------------------------------


def test_bad_input_gets_neutron_400(http: httpx.Client) -> None:
    bad = [
        b"{not json",
        b'{"network": {"name": 5}}',
        b'{"network": {"bogus": 1}}',
        b'{"network": {"status": "DOWN"}}',
        b'{"network": {"mtu": "big"}}',
        b'{"network": {"admin_state_up": "perhaps"}}',
        b'{"network": []}',
        b'{"nope": {}}',
        b"[]",
    ]
    for body in bad:
        neutron_error(
            http.post("/v2.0/networks", content=body, headers={"Content-Type": "application/json"}),
            400,
        )
    neutron_error(http.get("/v2.0/networks?bogus=1"), 400)
    neutron_error(http.get("/v2.0/networks?sort_key=bogus"), 400)
    neutron_error(http.get("/v2.0/networks?limit=x"), 400)
    neutron_error(http.get("/v2.0/nothing"), 404)
    neutron_error(http.get(f"/v2.0/ports/{uuid.uuid4()}"), 404, "PortNotFound")


def test_bulk_create_is_all_or_nothing(http: httpx.Client) -> None:
    tag = uuid.uuid4().hex[:8]
    resp = http.post(
        "/v2.0/networks",
        json={"networks": [{"name": f"bulk-{tag}"}, {"name": f"bulk-{tag}", "mtu": "x"}]},
    )
    neutron_error(resp, 400)
    net = _net(http)
    _subnet(http, net["id"], "10.31.0.0/29")  # 5 addresses
    resp = http.post(
        "/v2.0/ports", json={"ports": [{"network_id": net["id"], "name": tag} for _ in range(6)]}
    )
    neutron_error(resp, 409, "IpAddressGenerationFailure")
    assert http.get(f"/v2.0/ports?name={tag}").json()["ports"] == []
    resp = http.post(
        "/v2.0/ports", json={"ports": [{"network_id": net["id"], "name": tag} for _ in range(5)]}
    )
    assert resp.status_code == 201 and len(resp.json()["ports"]) == 5
    ips = {p["fixed_ips"][0]["ip_address"] for p in resp.json()["ports"]}
    assert len(ips) == 5


def test_filters_fields_sort_and_pagination(http: httpx.Client) -> None:
    tag = uuid.uuid4().hex[:8]
    ids = [_net(http, name=f"{tag}-{i}", mtu=1400 + i)["id"] for i in range(5)]
    got = http.get(f"/v2.0/networks?name={tag}-1&name={tag}-3&fields=id&fields=name").json()
    assert sorted(n["name"] for n in got["networks"]) == [f"{tag}-1", f"{tag}-3"]
    assert all(set(n) == {"id", "name"} for n in got["networks"])
    got = http.get(f"/v2.0/networks?name={tag}-1&mtu=1401").json()["networks"]
    assert len(got) == 1
    got = http.get(f"/v2.0/networks?name={tag}-1&mtu=1402").json()["networks"]
    assert got == []
    names = [f"{tag}-{i}" for i in range(5)]
    query = "&".join(f"name={n}" for n in names)
    desc = http.get(f"/v2.0/networks?{query}&sort_key=mtu&sort_dir=desc").json()["networks"]
    assert [n["mtu"] for n in desc] == [1404, 1403, 1402, 1401, 1400]
    seen: list[str] = []
    url = f"/v2.0/networks?{query}&sort_key=mtu&sort_dir=asc&limit=2"
    while url:
        page = http.get(url).json()
        seen += [n["id"] for n in page["networks"]]
        nxt = [link["href"] for link in page.get("networks_links", []) if link["rel"] == "next"]
        url = nxt[0] if nxt else ""
    assert seen == ids
    last = http.get(
        f"/v2.0/networks?{query}&sort_key=mtu&limit=2&marker={ids[4]}&page_reverse=True"
    ).json()
    assert [n["id"] for n in last["networks"]] == ids[2:4]


def test_tags_revision_and_if_match(http: httpx.Client) -> None:
    net = _net(http)
    nid, rev = net["id"], net["revision_number"]
    assert http.put(f"/v2.0/networks/{nid}/tags/red").status_code == 201
    assert http.put(f"/v2.0/networks/{nid}/tags", json={"tags": ["a", "b"]}).json() == {
        "tags": ["a", "b"]
    }
    assert http.get(f"/v2.0/networks/{nid}/tags/a").status_code == 204
    neutron_error(http.get(f"/v2.0/networks/{nid}/tags/red"), 404, "TagNotFound")
    assert nid in [n["id"] for n in http.get("/v2.0/networks?tags=a,b").json()["networks"]]
    assert nid in [n["id"] for n in http.get("/v2.0/networks?tags-any=zz,b").json()["networks"]]
    assert nid not in [n["id"] for n in http.get("/v2.0/networks?not-tags=a").json()["networks"]]
    now = http.get(f"/v2.0/networks/{nid}").json()["network"]
    assert now["revision_number"] > rev and sorted(now["tags"]) == ["a", "b"]
    neutron_error(
        http.put(
            f"/v2.0/networks/{nid}",
            json={"network": {"name": "x"}},
            headers={"If-Match": f"revision_number={rev}"},
        ),
        412,
        "RevisionNumberConstraintFailed",
    )
    ok = http.put(
        f"/v2.0/networks/{nid}",
        json={"network": {"name": "x"}},
        headers={"If-Match": f"revision_number={now['revision_number']}"},
    )
    assert (
        ok.status_code == 200
        and ok.json()["network"]["revision_number"] == now["revision_number"] + 1
    )
    assert http.delete(f"/v2.0/networks/{nid}/tags").status_code == 204
    assert http.get(f"/v2.0/networks/{nid}/tags").json() == {"tags": []}
    since = http.get(f"/v2.0/networks?changed_since={now['updated_at']}").json()["networks"]
    assert nid in [n["id"] for n in since]


# -- subnets --------------------------------------------------------------------------------


def test_subnet_rules(http: httpx.Client) -> None:
    net = _net(http)
    nid = net["id"]
    sub = _subnet(http, nid, "10.40.0.0/24", gateway_ip=None)
    assert sub["gateway_ip"] is None
    assert sub["allocation_pools"] == [{"start": "10.40.0.1", "end": "10.40.0.254"}]

    def refused(cidr: str, code: int, type_name: str | None = None, **attrs: Any) -> None:
        body = {"network_id": nid, "cidr": cidr, "ip_version": 4, **attrs}
        neutron_error(http.post("/v2.0/subnets", json={"subnet": body}), code, type_name)

    refused("10.40.0.128/25", 400, "InvalidInput")
    # Neutron keeps host bits out of a subnet's CIDR instead of refusing them
    hosty = _subnet(http, nid, "10.41.0.77/24")
    assert hosty["cidr"] == "10.41.0.0/24" and hosty["gateway_ip"] == "10.41.0.1"
    assert http.delete(f"/v2.0/subnets/{hosty['id']}").status_code == 204
    refused("10.41.0.5", 400)
    refused("10.41.0.0/24", 400, ip_version=6)
    refused(
        "10.42.0.0/24",
        409,
        "GatewayConflictWithAllocationPools",
        allocation_pools=[{"start": "10.42.0.1", "end": "10.42.0.9"}],
    )
    refused(
        "10.43.0.0/24",
        400,
        "OutOfBoundsAllocationPool",
        allocation_pools=[{"start": "10.43.1.1", "end": "10.43.1.9"}],
    )
    refused("10.44.0.0/24", 404, "NetworkNotFound", network_id=str(uuid.uuid4()))
    v6 = _subnet(http, nid, "2001:db8:40::/64", ipv6_address_mode="slaac", ipv6_ra_mode="slaac")
    assert v6["gateway_ip"] == "2001:db8:40::1"
    assert v6["allocation_pools"] == [
        {"start": "2001:db8:40::2", "end": "2001:db8:40:0:ffff:ffff:ffff:ffff"}
    ]
    port = _port(http, nid, mac_address="fa:16:3e:11:22:33").json()["port"]
    addrs = {f["ip_address"] for f in port["fixed_ips"]}
    assert "2001:db8:40:0:f816:3eff:fe11:2233" in addrs and len(addrs) == 2
    neutron_error(http.delete(f"/v2.0/subnets/{sub['id']}"), 409, "SubnetInUse")
    upd = http.put(
        f"/v2.0/subnets/{sub['id']}",
        json={
            "subnet": {
                "dns_nameservers": ["198.19.0.53"],
                "host_routes": [{"destination": "198.19.1.0/24", "nexthop": "10.40.0.254"}],
                "allocation_pools": [{"start": "10.40.0.10", "end": "10.40.0.20"}],
            }
        },
    )
    assert upd.status_code == 200, upd.text
    in_pool = _port(http, nid, fixed_ips=[{"subnet_id": sub["id"]}]).json()["port"]
    ip = in_pool["fixed_ips"][0]["ip_address"]
    assert 10 <= int(ip.rsplit(".", 1)[1]) <= 20
    _port(http, nid, fixed_ips=[{"ip_address": "10.40.0.200"}])
    neutron_error(
        http.put(f"/v2.0/subnets/{sub['id']}", json={"subnet": {"gateway_ip": "10.40.0.200"}}),
        409,
        "GatewayIpInUse",
    )


# -- ports ----------------------------------------------------------------------------------


def test_port_addresses(http: httpx.Client) -> None:
    net = _net(http)
    nid = net["id"]
    sub = _subnet(http, nid, "10.50.0.0/24")
    p1 = _port(http, nid, fixed_ips=[{"ip_address": "10.50.0.10"}]).json()["port"]
    assert p1["fixed_ips"] == [{"subnet_id": sub["id"], "ip_address": "10.50.0.10"}]
    neutron_error(_port(http, nid, fixed_ips=[{"ip_address": "10.50.0.10"}]), 409, "IpAddressInUse")
    neutron_error(
        _port(http, nid, fixed_ips=[{"subnet_id": sub["id"], "ip_address": "10.51.0.10"}]),
        400,
        "InvalidIpForSubnet",
    )
    neutron_error(_port(http, nid, fixed_ips=[{"ip_address": "10.99.0.10"}]), 400)
    neutron_error(_port(http, nid, mac_address=p1["mac_address"]), 409, "MacAddressInUse")
    neutron_error(
        _port(http, nid, fixed_ips=[{"ip_address": "10.50.0.1"}]), 409, "IpAddressInUse"
    )  # the gateway
    outside = _port(http, nid, fixed_ips=[{"ip_address": "10.50.0.255"}])
    neutron_error(outside, 400, "InvalidIpForSubnet")  # broadcast
    upd = http.put(
        f"/v2.0/ports/{p1['id']}", json={"port": {"fixed_ips": [{"ip_address": "10.50.0.11"}]}}
    )
    assert upd.json()["port"]["fixed_ips"][0]["ip_address"] == "10.50.0.11"
    again = _port(http, nid, fixed_ips=[{"ip_address": "10.50.0.10"}])
    assert again.status_code == 201  # released atomically by the update
    by_ip = http.get("/v2.0/ports?fixed_ips=ip_address=10.50.0.11").json()["ports"]
    assert [p["id"] for p in by_ip] == [p1["id"]]
    by_sub = http.get(f"/v2.0/ports?fixed_ips=subnet_id={sub['id']}").json()["ports"]
    assert len(by_sub) == 2
    substr = http.get("/v2.0/ports?fixed_ips=ip_address_substr=50.0.1").json()["ports"]
    assert {p["id"] for p in substr} == {p1["id"], again.json()["port"]["id"]}


def test_port_exhaustion_and_release(http: httpx.Client) -> None:
    net = _net(http)
    _subnet(http, net["id"], "10.52.0.0/29")
    ports = [_port(http, net["id"]) for _ in range(5)]
    assert all(r.status_code == 201 for r in ports)
    neutron_error(_port(http, net["id"]), 409, "IpAddressGenerationFailure")
    substr = http.get("/v2.0/ports?fixed_ips=ip_address_substr=10.52.0.").json()["ports"]
    assert {p["id"] for p in substr} == {r.json()["port"]["id"] for r in ports}
    http.delete(f"/v2.0/ports/{ports[0].json()['port']['id']}")
    assert _port(http, net["id"]).status_code == 201


def test_port_security_and_binding_attributes(http: httpx.Client) -> None:
    net = _net(http, port_security_enabled=False)
    _subnet(http, net["id"], "10.53.0.0/24")
    port = _port(http, net["id"]).json()["port"]
    assert port["port_security_enabled"] is False
    neutron_error(
        _port(http, net["id"], allowed_address_pairs=[{"ip_address": "10.53.0.99"}]),
        409,
        "AddressPairAndPortSecurityRequired",
    )
    secure = _port(
        http,
        net["id"],
        port_security_enabled=True,
        allowed_address_pairs=[{"ip_address": "10.53.0.0/28"}],
        extra_dhcp_opts=[{"opt_name": "domain-search", "opt_value": "example.org"}],
        **{"binding:host_id": "no-such-host", "binding:profile": {"k": "v"}},
    ).json()["port"]
    assert secure["allowed_address_pairs"] == [
        {"ip_address": "10.53.0.0/28", "mac_address": secure["mac_address"]}
    ]
    assert secure["binding:vif_type"] == "binding_failed"
    assert secure["binding:vnic_type"] == "normal"
    unbound = http.put(f"/v2.0/ports/{secure['id']}", json={"port": {"binding:host_id": ""}})
    assert unbound.json()["port"]["binding:vif_type"] == "unbound"
    member = http.get(
        f"/v2.0/ports/{secure['id']}", headers=member_headers(secure["project_id"])
    ).json()["port"]
    assert "binding:host_id" not in member and "binding:vif_type" not in member


def test_bulk_ports_batch_rules(http: httpx.Client) -> None:
    net = _net(http)
    small = _subnet(http, net["id"], "10.54.0.0/29")  # 5 addresses
    big = _subnet(http, net["id"], "10.54.1.0/28")  # 13 addresses
    resp = http.post(
        "/v2.0/ports",
        json={"ports": [{"network_id": net["id"], "name": f"b{i}"} for i in range(10)]},
    )
    assert resp.status_code == 201, resp.text
    ports = resp.json()["ports"]
    by_subnet = [p["fixed_ips"][0]["subnet_id"] for p in ports]
    assert by_subnet.count(small["id"]) == 5 and by_subnet.count(big["id"]) == 5
    assert len({p["mac_address"] for p in ports}) == 10
    assert len({p["fixed_ips"][0]["ip_address"] for p in ports}) == 10
    dup_mac = "fa:16:3e:aa:bb:cc"
    resp = http.post(
        "/v2.0/ports",
        json={"ports": [{"network_id": net["id"], "mac_address": dup_mac} for _ in range(2)]},
    )
    neutron_error(resp, 409, "MacAddressInUse")
    mixed = http.post(
        "/v2.0/ports",
        json={
            "ports": [
                {"network_id": net["id"], "fixed_ips": [{"ip_address": "10.54.1.14"}]},
                {"network_id": net["id"], "mac_address": dup_mac},
                {"network_id": net["id"]},
            ]
        },
    )
    assert mixed.status_code == 201, mixed.text
    assert mixed.json()["ports"][0]["fixed_ips"][0]["ip_address"] == "10.54.1.14"
    assert mixed.json()["ports"][1]["mac_address"] == dup_mac


def test_segmentation_ids_are_unique_across_overlay_types(http: httpx.Client) -> None:
    """A host carries every overlay's id in the same tunnel key, so a VXLAN 5 and a Geneve 5
    network would merge there: one id space for all overlay types."""
    seg = 4000 + uuid.uuid4().int % 100000
    net = _net(http, **{"provider:network_type": "vxlan", "provider:segmentation_id": seg})
    assert net["provider:segmentation_id"] == seg
    for kind in ("geneve", "vxlan"):
        again = http.post(
            "/v2.0/networks",
            json={"network": {"provider:network_type": kind, "provider:segmentation_id": seg}},
        )
        neutron_error(again, 409, "SegmentationIdInUse")
    assert http.delete(f"/v2.0/networks/{net['id']}").status_code == 204
    net = _net(http, **{"provider:network_type": "geneve", "provider:segmentation_id": seg})
    assert net["provider:segmentation_id"] == seg
    # automatic ids of both types never collide with each other's explicit ones
    for i in range(40):
        _net(http, **{"provider:network_type": ("vxlan", "geneve")[i % 2]})
