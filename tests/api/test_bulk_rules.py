"""Bulk creates obey every rule that single creates obey (a property over all bulk-capable
collections): a pair of bodies posted as one bulk request succeeds exactly when posting them
one after the other would, and a refused bulk request leaves nothing behind.

Each collection's bodies are drawn from a few values that collide (overlapping CIDRs, equal
addresses, MACs, segmentation ids, rule numbers, duplicate rules, one subnet for two ACLs),
so the pairs exercise the conflicts a batch must see between its own items.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

Body = dict[str, Any]


def _post(http: httpx.Client, collection: str, body: Any) -> httpx.Response:
    key = collection.replace("-", "_")
    wrapper = {key: body} if isinstance(body, list) else {key[:-1]: body}
    return http.post(f"/v2.0/{collection}", json=wrapper)


def _made(http: httpx.Client, collection: str, body: Body) -> Body:
    resp = _post(http, collection, body)
    assert resp.status_code == 201, resp.text
    return dict(resp.json()[collection.replace("-", "_")[:-1]])


def _ids(http: httpx.Client, collection: str) -> set[str]:
    resp = http.get(f"/v2.0/{collection}", params={"fields": "id"})
    return {item["id"] for item in resp.json()[collection.replace("-", "_")]}


class World:
    """Parents the generated bodies refer to, made once per module."""

    def __init__(self, http: httpx.Client) -> None:
        tag = uuid.uuid4().hex[:6]
        self.net = _made(http, "networks", {"name": f"bulk-{tag}"})["id"]
        self.port_net = _made(http, "networks", {"name": f"bulk-p-{tag}"})["id"]
        self.port_subnet = _made(
            http,
            "subnets",
            {
                "network_id": self.port_net,
                "cidr": "10.40.0.0/24",
                "ip_version": 4,
                # automatic addresses never take the explicit ones the bodies ask for
                "allocation_pools": [{"start": "10.40.0.100", "end": "10.40.0.200"}],
            },
        )["id"]
        self.ext = _made(http, "networks", {"name": f"ext-{tag}", "router:external": True})["id"]
        _made(
            http,
            "subnets",
            {
                "network_id": self.ext,
                "cidr": "203.0.113.0/24",
                "ip_version": 4,
                "allocation_pools": [{"start": "203.0.113.100", "end": "203.0.113.200"}],
            },
        )
        self.group = _made(http, "security-groups", {"name": f"g-{tag}"})["id"]
        self.acl_net = _made(http, "networks", {"name": f"acl-{tag}"})["id"]
        self.acl_subnet = _made(
            http, "subnets", {"network_id": self.acl_net, "cidr": "10.50.0.0/24", "ip_version": 4}
        )["id"]
        self.acl = _made(http, "network-acls", {"network_id": self.acl_net})["id"]


def _strategies(w: World) -> dict[str, st.SearchStrategy[Body]]:
    maybe = st.one_of
    return {
        "networks": st.fixed_dictionaries(
            {"name": st.just("n")},
            optional={
                "provider:segmentation_id": st.sampled_from([4001, 4002]),
                "provider:network_type": st.sampled_from(["vxlan", "geneve"]),
            },
        ),
        "subnets": st.fixed_dictionaries(
            {
                "network_id": st.just(w.net),
                "ip_version": st.just(4),
                "cidr": st.sampled_from(
                    ["10.30.0.0/24", "10.30.0.0/25", "10.30.0.128/25", "10.31.0.0/24"]
                ),
            },
            optional={"gateway_ip": st.sampled_from(["10.30.0.1", "10.31.0.1"])},
        ),
        "ports": st.fixed_dictionaries(
            {"network_id": st.just(w.port_net)},
            optional={
                "fixed_ips": maybe(
                    st.just([{"ip_address": "10.40.0.5"}]),
                    st.just([{"ip_address": "10.40.0.6"}]),
                    st.just([{"subnet_id": w.port_subnet}]),
                ),
                "mac_address": st.sampled_from(["fa:16:3e:00:aa:01", "fa:16:3e:00:aa:02"]),
            },
        ),
        "security-groups": st.fixed_dictionaries({"name": st.sampled_from(["a", "default"])}),
        "security-group-rules": st.fixed_dictionaries(
            {
                "security_group_id": st.just(w.group),
                "direction": st.sampled_from(["ingress", "egress"]),
                "protocol": st.sampled_from(["tcp", "6", "udp"]),
                "port_range_min": st.just(22),
                "port_range_max": st.just(22),
            }
        ),
        "network-acls": st.fixed_dictionaries(
            {"network_id": st.just(w.acl_net)},
            optional={"subnets": st.just([w.acl_subnet])},
        ),
        "network-acl-rules": st.fixed_dictionaries(
            {
                "network_acl_id": st.just(w.acl),
                "number": st.sampled_from([1, 2]),
                "direction": st.sampled_from(["ingress", "egress"]),
                "action": st.sampled_from(["allow", "deny"]),
            }
        ),
        "floatingips": st.fixed_dictionaries(
            {"floating_network_id": st.just(w.ext)},
            optional={"floating_ip_address": st.sampled_from(["203.0.113.10", "203.0.113.11"])},
        ),
        "routers": st.fixed_dictionaries({"name": st.sampled_from(["r1", "r2"])}),
    }


def _undo(http: httpx.Client, collection: str, ids: list[str]) -> None:
    for rid in reversed(ids):
        if collection == "network-acls":  # an ACL leaves its subnets before it goes
            http.put(f"/v2.0/{collection}/{rid}", json={"network_acl": {"subnets": []}})
        resp = http.delete(f"/v2.0/{collection}/{rid}")
        assert resp.status_code == 204, resp.text


def _check_pair(http: httpx.Client, collection: str, pair: list[Body]) -> None:
    before = _ids(http, collection)
    bulk = _post(http, collection, pair)
    assert bulk.status_code < 500, bulk.text
    if bulk.status_code == 201:
        made = [it["id"] for it in bulk.json()[collection.replace("-", "_")]]
        _undo(http, collection, made)
    else:
        assert set(bulk.json()["NeutronError"]) == {"type", "message", "detail"}
        assert _ids(http, collection) == before, "a refused bulk request left rows behind"
    singles: list[str] = []
    refused = None
    for body in pair:
        resp = _post(http, collection, body)
        assert resp.status_code < 500, resp.text
        if resp.status_code != 201:
            refused = resp
            break
        singles.append(resp.json()[collection.replace("-", "_")[:-1]]["id"])
    _undo(http, collection, singles)
    assert (bulk.status_code == 201) == (refused is None), (
        collection,
        pair,
        bulk.text,
        None if refused is None else refused.text,
    )
    if refused is not None:
        assert bulk.status_code == refused.status_code, (bulk.text, refused.text)


COLLECTIONS = [
    "networks",
    "subnets",
    "ports",
    "security-groups",
    "security-group-rules",
    "network-acls",
    "network-acl-rules",
    "floatingips",
    "routers",
]


@pytest.fixture(scope="module")
def world(http: httpx.Client) -> World:
    return World(http)


@pytest.mark.parametrize("collection", COLLECTIONS)
def test_bulk_create_obeys_single_create_rules(
    http: httpx.Client, world: World, collection: str
) -> None:
    bodies = _strategies(world)[collection]
    check: Callable[[list[Body]], None] = lambda pair: _check_pair(http, collection, pair)  # noqa: E731

    @given(pair=st.lists(bodies, min_size=2, max_size=2))
    @settings(
        max_examples=12, deadline=None, database=None, suppress_health_check=list(HealthCheck)
    )
    def run(pair: list[Body]) -> None:
        check(pair)

    run()


def test_overlapping_subnets_in_one_bulk_request_are_refused(
    http: httpx.Client, world: World
) -> None:
    """The bug found by hand: 10.30.0.0/24 and 10.30.0.0/25 in one body were both created,
    and two ports then held 10.30.0.5."""
    net = _made(http, "networks", {"name": "overlap"})["id"]
    resp = _post(
        http,
        "subnets",
        [
            {"network_id": net, "ip_version": 4, "cidr": "10.30.0.0/24"},
            {"network_id": net, "ip_version": 4, "cidr": "10.30.0.0/25"},
        ],
    )
    assert resp.status_code == 400, resp.text
    assert resp.json()["NeutronError"]["type"] == "InvalidInput"
    assert http.get("/v2.0/subnets", params={"network_id": net}).json()["subnets"] == []
