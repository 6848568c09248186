"""The Neutron API as the end-to-end tests use it, and a tracker of per-test objects."""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from typing import Any

import httpx

from alcor.lab.lab import Lab
from alcor.lab.netns import LabError
from alcor.lab.vm import Vm
from tests.support.waiting import wait_for


class ApiError(AssertionError):
    """A Neutron API call answered with an unexpected status (message has the body)."""

    def __init__(self, method: str, path: str, status: int, body: str) -> None:
        super().__init__(f"{method} {path}: {status} {body[:2000]}")
        self.status = status


class Api:
    """The Neutron calls the tests make (admin, noauth), failing loudly with the body."""

    def __init__(self, url: str) -> None:
        self.http = httpx.Client(base_url=url, timeout=30.0)

    def call(
        self,
        method: str,
        path: str,
        body: dict[str, Any] | None = None,
        params: dict[str, str] | None = None,
    ) -> Any:
        resp = self.http.request(method, path, json=body, params=params)
        if resp.status_code >= 300:
            raise ApiError(method, path, resp.status_code, resp.text)
        return resp.json() if resp.content else None

    def create(self, kind: str, **attrs: Any) -> dict[str, Any]:
        return self.call("POST", f"/v2.0/{kind}s", {kind: attrs})[kind]  # type: ignore[no-any-return]

    def get(self, kind: str, rid: str) -> dict[str, Any]:
        return self.call("GET", f"/v2.0/{kind}s/{rid}")[kind]  # type: ignore[no-any-return]

    def update(self, kind: str, rid: str, **attrs: Any) -> dict[str, Any]:
        return self.call("PUT", f"/v2.0/{kind}s/{rid}", {kind: attrs})[kind]  # type: ignore[no-any-return]

    def delete(self, kind: str, rid: str, missing_ok: bool = False) -> None:
        try:
            self.call("DELETE", f"/v2.0/{kind}s/{rid}")
        except ApiError as exc:
            if not (missing_ok and exc.status == 404):
                raise

    def port_status(self, port_id: str) -> str:
        return str(self.get("port", port_id)["status"])

    def provisioning(self, port_id: str) -> dict[str, Any]:
        return self.call("GET", f"/v2.0/ports/{port_id}/provisioning")["provisioning"]  # type: ignore[no-any-return]

    def agents(self) -> dict[str, dict[str, Any]]:
        return {a["host"]: a for a in self.call("GET", "/v2.0/agents")["agents"]}

    def wait_status(self, port_id: str, status: str, timeout: float = 20.0) -> None:
        wait_for(
            lambda: self.port_status(port_id) == status,
            timeout,
            f"port {port_id} to be {status} (provisioning {self.provisioning(port_id)})",
        )

    def close(self) -> None:
        self.http.close()


