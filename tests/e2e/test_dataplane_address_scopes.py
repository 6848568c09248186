"""Address scopes on real packets: a router routes only between subnets of one scope.

Three subnets carved from subnet pools, all on one router: two pools in scope A, one in scope
B, a VM of each on its own host (in the project's default group, which admits its members).
The two VMs of scope A reach each other through the router; neither reaches the VM of scope B
nor it them. Moving B's pool into scope A (its prefixes are apart) opens the way at once.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import pytest

from alcor.lab.lab import Lab
from alcor.lab.server_process import AlcorServer
from alcor.lab.vm import Vm
from tests.e2e.conftest import assert_audit_clean
from tests.e2e.neutron import Api, ApiError, Scratch
from tests.support.waiting import wait_for

pytestmark = pytest.mark.ovs

# (VM, host, scope, pool prefix, subnet prefix)
LAYOUT = (
    ("a", "h1", "A", "10.35.0.0/16", "10.35.1"),
    ("b", "h2", "A", "10.36.0.0/16", "10.36.1"),
    ("c", "h3", "B", "10.37.0.0/16", "10.37.1"),
)


@pytest.fixture(scope="module")
def scoped(api: Api, lab: Lab) -> Iterator[dict[str, Any]]:
    scratch = Scratch(api, lab)
    router = api.create("router", name=f"{lab.prefix}-r")
    scopes: dict[str, str] = {}
    pools: dict[str, str] = {}
    subnets: list[str] = []
    try:
        for scope in ("A", "B"):
            made = api.call(
                "POST",
                "/v2.0/address-scopes",
                {"address_scope": {"name": f"{lab.prefix}-{scope}", "ip_version": 4}},
            )
            scopes[scope] = made["address_scope"]["id"]
        vms: dict[str, Vm] = {}
        for name, host, scope, pool_prefix, prefix in LAYOUT:
            pools[name] = api.create(
                "subnetpool",
                name=f"{lab.prefix}-{name}",
                prefixes=[pool_prefix],
                address_scope_id=scopes[scope],
            )["id"]
            net = scratch.network(name, f"{prefix}.0/24", f"{prefix}.1", subnetpool_id=pools[name])
            sub = api.call("GET", f"/v2.0/subnets?network_id={net['id']}")["subnets"][0]["id"]
            api.call(
                "PUT", f"/v2.0/routers/{router['id']}/add_router_interface", {"subnet_id": sub}
            )
            subnets.append(sub)
            mac = f"fa:16:3e:00:35:{ord(name):02x}"
            vms[name] = scratch.vm(name, host, scratch.port(net["id"], host, f"{prefix}.10", mac))
        for vm in vms.values():
            api.wait_status(vm.port_id, "ACTIVE")
        yield {"vms": vms, "pools": pools, "scopes": scopes}
    finally:
        for sub in subnets:
            with contextlib.suppress(ApiError):
                path = f"/v2.0/routers/{router['id']}/remove_router_interface"
                api.call("PUT", path, {"subnet_id": sub})
        api.delete("router", router["id"], missing_ok=True)
        scratch.cleanup()
        for pool in pools.values():
            api.delete("subnetpool", pool, missing_ok=True)
        for scope in scopes.values():
            with contextlib.suppress(ApiError):
                api.call("DELETE", f"/v2.0/address-scopes/{scope}")


def _ip(name: str) -> str:
    return next(f"{prefix}.10" for vm, _, _, _, prefix in LAYOUT if vm == name)


def test_one_scope_routes_two_do_not(scoped: dict[str, Any]) -> None:
    vms = scoped["vms"]
    wait_for(lambda: vms["a"].ping(_ip("b"), count=1), 30, "a to reach b (scope A)")
    assert vms["b"].ping(_ip("a"), count=1)
    for src, dst in (("a", "c"), ("b", "c"), ("c", "a"), ("c", "b")):
        assert not vms[src].ping(_ip(dst), count=2), f"{src} reached {dst} across scopes"


def test_moving_a_pool_into_the_scope_opens_the_way(
    server: AlcorServer, api: Api, scoped: dict[str, Any]
) -> None:
    vms = scoped["vms"]
    assert not vms["a"].ping(_ip("c"), count=1)
    api.update("subnetpool", scoped["pools"]["c"], address_scope_id=scoped["scopes"]["A"])
    wait_for(lambda: vms["a"].ping(_ip("c"), count=1), 30, "a to reach c once both are in A")
    assert vms["c"].ping(_ip("b"), count=1)
    assert_audit_clean(server)  # every host holds the router with its interfaces' scopes
