"""Routers: interfaces, external gateway and extra routes, with Neutron's rules.

A router's interfaces and gateway are ports (`network:router_interface` holding the
subnet's gateway IP, `network:router_gateway` on the external network) whose `device_id` is
the router: nothing else records the attachment, so a port and its router can never disagree
and "which subnets does this router connect" is one indexed query on ports.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa

from alcor import errors
from alcor.resources import crud, kinds
from alcor.resources.context import Context
from alcor.resources.model import Attr, Hooks, Resource, availability_zones
from alcor.store.db import UnitOfWork

INTERFACE = "network:router_interface"
GATEWAY = "network:router_gateway"
MAX_ROUTES = 30

_ROUTES = kinds.dict_list(
    {"destination": kinds.Cidr(), "nexthop": kinds.IpAddress()},
    required=("destination", "nexthop"),
)
_FIXED_IPS = kinds.dict_list({"subnet_id": kinds.Uuid(), "ip_address": kinds.IpAddress()})


def _gateway_info(name: str, value: Any) -> Any:
    """`external_gateway_info`: {network_id, enable_snat, external_fixed_ips}."""
    if not isinstance(value, dict):
        raise errors.InvalidInput(f"Invalid input for {name}. Reason: '{value}' is not a dict.")
    if not value:
        return {}  # Neutron's way of removing the gateway
    unknown = set(value) - {"network_id", "enable_snat", "external_fixed_ips"}
    if unknown:
        raise errors.InvalidInput(
            f"Invalid input for {name}. Reason: Unrecognized attribute(s) "
            f"'{', '.join(sorted(unknown))}'."
        )
    if "network_id" not in value:
        raise errors.InvalidInput(
            f"Invalid input for {name}. Reason: Validation of dictionary's keys failed. "
            f"Expected keys: {{'network_id'}} Provided keys: {set(value)}."
        )
    out: dict[str, Any] = {
        "network_id": kinds.Uuid().check(f"{name}.network_id", value["network_id"])
    }
    if "enable_snat" in value:
        out["enable_snat"] = kinds.Bool().check(f"{name}.enable_snat", value["enable_snat"])
    if value.get("external_fixed_ips") is not None:
        out["external_fixed_ips"] = _FIXED_IPS.check(
            f"{name}.external_fixed_ips", value["external_fixed_ips"]
        )
    return out


resource = Resource(
    "router",
    "routers",
    [
        Attr("admin_state_up", kinds.Bool(), post=True, put=True, default=True),
        Attr("status", kinds.Str(16), default="ACTIVE"),
        Attr(
            "external_gateway_info",
            kinds.Json(_gateway_info),
            post=True,
            put=True,
            nullable=True,
            default=None,
            filter=False,
        ),
        Attr("routes", _ROUTES, put=True, default=[], filter=False),
        Attr("distributed", kinds.Bool(), post=True, admin_only=True, default=False),
        Attr("ha", kinds.Bool(), post=True, admin_only=True, default=False),
        Attr("flavor_id", kinds.Uuid(), post=True, nullable=True, default=None),
        *availability_zones(),
    ],
    extensions=("router", "ext-gw-mode", "extraroute", "extraroute-atomic"),
    quota="router",
)


def bad_router(message: str) -> errors.NeutronError:
    return errors.BadRequest(f"Bad router request: {message}.")


def _ports() -> Any:
    from alcor.resources.port import resource as port

    return port


def _subnets() -> Any:
    from alcor.resources.subnet import resource as subnet

    return subnet


def _networks() -> Any:
    from alcor.resources.network import resource as network

    return network


def _system(project_id: str) -> Context:
    """The system acting for a project: router ports are made with admin rights."""
    return Context(project_id, frozenset({"admin"}))


def router_ports(
    conn: UnitOfWork | sa.Connection, router_ids: list[str], owner: str
) -> list[dict[str, Any]]:
    """The ports (`INTERFACE` or `GATEWAY`) of these routers."""
    port = _ports()
    t = port.table
    stmt = port.statement(
        f"router_ports:{owner}",
        lambda: (
            sa.select(*[t.c[a.column] for a in port.stored()])
            .where(
                t.c.device_id.in_(sa.bindparam("ids", expanding=True)), t.c.device_owner == owner
            )
            .order_by(t.c.created_at, t.c.id)
        ),
    )
    return crud.rows_to_items(port, conn.execute(stmt, {"ids": router_ids}))


def _subnet_rows(uow: UnitOfWork, ids: list[str]) -> dict[str, Any]:
    t = _subnets().table
    rows = uow.execute(
        sa.select(t.c.id, t.c.cidr, t.c.network_id, t.c.gateway_ip, t.c.ip_version).where(
            t.c.id.in_(ids)
        )
    )
    return {r.id: r for r in rows}


def _attached(uow: UnitOfWork, router_id: str) -> dict[str, Any]:
    """Subnet id -> subnet row, for every subnet the router has an interface on."""
    ids = [
        f["subnet_id"] for p in router_ports(uow, [router_id], INTERFACE) for f in p["fixed_ips"]
    ]
    return _subnet_rows(uow, ids)


def _check_attachable(uow: UnitOfWork, router_id: str, subnets: list[Any]) -> None:
    """Neutron's rules for a new interface: one port per subnet, no overlapping CIDRs."""
    have = _attached(uow, router_id)
    for subnet in subnets:
        if subnet.id in have:
            raise bad_router(f"Router already has a port on subnet {subnet.id}")
        net = ipaddress.ip_network(subnet.cidr)
        for other in have.values():
            if ipaddress.ip_network(other.cidr).overlaps(net):
                raise bad_router(
                    f"Cidr {subnet.cidr} of subnet {subnet.id} overlaps with cidr "
                    f"{other.cidr} of subnet {other.id}"
                )


