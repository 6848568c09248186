"""Bounded requests and no 500s: what a hostile or careless client sends is answered with a 4xx
and a Neutron error body, on a connection that stays usable."""

from __future__ import annotations

import asyncio
import http.client
import json
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from alcor import errors
from alcor.api import bodies
from alcor.config import ServerSettings
from alcor.lab.server_process import AlcorServer
from alcor.resources import kinds
from alcor.resources.query import MAX_TAGS_COUNT
from tests.api.conftest import member_headers, neutron_error

DEFAULTS = ServerSettings()


def _network(http: httpx.Client, **attrs: Any) -> dict[str, Any]:
    resp = http.post("/v2.0/networks", json={"network": {"name": "h", **attrs}})
    assert resp.status_code == 201, resp.text
    return dict(resp.json()["network"])


def _raw(server: AlcorServer, request: bytes) -> tuple[int, str | None, dict[str, Any]]:
    """Send bytes as they are (no client would send these) and read the one response."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
        sock.sendall(request)
        resp = http.client.HTTPResponse(sock)
        resp.begin()
        return resp.status, resp.getheader("content-type"), json.loads(resp.read())


# -- body size ------------------------------------------------------------------------------


def test_single_object_bodies_are_limited_as_in_openstack(http: httpx.Client) -> None:
    assert DEFAULTS.max_request_body_size == 114688  # oslo.middleware's default
    big = {"network": {"name": "n", "description": "x" * 120_000}}
    body = neutron_error(http.post("/v2.0/networks", json=big), 413, "HTTPRequestEntityTooLarge")
    assert body["message"] == ("Request is too large. Larger than max_request_body_size (114688).")
    net = _network(http)
    neutron_error(http.put(f"/v2.0/networks/{net['id']}", json=big), 413)

    def chunked() -> Iterator[bytes]:  # no Content-Length: cut while it streams in
        yield b'{"network": {"description": "'
        yield from (b"x" * 1000 for _ in range(200))
        yield b'"}}'

    resp = http.put(
        f"/v2.0/networks/{net['id']}",
        content=chunked(),
        headers={"content-type": "application/json"},
    )
    neutron_error(resp, 413, "HTTPRequestEntityTooLarge")
    assert http.get(f"/v2.0/networks/{net['id']}").json()["network"]["description"] == ""


def test_bulk_creates_have_their_own_bounded_limit(http: httpx.Client) -> None:
    project = f"h-{uuid.uuid4().hex[:8]}"
    hdr = member_headers(project)
    assert http.put(f"/v2.0/quotas/{project}", json={"quota": {"port": -1}}).status_code == 200
    net = http.post("/v2.0/networks", json={"network": {}}, headers=hdr).json()["network"]
    pad = "d" * 255
    ports = [{"network_id": net["id"], "name": f"p{i}", "description": pad} for i in range(400)]
    assert len(json.dumps({"ports": ports})) > DEFAULTS.max_request_body_size
    created = http.post("/v2.0/ports", json={"ports": ports}, headers=hdr)
    assert created.status_code == 201, created.text
    assert [p["name"] for p in created.json()["ports"]] == [f"p{i}" for i in range(400)]
    # one object of that size is not a bulk create
    single = {"port": {"network_id": net["id"], "description": "x" * 120_000}}
    neutron_error(http.post("/v2.0/ports", json=single, headers=hdr), 413)
    # and bulk has a limit too
    count = DEFAULTS.max_bulk_request_body_size // 300 + 1
    huge = {"ports": [{"network_id": net["id"], "description": pad}] * count}
    body = neutron_error(http.post("/v2.0/ports", json=huge, headers=hdr), 413)
    assert "max_bulk_request_body_size (8388608)" in body["message"]
    listed = http.get(f"/v2.0/ports?network_id={net['id']}", headers=hdr).json()["ports"]
    assert len(listed) == 400


def test_large_bodies_are_worked_off_the_event_loop() -> None:
    async def threads() -> tuple[int, int, int]:
        small = await bodies.off_loop(bodies.OFFLOAD_ABOVE, threading.get_ident)
        large = await bodies.off_loop(bodies.OFFLOAD_ABOVE + 1, threading.get_ident)
        return threading.get_ident(), small, large

    loop_thread, small, large = asyncio.run(threads())
    assert small == loop_thread != large


# -- what an error says ---------------------------------------------------------------------


def test_refusals_do_not_echo_huge_values(http: httpx.Client) -> None:
    resp = http.post("/v2.0/networks", json={"network": {"name": "n" * 100_000}})
    body = neutron_error(resp, 400, "InvalidInput")
    assert len(resp.content) < 1024 and body["message"].endswith(
        "...' exceeds maximum length of 255."
    )
    bulk = {"networks": [{"name": "ok"}, {"name": ["x" * 1000] * 3000}]}  # 3 MB
    resp = http.post("/v2.0/networks", json=bulk)
    neutron_error(resp, 400, "InvalidInput")
    assert len(resp.content) < 1024
    nested = b'{"network": {"name": ' + b"[" * 400 + b"]" * 400 + b"}}"
    resp = http.post("/v2.0/networks", content=nested, headers={"content-type": "application/json"})
    assert "[[[[[...]]]]]" in neutron_error(resp, 400, "InvalidInput")["message"]
    assert http.get("/v2.0/networks", params={"name": "ok"}).json()["networks"] == []


# -- malformed requests ---------------------------------------------------------------------

MALFORMED = [
    (b'{"network": {"name": "\xff\xfe"}}', "Malformed request body: the body is not UTF-8"),
    (b"[" * 50_000 + b"]" * 50_000, "Malformed request body: the body is nested too deeply"),
    (
        b'{"network": {"name": ' + b"[" * 50_000 + b"]" * 50_000 + b"}}",
        "Malformed request body: the body is nested too deeply",
    ),
    (b'{"network": ', "Malformed request body: the body is not valid JSON"),
    (b'{"network": {"name": "\\ud800"}}', "Malformed request body: the body is not valid JSON"),
    (b"", "Request body is empty"),
]


def test_malformed_bodies_are_400_on_a_connection_kept_alive(server: AlcorServer) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    conn.connect()
    sock = conn.sock
    try:
        for method, path in (("POST", "/v2.0/networks"), ("PUT", "/v2.0/quotas/p1")):
            for raw, message in MALFORMED:
                conn.request(method, path, body=raw, headers={"Content-Type": "application/json"})
                resp = conn.getresponse()
                body = json.loads(resp.read())["NeutronError"]
                assert (resp.status, body["message"]) == (400, message), (raw[:40], body)
                assert conn.sock is sock  # the same connection serves the next request
    finally:
        conn.close()


def test_idle_connections_outlive_the_clients_keep_alive(server: AlcorServer) -> None:
    """A connection idle for longer than httpx keeps one (5 s) still serves a request: the
    server must never be the side that closes first. It was, at uvicorn's own 5 s, and a
    client sending on a connection just as the server closed it saw it reset (httpx
    ReadError under 600 concurrent creates)."""
    client_expiry = httpx.Limits().keepalive_expiry
    assert client_expiry is not None and DEFAULTS.client_socket_timeout > 10 * client_expiry
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    try:
        conn.request("GET", "/v2.0/networks?fields=id")
        assert conn.getresponse().read()
        sock = conn.sock
        time.sleep(client_expiry + 1)
        conn.request("GET", "/v2.0/networks?fields=id")
        resp = conn.getresponse()
        assert resp.status == 200 and "networks" in json.loads(resp.read())
        assert conn.sock is sock  # served on the connection left idle, not a new one
    finally:
        conn.close()


def test_writes_in_another_media_type_are_415(http: httpx.Client) -> None:
    doc = b'{"network": {"name": "mt"}}'
    for media in ("text/plain", "application/x-www-form-urlencoded", "application/xml"):
        resp = http.post("/v2.0/networks", content=doc, headers={"content-type": media})
        body = neutron_error(resp, 415, "HTTPUnsupportedMediaType")
        assert body["message"] == f"The request media type {media} is not supported by this server."
    net = http.post(
        "/v2.0/networks", content=doc, headers={"content-type": "application/json; charset=UTF-8"}
    )
    assert net.status_code == 201, net.text
    path = f"/v2.0/networks/{net.json()['network']['id']}"
    neutron_error(http.put(path, content=doc, headers={"content-type": "text/plain"}), 415)
    untyped = http.put(path, content=b'{"network": {"name": "mt2"}}')  # no Content-Type: JSON
    assert untyped.json()["network"]["name"] == "mt2"


def test_too_long_urls_and_unparseable_requests_get_neutron_bodies(
    server: AlcorServer, http: httpx.Client
) -> None:
    limit = DEFAULTS.max_url_length
    fits = "a" * (limit - 100)
    assert http.get("/v2.0/networks", params={"name": fits}).json() == {"networks": []}
    status, media, body = _raw(
        server, b"GET /v2.0/networks?name=" + b"a" * limit + b" HTTP/1.1\r\nHost: x\r\n\r\n"
    )
    assert (status, media, body["NeutronError"]["type"]) == (
        414,
        "application/json",
        "HTTPRequestURITooLong",
    )
    assert str(limit) in body["NeutronError"]["message"]
    for request in (b"GET /v2.0/n\xffetworks HTTP/1.1\r\nHost: x\r\n\r\n", b"NOT HTTP\r\n\r\n"):
        status, media, body = _raw(server, request)
        assert (status, media) == (400, "application/json")
        assert set(body["NeutronError"]) == {"type", "message", "detail"}


# -- list filters ---------------------------------------------------------------------------


def test_filter_values_are_bounded(http: httpx.Client) -> None:
    marker = f"m{uuid.uuid4().hex[:8]}"
    tagged = _network(http, tags=[marker, "other"])
    tags = [f"t{i}" for i in range(MAX_TAGS_COUNT - 1)]
    for key, found in (("tags-any", True), ("not-tags-any", False), ("not-tags", True)):
        resp = http.get("/v2.0/networks", params={key: ",".join([*tags, marker])})
        assert resp.status_code == 200, resp.text
        assert (tagged["id"] in {n["id"] for n in resp.json()["networks"]}) is found
    resp = http.get("/v2.0/networks", params=[("tags", marker), ("tags", "other,other")])
    assert [n["id"] for n in resp.json()["networks"]] == [tagged["id"]]
    ids = [tagged["id"], *(str(uuid.uuid4()) for _ in range(299))]
    listed = http.get("/v2.0/networks", params=[("id", i) for i in ids]).json()["networks"]
    assert [n["id"] for n in listed] == [tagged["id"]]

    over = [f"t{i}" for i in range(1100)]
    for params in ({"tags": ",".join(over)}, [("tags-any", t) for t in over]):
        body = neutron_error(http.get("/v2.0/ports", params=params), 400)
        assert "Too many tags in filter" in body["message"], body
    body = neutron_error(http.get("/v2.0/ports", params=[("id", t) for t in over]), 400)
    limit = DEFAULTS.max_filter_values
    assert body["message"] == (
        f"Too many filter values in one request: 1100, the limit is {limit} (max_filter_values)"
    )


def test_repeated_sort_keys_are_taken_once(http: httpx.Client) -> None:
    prefix = f"s{uuid.uuid4().hex[:6]}"
    ids = [_network(http, name=f"{prefix}-{i}")["id"] for i in range(3)]
    params = [("name", f"{prefix}-{i}") for i in range(3)] + [("limit", "1")]
    sorts = [("sort_key", "name"), ("sort_dir", "desc")] * 400
    first = http.get("/v2.0/networks", params=params + sorts).json()["networks"]
    second = http.get(
        "/v2.0/networks", params=[*params, *sorts, ("marker", first[0]["id"])]
    ).json()["networks"]
    assert [first[0]["id"], second[0]["id"]] == [ids[2], ids[1]]


def test_values_a_column_cannot_hold_are_400(http: httpx.Client) -> None:
    huge = "1" + "0" * 30
    neutron_error(http.get("/v2.0/networks", params={"revision_number": huge}), 400)
    net = _network(http)
    resp = http.put(f"/v2.0/networks/{net['id']}/tags", json={"tags": [["a"], {"b": 1}]})
    neutron_error(resp, 400, "InvalidInput")


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
