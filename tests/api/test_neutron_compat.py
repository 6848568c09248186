"""Behaviours neutron-tempest-plugin's API suite checks, each as Neutron has it."""

from __future__ import annotations

import uuid
from typing import Any

import httpx

from tests.api.conftest import member_headers, neutron_error

ADMIN: dict[str, str] = {}


def _project() -> dict[str, str]:
    return member_headers(f"c-{uuid.uuid4().hex[:8]}")


def _post(http: httpx.Client, kind: str, hdr: dict[str, str], **attrs: Any) -> dict:
    resp = http.post(f"/v2.0/{kind}s", json={kind: attrs}, headers=hdr)
    assert resp.status_code == 201, resp.text
    return resp.json()[kind]


def _put(http: httpx.Client, path: str, hdr: dict[str, str], body: dict) -> httpx.Response:
    return http.put(path, json=body, headers=hdr)


def _net_subnet(http: httpx.Client, hdr: dict[str, str], cidr: str) -> tuple[str, str]:
    net = _post(http, "network", hdr, name="n")["id"]
    sub = _post(http, "subnet", hdr, network_id=net, cidr=cidr, ip_version=4)["id"]
    return net, sub


def test_null_lists_mean_empty(http: httpx.Client) -> None:
    """neutron-lib's convert_none_to_empty_list: `routes`, `host_routes`, `dns_nameservers`,
    `allowed_address_pairs` take null as [] (tempest's router clean-up sends routes: null)."""
    hdr = _project()
    net, sub = _net_subnet(http, hdr, "10.70.0.0/24")
    router = _post(http, "router", hdr, name="r")["id"]
    path = f"/v2.0/routers/{router}"
    assert _put(http, f"{path}/add_router_interface", hdr, {"subnet_id": sub}).status_code == 200
    route = {"destination": "10.99.0.0/16", "nexthop": "10.70.0.10"}
    assert _put(http, path, hdr, {"router": {"routes": [route]}}).json()["router"]["routes"]
    cleared = _put(http, path, hdr, {"router": {"routes": None}})
    assert cleared.status_code == 200, cleared.text
    assert cleared.json()["router"]["routes"] == []
    changed = _put(
        http,
        f"/v2.0/subnets/{sub}",
        hdr,
        {"subnet": {"dns_nameservers": None, "host_routes": None}},
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["subnet"]["dns_nameservers"] == []
    assert changed.json()["subnet"]["host_routes"] == []
    port = _post(http, "port", hdr, network_id=net, allowed_address_pairs=None)
    assert port["allowed_address_pairs"] == []
    neutron_error(_put(http, path, hdr, {"router": {"name": None}}), 400, "InvalidInput")


def test_subnets_filter_by_their_networks_shared_flag(http: httpx.Client) -> None:
    """A subnet's `shared` is hidden and is its network's flag; it filters lists."""
    hdr = _project()
    _, private = _net_subnet(http, hdr, "10.71.0.0/24")
    shared_net = _post(http, "network", ADMIN, name="s", shared=True)["id"]
    shared = _post(http, "subnet", ADMIN, network_id=shared_net, cidr="10.72.0.0/24", ip_version=4)

    def ids(headers: dict[str, str], flag: str) -> set[str]:
        resp = http.get(f"/v2.0/subnets?shared={flag}", headers=headers)
        assert resp.status_code == 200, resp.text
        assert all("shared" not in s for s in resp.json()["subnets"])
        return {s["id"] for s in resp.json()["subnets"]}

    for headers in (hdr, ADMIN):
        assert shared["id"] in ids(headers, "True") and private not in ids(headers, "true")
        assert private in ids(headers, "False") and shared["id"] not in ids(headers, "0")
    assert "shared" not in shared
    neutron_error(http.get("/v2.0/subnets?shared=maybe"), 400)


def test_bulk_items_bare_or_wrapped(http: httpx.Client) -> None:
    """Neutron takes each bulk item bare or wrapped as a single create's body."""
    hdr = _project()
    net, _ = _net_subnet(http, hdr, "10.73.0.0/24")
    items = [
        {"port": {"network_id": net, "name": "w", "tags": ["a", "b"]}},
        {"network_id": net, "name": "b"},
    ]
    resp = http.post("/v2.0/ports", json={"ports": items}, headers=hdr)
    assert resp.status_code == 201, resp.text
    ports = resp.json()["ports"]
    assert [p["name"] for p in ports] == ["w", "b"]
    assert sorted(ports[0]["tags"]) == ["a", "b"] and ports[1]["tags"] == []
    groups = [{"security_group": {"name": f"g{i}"}} for i in range(2)]
    resp = http.post("/v2.0/security-groups", json={"security_groups": groups}, headers=hdr)
    assert resp.status_code == 201, resp.text
    assert [g["name"] for g in resp.json()["security_groups"]] == ["g0", "g1"]
    bad = [{"network": {"name": "x", "mtu": "x"}}]
    neutron_error(http.post("/v2.0/networks", json={"networks": bad}, headers=hdr), 400)


def test_pagination_links_as_neutron(http: httpx.Client) -> None:
    """Neutron's get_pagination_links: a full page links onwards (the page after the last
    full one is empty and has no `next`); `previous` from the empty page, which has no
    marker, is the last page; walking back ends on a short page without `previous`."""
    tag = uuid.uuid4().hex[:8]
    ids = [_post(http, "network", ADMIN, name=f"{tag}-{i}")["id"] for i in range(4)]
    base = f"/v2.0/networks?name={tag}-0&name={tag}-1&name={tag}-2&name={tag}-3&sort_key=name"

    def get(url: str) -> tuple[list[str], dict[str, str]]:
        body = http.get(url).json()
        links = {link["rel"]: link["href"] for link in body.get("networks_links", [])}
        return [n["id"] for n in body["networks"]], links

    seen: list[str] = []
    page, links = get(f"{base}&limit=2")
    assert set(links) == {"next", "previous"}  # as Neutron: a full first page has both
    while page:
        seen += page
        page, links = get(links["next"])
    assert seen == ids and "next" not in links and "marker" not in links["previous"]
    back: list[str] = []
    page, links = get(links["previous"])
    while page:
        back = page + back
        assert "next" in links
        if "previous" not in links:
            break
        page, links = get(links["previous"])
    assert back == ids
    short, links = get(f"{base}&limit=3&marker={ids[0]}")
    assert short == ids[1:] and "next" in links  # a full page: one more to find it empty
    short, links = get(f"{base}&limit=5")
    assert short == ids and set(links) == {"previous"}
    assert "networks_links" not in http.get(base).json()


def test_related_revision_bumps(http: httpx.Client) -> None:
    """Neutron's revises_on_change: a subnet revises its network, a rule its group, a
    router interface its router; what is made in the same request stays at 0."""
    hdr = _project()

    def rev(kind: str, rid: str) -> int:
        resp = http.get(f"/v2.0/{kind}s/{rid}", headers=hdr)
        value: int = resp.json()[kind]["revision_number"]
        return value

    net = _post(http, "network", hdr, name="n")
    sub = _post(http, "subnet", hdr, network_id=net["id"], cidr="10.74.0.0/24", ip_version=4)
    r1 = rev("network", net["id"])
    assert r1 > net["revision_number"]
    _put(http, f"/v2.0/subnets/{sub['id']}", hdr, {"subnet": {"name": "x"}})
    r2 = rev("network", net["id"])
    assert r2 > r1
    group = _post(http, "security_group", hdr, name="g")
    assert group["revision_number"] == rev("security_group", group["id"]) == 0
    rule = _post(
        http, "security_group_rule", hdr, security_group_id=group["id"], direction="ingress"
    )
    g1 = rev("security_group", group["id"])
    assert g1 > 0
    assert http.delete(f"/v2.0/security-group-rules/{rule['id']}", headers=hdr).status_code == 204
    assert rev("security_group", group["id"]) > g1
    router = _post(http, "router", hdr, name="r")
    path = f"/v2.0/routers/{router['id']}"
    assert _put(http, f"{path}/add_router_interface", hdr, {"subnet_id": sub["id"]}).is_success
    t1 = rev("router", router["id"])
    assert t1 > router["revision_number"]
    assert _put(http, f"{path}/remove_router_interface", hdr, {"subnet_id": sub["id"]}).is_success
    assert rev("router", router["id"]) > t1
    r3 = rev("network", net["id"])
    assert http.delete(f"/v2.0/subnets/{sub['id']}", headers=hdr).status_code == 204
    assert rev("network", net["id"]) > r3
    assert http.delete(f"/v2.0/networks/{net['id']}", headers=hdr).status_code == 204


def test_if_match_as_neutron(http: httpx.Client) -> None:
    """`If-Match` as Neutron parses it: revision_number=<int> (any int; -1 never matches:
    412), quoted or not; other tags ignored; a non-int or two revision tags are a 400."""
    hdr = _project()
    net = _post(http, "network", hdr, name="n")
    path = f"/v2.0/networks/{net['id']}"

    def put(if_match: str) -> httpx.Response:
        return http.put(
            path, json={"network": {"name": "x"}}, headers={**hdr, "If-Match": if_match}
        )

    body = neutron_error(put("revision_number=-1"), 412, "RevisionNumberConstraintFailed")
    assert body["message"] == "Constrained to -1, but current revision is 0"
    assert put('"revision_number=0"').status_code == 200
    assert put("*").status_code == 200
    assert put('"some-etag"').status_code == 200
    body = neutron_error(put("revision_number=abc"), 400, "BadRequest")
    assert body["message"] == (
        "Bad if-match request: Revision number etag must be in the format of revision_number=<int>."
    )
    neutron_error(put('"revision_number=1", "revision_number=2"'), 400, "BadRequest")
    stale = http.delete(path, headers={**hdr, "If-Match": "revision_number=0"})
    neutron_error(stale, 412, "RevisionNumberConstraintFailed")
    current = http.get(path, headers=hdr).json()["network"]["revision_number"]
    gone = http.delete(path, headers={**hdr, "If-Match": f"revision_number={current}"})
    assert gone.status_code == 204


def test_port_groups_all_stateful_or_all_stateless(http: httpx.Client) -> None:
    """Neutron: a port may not have stateful and stateless security groups at once."""
    hdr = _project()
    net, _ = _net_subnet(http, hdr, "10.75.0.0/24")
    full = _post(http, "security_group", hdr, name="full")["id"]
    full2 = _post(http, "security_group", hdr, name="full2")["id"]
    bare = _post(http, "security_group", hdr, name="bare", stateful=False)["id"]
    body = neutron_error(
        http.post(
            "/v2.0/ports",
            json={"port": {"network_id": net, "security_groups": [full, bare]}},
            headers=hdr,
        ),
        409,
        "SecurityGroupConflict",
    )
    assert body["message"] == (
        "Error Cannot apply both stateful and stateless security groups on the same port at "
        "the same time while attempting the operation."
    )
    port = _post(http, "port", hdr, network_id=net, security_groups=[full, full2])
    path = f"/v2.0/ports/{port['id']}"
    neutron_error(
        _put(http, path, hdr, {"port": {"security_groups": [bare, full]}}),
        409,
        "SecurityGroupConflict",
    )
    assert _put(http, path, hdr, {"port": {"security_groups": [bare]}}).status_code == 200


def test_network_mtu_limits(http: httpx.Client) -> None:
    """ML2: an MTU above what the network type carries (1450 on VXLAN: 1500 less 50 of
    encapsulation) is a 400, 0 is the default; an MTU below 68 (IPv6: 1280) is allowed on
    the network but refuses subnets (409 NetworkMTUSubnetConflict), both ways round."""
    hdr = _project()
    body = neutron_error(
        http.post("/v2.0/networks", json={"network": {"mtu": 1451}}, headers=hdr),
        400,
        "InvalidInput",
    )
    assert (
        body["message"] == "Invalid input for operation: Requested MTU is too big, maximum is 1450."
    )
    assert _post(http, "network", hdr, mtu=0)["mtu"] == 1450
    tiny = _post(http, "network", hdr, mtu=67)
    assert tiny["mtu"] == 67
    sub4 = {"network_id": tiny["id"], "cidr": "10.76.0.0/24", "ip_version": 4}
    body = neutron_error(
        http.post("/v2.0/subnets", json={"subnet": sub4}, headers=hdr),
        409,
        "NetworkMTUSubnetConflict",
    )
    assert body["message"] == (f"MTU of {tiny['id']} is not valid, subnet requires a minimum of 68")
    small = _post(http, "network", hdr, mtu=1279)
    sub6 = {"network_id": small["id"], "cidr": "fd00:76::/64", "ip_version": 6}
    neutron_error(
        http.post("/v2.0/subnets", json={"subnet": sub6}, headers=hdr),
        409,
        "NetworkMTUSubnetConflict",
    )
    assert (
        http.post(
            "/v2.0/subnets", json={"subnet": {**sub4, "network_id": small["id"]}}, headers=hdr
        ).status_code
        == 201
    )
    path = f"/v2.0/networks/{small['id']}"
    neutron_error(_put(http, path, hdr, {"network": {"mtu": 67}}), 409, "NetworkMTUSubnetConflict")
    neutron_error(_put(http, path, hdr, {"network": {"mtu": 1500}}), 400, "InvalidInput")
    assert _put(http, path, hdr, {"network": {"mtu": 1400}}).json()["network"]["mtu"] == 1400
    net6, _ = _net_subnet(http, hdr, "10.77.0.0/24")
    v6 = {"network_id": net6, "cidr": "fd00:77::/64", "ip_version": 6}
    assert http.post("/v2.0/subnets", json={"subnet": v6}, headers=hdr).status_code == 201
    body = neutron_error(
        _put(http, f"/v2.0/networks/{net6}", hdr, {"network": {"mtu": 1279}}),
        409,
        "NetworkMTUSubnetConflict",
    )
    assert body["message"].endswith("subnet requires a minimum of 1280")