def _interface_info(router: dict[str, Any], port: dict[str, Any]) -> dict[str, Any]:
    subnet_ids = [f["subnet_id"] for f in port["fixed_ips"]]
    return {
        "id": router["id"],
        "tenant_id": router["project_id"],
        "project_id": router["project_id"],
        "port_id": port["id"],
        "network_id": port["network_id"],
        "subnet_id": subnet_ids[0] if subnet_ids else None,
        "subnet_ids": subnet_ids,
    }


def _one_of(body: dict[str, Any], action: str) -> tuple[str | None, str | None]:
    unknown = set(body) - {"subnet_id", "port_id"}
    if unknown:
        raise bad_router(f"Unrecognized attribute(s) '{', '.join(sorted(unknown))}'")
    sid = kinds.Uuid().check("subnet_id", body["subnet_id"]) if body.get("subnet_id") else None
    pid = kinds.Uuid().check("port_id", body["port_id"]) if body.get("port_id") else None
    if sid is None and pid is None:
        raise bad_router("Either subnet_id or port_id must be specified")
    if sid is not None and pid is not None and action == "add":
        raise bad_router("Cannot specify both subnet-id and port-id")
    return sid, pid


def add_interface(uow: UnitOfWork, ctx: Context, rid: str, body: dict[str, Any]) -> Any:
    """`PUT /routers/{id}/add_router_interface` with a subnet (a new port takes the subnet's
    gateway IP) or an existing unattached port."""
    router = crud.fetch(uow, resource, ctx, rid, for_update=True)
    sid, pid = _one_of(body, "add")
    port_res = _ports()
    if sid is not None:
        subnet = crud.fetch(uow, _subnets(), ctx, sid)
        if not subnet["gateway_ip"]:
            raise bad_router("Subnet for router interface must have a gateway IP")
        _check_attachable(uow, rid, list(_subnet_rows(uow, [sid]).values()))
        item = crud.check_body(
            port_res,
            _system(router["project_id"]),
            {
                "network_id": subnet["network_id"],
                "fixed_ips": [{"subnet_id": sid, "ip_address": subnet["gateway_ip"]}],
                "device_id": rid,
                "device_owner": INTERFACE,
            },
            creating=True,
        )
        port = crud.create(uow, port_res, _system(router["project_id"]), item)
        uow.log(resource.name, rid, "update", router["revision_number"])
        return _interface_info(router, port)
    assert pid is not None
    port = crud.fetch(uow, port_res, ctx, pid, for_update=True)
    if port["device_id"] or port["device_owner"]:
        raise errors.typed(
            errors.Conflict,
            "PortInUse",
            f"Unable to complete operation on port {pid} for network {port['network_id']}. "
            f"Port already has an attached device {port['device_id']}.",
        )
    fixed = port["fixed_ips"] or []
    if not fixed:
        raise bad_router("Router port must have at least one fixed IP")
    subnets = _subnet_rows(uow, [f["subnet_id"] for f in fixed])
    if sum(1 for s in subnets.values() if s.ip_version == 4) > 1:
        raise bad_router("Cannot have multiple IPv4 subnets on router port")
    _check_attachable(uow, rid, list(subnets.values()))
    port = crud.update(
        uow,
        port_res,
        _system(router["project_id"]),
        pid,
        {"device_id": rid, "device_owner": INTERFACE, "security_groups": []},
    )
    uow.log(resource.name, rid, "update", router["revision_number"])
    return _interface_info(router, port)