class Scratch:
    """Networks, ports, VMs, security groups, address groups and routers one test makes;
    removed afterwards whatever happened (VMs, routers with their floating IPs and interfaces,
    then ports, groups, address groups and networks, each newest first)."""

    def __init__(self, api: Api, lab: Lab) -> None:
        self.api = api
        self.lab = lab
        self.ports: list[str] = []
        self.vms: list[str] = []
        self.groups: list[str] = []
        self.address_groups: list[str] = []
        self.networks: list[str] = []
        self.routers: list[str] = []

    def network(
        self,
        name: str,
        cidr: str,
        gateway_ip: str,
        net_attrs: dict[str, Any] | None = None,
        **subnet_attrs: Any,
    ) -> dict[str, Any]:
        """A network (with `net_attrs`) with one IPv4 subnet (with `subnet_attrs`); its
        delete takes the subnet along."""
        net = self.api.create("network", name=f"{self.lab.prefix}-{name}", **(net_attrs or {}))
        self.networks.append(net["id"])
        self.api.create(
            "subnet",
            network_id=net["id"],
            name=f"{self.lab.prefix}-{name}",
            ip_version=4,
            cidr=cidr,
            gateway_ip=gateway_ip,
            **subnet_attrs,
        )
        return net

    def external_network(self, name: str, gateway_ip: str) -> dict[str, Any]:
        """The admin's flat external network on the lab's outside segment (203.0.113.0/24,
        `gateway_ip` the outside world), floating IPs from .100-.199."""
        return self.network(
            name,
            "203.0.113.0/24",
            gateway_ip,
            {
                "provider:network_type": "flat",
                "provider:physical_network": "external",
                "router:external": True,
            },
            allocation_pools=[{"start": "203.0.113.100", "end": "203.0.113.199"}],
        )

    def port(self, network_id: str, host: str, ip: str, mac: str, **attrs: Any) -> dict[str, Any]:
        port = self.api.create(
            "port",
            network_id=network_id,
            name=f"{self.lab.prefix}-{ip}",
            mac_address=mac,
            fixed_ips=[{"ip_address": ip}],
            device_owner="compute:nova",
            device_id=f"{self.lab.prefix}-{ip}",
            **{"binding:host_id": host},
            **attrs,
        )
        self.ports.append(port["id"])
        return port

    def group(
        self, name: str, rules: Iterable[dict[str, Any]] = (), **attrs: Any
    ) -> dict[str, Any]:
        """A security group (with Neutron's default egress rules) plus `rules`."""
        sg = self.api.create("security_group", name=f"{self.lab.prefix}-{name}", **attrs)
        self.groups.append(sg["id"])
        for rule in rules:
            self.rule(sg["id"], **rule)
        return sg

    def address_group(self, name: str, addresses: list[str]) -> dict[str, Any]:
        ag = self.api.create("address_group", name=f"{self.lab.prefix}-{name}", addresses=addresses)
        self.address_groups.append(ag["id"])
        return ag

    def rule(self, group_id: str, **attrs: Any) -> dict[str, Any]:
        return self.api.create("security_group_rule", security_group_id=group_id, **attrs)

    def router(self, name: str, subnet_ids: Iterable[str] = (), **attrs: Any) -> dict[str, Any]:
        """A router (with `attrs`, e.g. `external_gateway_info`) with interfaces on
        `subnet_ids`."""
        router = self.api.create("router", name=f"{self.lab.prefix}-{name}", **attrs)
        self.routers.append(router["id"])
        for subnet_id in subnet_ids:
            path = f"/v2.0/routers/{router['id']}/add_router_interface"
            self.api.call("PUT", path, {"subnet_id": subnet_id})
        return router

    def _drop_router(self, router_id: str) -> None:
        query = f"/v2.0/floatingips?router_id={router_id}"
        for fip in self.api.call("GET", query)["floatingips"]:
            self.api.delete("floatingip", fip["id"], missing_ok=True)
        for port in self.api.call("GET", f"/v2.0/ports?device_id={router_id}")["ports"]:
            if port["device_owner"] == "network:router_interface":
                path = f"/v2.0/routers/{router_id}/remove_router_interface"
                self.api.call("PUT", path, {"port_id": port["id"]})
        self.api.delete("router", router_id, missing_ok=True)

    def vm(self, name: str, host: str, port: dict[str, Any], dhcp: bool = True) -> Vm:
        self.vms.append(name)
        return self.lab.add_vm(host, port["id"], port["mac_address"], name=name, dhcp=dhcp)

    def cleanup(self) -> None:
        for name in reversed(self.vms):
            if name in self.lab.vms:
                with contextlib.suppress(LabError):
                    self.lab.remove_vm(name)
        for router_id in reversed(self.routers):
            with contextlib.suppress(ApiError, httpx.HTTPError):
                self._drop_router(router_id)
        for port_id in reversed(self.ports):
            with contextlib.suppress(ApiError, httpx.HTTPError):
                self.api.delete("port", port_id, missing_ok=True)
        for group_id in reversed(self.groups):
            with contextlib.suppress(ApiError, httpx.HTTPError):
                self.api.delete("security_group", group_id, missing_ok=True)
        for ag_id in reversed(self.address_groups):
            with contextlib.suppress(ApiError, httpx.HTTPError):
                self.api.delete("address_group", ag_id, missing_ok=True)
        for network_id in reversed(self.networks):
            with contextlib.suppress(ApiError, httpx.HTTPError):
                self.api.delete("network", network_id, missing_ok=True)
