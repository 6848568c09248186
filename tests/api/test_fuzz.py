"""Property-based fuzzing of the whole API from its own OpenAPI document (schemathesis):
whatever a client sends, the server answers without a 5xx, and a rejected request leaves
the database as it was (no partial write)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from alcor.lab.server_process import AlcorServer, lift_quotas
from alcor.resources import declarations
from alcor.resources.model import Resource

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def fuzz_server() -> Iterator[AlcorServer]:
    with AlcorServer() as srv:
        lift_quotas(srv.url)  # the fuzzer creates more than Neutron's default quotas allow
        yield srv


def _seed(url: str) -> None:
    """A network with a subnet and a port, so each operation finds something to work on."""
    resp = httpx.post(f"{url}/v2.0/networks", json={"network": {"name": "fz"}})
    assert resp.status_code == 201, resp.text
    net = resp.json()["network"]
    cidr = f"10.99.{len(httpx.get(f'{url}/v2.0/subnets').json()['subnets']) % 250}.0/24"
    httpx.post(
        f"{url}/v2.0/subnets",
        json={"subnet": {"network_id": net["id"], "ip_version": 4, "cidr": cidr}},
    )
    httpx.post(f"{url}/v2.0/ports", json={"port": {"network_id": net["id"]}})


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


def _some(url: str, collection: str, limit: int = 5) -> list[dict[str, Any]]:
    """Items of a collection (`network-acls` answers with `network_acls`)."""
    resp = httpx.get(f"{url}/v2.0/{collection}?limit={limit}")
    return list(resp.json()[collection.replace("-", "_")])


def _aim_at_real_resources(case: Any, url: str) -> None:
    """Point a generated case at resources that exist, so validation and hooks deep inside
    the server are fuzzed too, not only the not-found paths."""
    collection = case.path.split("/")[2]
    if "id" in (case.path_parameters or {}):
        existing = _some(url, collection)
        if existing:
            case.path_parameters["id"] = existing[-1]["id"]
    body = case.body if isinstance(case.body, dict) else {}
    inner = next(iter(body.values()), None) if len(body) == 1 else None
    for target in (inner, body):
        if not isinstance(target, dict):
            continue
        for key, referred in REFERENCES.get(collection, {}).items():
            if key in target:
                found = _some(url, referred)
                if found:
                    target[key] = found[0]["id"]


def _counts(url: str) -> dict[str, int]:
    return {c: len(_some(url, c, 1000)) for c in COUNTED}


def test_no_server_errors_and_no_partial_writes(fuzz_server: AlcorServer) -> None:
    schema = schemathesis.openapi.from_url(f"{fuzz_server.url}/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 15
    for operation in operations:
        _seed(fuzz_server.url)

        @given(case=operation.as_strategy())
        @settings(
            max_examples=20, deadline=None, suppress_health_check=list(HealthCheck), database=None
        )
        def fuzz(case: Any) -> None:
            _aim_at_real_resources(case, fuzz_server.url)
            before = _counts(fuzz_server.url) if case.method == "POST" else None
            response = case.call(base_url=fuzz_server.url)
            assert response.status_code < 500, (case.method, case.path, case.body, response.text)
            if response.status_code >= 400:
                assert set(response.json()["NeutronError"]) == {"type", "message", "detail"}
                if before is not None:
                    assert _counts(fuzz_server.url) == before, (case.path, case.body)

        fuzz()