def remove_interface(uow: UnitOfWork, ctx: Context, rid: str, body: dict[str, Any]) -> Any:
    """`PUT /routers/{id}/remove_router_interface`: delete the interface port, unless
    floating IPs or extra routes still need the subnet."""
    router = crud.fetch(uow, resource, ctx, rid, for_update=True)
    sid, pid = _one_of(body, "remove")
    ports = router_ports(uow, [rid], INTERFACE)
    if pid is not None:
        port = next((p for p in ports if p["id"] == pid), None)
        if port is None:
            raise errors.typed(
                errors.NotFound,
                "RouterInterfaceNotFound",
                f"Router {rid} does not have an interface with id {pid}",
            )
        if sid is not None and sid not in {f["subnet_id"] for f in port["fixed_ips"]}:
            raise errors.typed(
                errors.BadRequest,
                "SubnetMismatchForPort",
                f"Subnet on port {pid} does not match the requested subnet {sid}.",
            )
    else:
        port = next(
            (p for p in ports if sid in {f["subnet_id"] for f in p["fixed_ips"]}),
            None,
        )
        if port is None:
            raise errors.typed(
                errors.NotFound,
                "RouterInterfaceNotFoundForSubnet",
                f"Router {rid} has no interface on subnet {sid}",
            )
    for subnet in _subnet_rows(uow, [f["subnet_id"] for f in port["fixed_ips"]]).values():
        _check_detachable(uow, router, subnet)
    crud.delete(uow, _ports(), _system(router["project_id"]), port["id"])
    uow.log(resource.name, rid, "update", router["revision_number"])
    return _interface_info(router, port)


def _check_detachable(uow: UnitOfWork, router: dict[str, Any], subnet: Any) -> None:
    from alcor.resources import floatingip

    net = ipaddress.ip_network(subnet.cidr)
    if any(ipaddress.ip_address(ip) in net for ip in floatingip.fixed_ips_via(uow, router["id"])):
        raise errors.typed(
            errors.Conflict,
            "RouterInterfaceInUseByFloatingIP",
            f"Router interface for subnet {subnet.id} on router {router['id']} cannot be "
            "deleted, as it is required by one or more floating IPs.",
        )
    if any(ipaddress.ip_address(r["nexthop"]) in net for r in router["routes"] or []):
        raise errors.typed(
            errors.Conflict,
            "RouterInterfaceInUseByRoute",
            f"Router interface for subnet {subnet.id} on router {router['id']} cannot be "
            "deleted, as it is required by one or more routes.",
        )


def _route_action(add: bool) -> Callable[[UnitOfWork, Context, str, dict[str, Any]], Any]:
    """`add_extraroutes` / `remove_extraroutes`: edit the route set atomically (the
    `extraroute-atomic` extension), so concurrent editors never lose each other's routes."""

    def action(uow: UnitOfWork, ctx: Context, rid: str, body: dict[str, Any]) -> Any:
        payload = body.get("router")
        if not isinstance(payload, dict) or set(payload) != {"routes"}:
            raise errors.BadRequest("The request body must be {'router': {'routes': [...]}}")
        given = _ROUTES.check("routes", payload["routes"])
        current = crud.fetch(uow, resource, ctx, rid, for_update=True)["routes"] or []
        if add:
            new = current + [r for r in given if r not in current]
        else:
            new = [r for r in current if r not in given]
        item = crud.update(uow, resource, ctx, rid, {"routes": new})
        resource.hooks.extend(uow.conn, ctx, [item])
        return {"router": crud.render(resource, ctx, item)}

    return action


