"""Property-based fuzzing of the whole API from its own OpenAPI document (schemathesis):
whatever a client sends, the server answers without a 5xx, and a rejected request leaves
the database as it was (no partial write)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from alcor.lab.server_process import AlcorServer, lift_quotas
from alcor.resources import declarations
from alcor.resources.model import Resource

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def fuzz_server() -> Iterator[AlcorServer]:
    with AlcorServer() as srv:
        lift_quotas(srv.url)  # the fuzzer creates more than Neutron's default quotas allow
        yield srv


def _log_tail(server: AlcorServer) -> str:
    """The server's last words: a 5xx's traceback is there, not in the response."""
    return server.log.read_text(errors="replace")[-4000:]


def _seed(http: httpx.Client) -> None:
    """A network with a subnet and a port, so each operation finds something to work on."""
    resp = http.post("/v2.0/networks", json={"network": {"name": "fz"}})
    assert resp.status_code == 201, resp.text
    net = resp.json()["network"]
    cidr = f"10.99.{len(http.get('/v2.0/subnets').json()['subnets']) % 250}.0/24"
    http.post(
        "/v2.0/subnets",
        json={"subnet": {"network_id": net["id"], "ip_version": 4, "cidr": cidr}},
    )
    http.post("/v2.0/ports", json={"port": {"network_id": net["id"]}})


def _references() -> dict[str, dict[str, str]]:
    """Collection -> {attribute: collection it refers to}, read from the declarations."""
    return {
        res.collection: {
            a.name: Resource.declared(a.ref.target).collection
            for a in res.refs()
            if a.ref is not None and a.ref.through is None
        }
        for res in declarations.ALL
    }


REFERENCES = _references()
# Collections whose row counts must not move when a create is refused.
COUNTED = (
    "networks",
    "subnets",
    "ports",
    "security-groups",
    "security-group-rules",
    "routers",
    "floatingips",
    "network-acls",
    "network-acl-rules",
)


def _some(http: httpx.Client, collection: str, limit: int = 5) -> list[dict[str, Any]]:
    """Items of a collection (`network-acls` answers with `network_acls`)."""
    resp = http.get(f"/v2.0/{collection}?limit={limit}")
    return list(resp.json()[collection.replace("-", "_")])


def _aim_at_real_resources(case: Any, http: httpx.Client) -> None:
    """Point a generated case at resources that exist, so validation and hooks deep inside
    the server are fuzzed too, not only the not-found paths."""
    collection = case.path.split("/")[2]
    if "id" in (case.path_parameters or {}):
        existing = _some(http, collection)
        if existing:
            case.path_parameters["id"] = existing[-1]["id"]
    body = case.body if isinstance(case.body, dict) else {}
    inner = next(iter(body.values()), None) if len(body) == 1 else None
    for target in (inner, body):
        if not isinstance(target, dict):
            continue
        for key, referred in REFERENCES.get(collection, {}).items():
            if key in target:
                found = _some(http, referred)
                if found:
                    target[key] = found[0]["id"]


def _counts(http: httpx.Client) -> dict[str, int]:
    return {c: len(_some(http, c, 1000)) for c in COUNTED}


def test_no_server_errors_and_no_partial_writes(fuzz_server: AlcorServer) -> None:
    schema = schemathesis.openapi.from_url(f"{fuzz_server.url}/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 15
    # one client (one SSL context, kept-alive connections) for the hundreds of lookups
    with httpx.Client(base_url=fuzz_server.url, timeout=60) as http:
        for operation in operations:
            _seed(http)

            @given(case=operation.as_strategy())
            @settings(
                max_examples=20,
                deadline=None,
                suppress_health_check=list(HealthCheck),
                database=None,
            )
            def fuzz(case: Any) -> None:
                _aim_at_real_resources(case, http)
                before = _counts(http) if case.method == "POST" else None
                response = case.call(base_url=fuzz_server.url)
                assert response.status_code < 500, (
                    case.method,
                    case.path,
                    case.body,
                    response.text,
                    _log_tail(fuzz_server),
                )
                if response.status_code >= 400:
                    assert set(response.json()["NeutronError"]) == {"type", "message", "detail"}
                    if before is not None:
                        assert _counts(http) == before, (case.path, case.body)

            fuzz()


# -- hostile bodies, encodings, nesting and sizes (the hardening issue's cases) --------------

MALFORMED = [
    b'{"x": "\xff\xfe"}',  # not UTF-8
    "{}".encode("utf-16"),  # UTF-16, with its BOM
    b"\xef\xbb\xbf{}",  # a UTF-8 BOM
    '{"x": "caf\u00e9"}'.encode("latin-1"),  # Latin-1
    b"[" * 100_000 + b"]" * 100_000,  # nested 100k deep
    b'{"a":' * 50_000 + b"1" + b"}" * 50_000,  # objects nested 50k deep
    b'{"a": "\\ud800"}',  # a lone surrogate
    b'{"a": NaN}',
    b"1e999999",
    b"-" + b"9" * 5000,
    b"",
    b"null",
    b'"text"',
    b"{",
    b'{"a": 1} trailing',
]
# List attributes, each sent with 3,000 items (under the body limit: they are validated) of
# the right and of wrong kinds.
LIST_ATTRS = (
    "tags",
    "dns_nameservers",
    "allowed_address_pairs",
    "fixed_ips",
    "host_routes",
    "allocation_pools",
    "routes",
    "security_groups",
    "availability_zone_hints",
    "service_types",
    "subnets",
)


ACTIONS = ("add_router_interface", "add_extraroutes", "remove_extraroutes", "x_y")


def _hostile_requests(http: httpx.Client) -> Iterator[tuple[str, str, bytes, dict[str, str]]]:
    """(method, path, body, headers) for every collection, its members, tags and actions."""
    json_type = {"content-type": "application/json"}
    resources = http.get("/v2.0/").json()["resources"]
    for resource in resources:
        name = resource["name"]
        path = "/v2.0/" + resource["links"][0]["href"].rsplit("/", 1)[1]
        existing = _some(http, path.rsplit("/", 1)[1])
        targets = [("POST", path)]
        if existing:
            member = f"{path}/{existing[0]['id']}"
            targets += [("PUT", member), ("PUT", f"{member}/tags")]
            targets += [("PUT", f"{member}/{action}") for action in ACTIONS]
        for method, target in targets:
            for raw in MALFORMED:
                yield method, target, raw, json_type
            doc = json.dumps({name: {"name": "n"}}).encode()
            for media in ("text/plain", "application/x-www-form-urlencoded", "application/xml"):
                yield method, target, doc, {"content-type": media}
            for item in ("10.0.0.1", {"ip_address": "10.0.0.1"}, [[1]]):
                yield method, target, json.dumps({"tags": [item] * 3_000}).encode(), json_type
                for attr in LIST_ATTRS:
                    body = {name: {attr: [item] * 3_000}}
                    yield method, target, json.dumps(body).encode(), json_type
            profile = {name: {"binding:profile": {f"k{i}": [[i]] for i in range(3_000)}}}
            yield method, target, json.dumps(profile).encode(), json_type
            yield method, target, json.dumps({name: {"name": "x" * 200_000}}).encode(), json_type
        # a bulk create whose last item is wrong: every other item is validated first
        bulk = [{"name": "b"}] * 50_000 + [{"name": 5}]
        yield "POST", path, json.dumps({resource["collection"]: bulk}).encode(), json_type
        over = [{"description": "d" * 255}] * 40_000  # past max_bulk_request_body_size
        yield "POST", path, json.dumps({resource["collection"]: over}).encode(), json_type


def test_hostile_bodies_encodings_nesting_and_sizes_get_no_5xx(fuzz_server: AlcorServer) -> None:
    url = fuzz_server.url
    with httpx.Client(base_url=url, timeout=120) as http:
        _seed(http)
        before = _counts(http)
        for method, path, raw, headers in _hostile_requests(http):
            resp = http.request(method, path, content=raw, headers=headers)
            assert resp.status_code < 500, (
                method,
                path,
                raw[:80],
                resp.text[:300],
                _log_tail(fuzz_server),
            )
            if resp.status_code >= 400:
                assert set(resp.json()["NeutronError"]) == {"type", "message", "detail"}
                assert len(resp.content) < 4096, (method, path, raw[:80])  # nothing echoed
        assert _counts(http) == before  # nothing refused was written
        over = [f"t{i}" for i in range(1_100)]
        for collection in COUNTED:
            for params in (
                {"tags": ",".join(over)},
                [("tags-any", t) for t in over],
                [("id", t) for t in over],
                {"name": "n" * 20_000},  # past max_url_length
                [("sort_key", "name"), ("sort_dir", "asc")] * 500 + [("marker", "m")],
                {"revision_number": "9" * 40},
            ):
                resp = http.get(f"/v2.0/{collection}", params=params)
                assert 400 <= resp.status_code < 500, (collection, resp.text[:300])
                assert set(resp.json()["NeutronError"]) == {"type", "message", "detail"}

        @given(raw=st.binary(max_size=512), which=st.integers(min_value=0))
        @settings(max_examples=200, deadline=None, database=None)
        def random_bytes(raw: bytes, which: int) -> None:
            collection = COUNTED[which % len(COUNTED)]
            resp = http.post(f"/v2.0/{collection}", content=raw, timeout=60)
            assert resp.status_code < 500, (collection, raw, resp.text, _log_tail(fuzz_server))

        random_bytes()
        assert _counts(http) == before