class RouterHooks(Hooks):
    """Gateway port on the external network, interface bookkeeping, route validation."""

    def actions(self) -> dict[str, Callable[..., Any]]:
        return {
            "add_router_interface": add_interface,
            "remove_router_interface": remove_interface,
            "add_extraroutes": _route_action(add=True),
            "remove_extraroutes": _route_action(add=False),
        }

    def _check_policy(self, ctx: Context, info: dict[str, Any] | None) -> None:
        if info is None or ctx.is_admin:
            return
        for key in ("enable_snat", "external_fixed_ips"):
            if key in info:
                raise errors.typed(
                    errors.NotAuthorized,
                    "PolicyNotAuthorized",
                    f"(rule:create_router:external_gateway_info:{key}) is disallowed by policy",
                )

    def _set_gateway(
        self, uow: UnitOfWork, ctx: Context, router: dict[str, Any], info: dict[str, Any]
    ) -> dict[str, Any]:
        """Make the gateway port; return the stored gateway info with its real addresses."""
        net_id = info["network_id"]
        try:
            net = crud.fetch(uow, _networks(), ctx, net_id)
        except errors.NotFound:
            raise errors.not_found("network", net_id) from None
        if not net["router:external"]:
            raise bad_router(f"Network {net_id} is not an external network")
        port_res = _ports()
        body: dict[str, Any] = {"network_id": net_id, "device_id": router["id"]}
        body["device_owner"] = GATEWAY
        body["project_id"] = ""
        if info.get("external_fixed_ips"):
            body["fixed_ips"] = info["external_fixed_ips"]
        item = crud.check_body(port_res, _system(""), body, creating=True)
        port = crud.create(uow, port_res, _system(""), item)
        return {
            "network_id": net_id,
            "enable_snat": info.get("enable_snat", True),
            "external_fixed_ips": port["fixed_ips"],
        }

    def _clear_gateway(self, uow: UnitOfWork, router: dict[str, Any]) -> None:
        from alcor.resources import floatingip

        if floatingip.fixed_ips_via(uow, router["id"]):
            raise errors.typed(
                errors.Conflict,
                "RouterExternalGatewayInUseByFloatingIp",
                f"Gateway cannot be updated for router {router['id']}, since a gateway to "
                f"external network {router['external_gateway_info']['network_id']} is "
                "required by one or more floating IPs.",
            )
        for port in router_ports(uow, [router["id"]], GATEWAY):
            crud.delete(uow, _ports(), _system(""), port["id"])

    def before_create(self, uow: UnitOfWork, ctx: Context, item: dict[str, Any]) -> None:
        info = item.get("external_gateway_info") or None  # {} = no gateway
        self._check_policy(ctx, info)
        item["external_gateway_info"] = info
        if info is not None:
            item["external_gateway_info"] = self._set_gateway(uow, ctx, item, info)

    def before_update(
        self, uow: UnitOfWork, ctx: Context, old: dict[str, Any], changes: dict[str, Any]
    ) -> None:
        if "external_gateway_info" in changes:
            new, cur = changes["external_gateway_info"], old["external_gateway_info"]
            self._check_policy(ctx, new)
            if new == {} or new is None:
                if cur is not None:
                    self._clear_gateway(uow, old)
                changes["external_gateway_info"] = None
            elif (
                cur is not None
                and new["network_id"] == cur["network_id"]
                and not new.get("external_fixed_ips")
            ):
                changes["external_gateway_info"] = {
                    **cur,
                    "enable_snat": new.get("enable_snat", cur["enable_snat"]),
                }
            else:
                if cur is not None:
                    self._clear_gateway(uow, old)
                changes["external_gateway_info"] = self._set_gateway(uow, ctx, old, new)
        if "routes" in changes:
            self._check_routes(uow, {**old, **changes})

    def _check_routes(self, uow: UnitOfWork, router: dict[str, Any]) -> None:
        routes = router["routes"] or []
        if len(routes) > MAX_ROUTES:
            raise errors.typed(
                errors.BadRequest,
                "RoutesExhausted",
                f"Unable to complete operation for {router['id']}. The number of routes "
                f"exceeds the maximum {MAX_ROUTES}.",
            )
        ports = router_ports(uow, [router["id"]], INTERFACE) + router_ports(
            uow, [router["id"]], GATEWAY
        )
        own = {f["ip_address"] for p in ports for f in p["fixed_ips"]}
        nets = [
            ipaddress.ip_network(s.cidr)
            for s in _subnet_rows(
                uow, [f["subnet_id"] for p in ports for f in p["fixed_ips"]]
            ).values()
        ]
        for route in routes:
            hop = ipaddress.ip_address(route["nexthop"])
            if route["nexthop"] in own:
                reason = "the nexthop is used by router"
            elif not any(hop in net for net in nets):
                reason = "the nexthop is not connected with router"
            elif ipaddress.ip_network(route["destination"]).version != hop.version:
                reason = "the destination and the nexthop are of different IP versions"
            else:
                continue
            raise errors.typed(
                errors.BadRequest,
                "InvalidRoutes",
                f"Invalid format for routes: {route}, {reason}.",
            )

    def before_delete(self, uow: UnitOfWork, ctx: Context, item: dict[str, Any]) -> None:
        if router_ports(uow, [item["id"]], INTERFACE):
            raise errors.typed(
                errors.Conflict, "RouterInUse", f"Router {item['id']} still has ports"
            )
        if item["external_gateway_info"] is not None:
            self._clear_gateway(uow, item)

    def extend(self, conn: Any, ctx: Context, items: list[dict[str, Any]]) -> None:
        for it in items:
            it["availability_zones"] = []

    def change_scope(self, item: dict[str, Any]) -> tuple[str | None, str | None]:
        return None, None
