"""Routers' rules: interfaces, external gateway and extra routes, with Neutron's rules."""

from __future__ import annotations

import ipaddress
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from alcor import errors
from alcor.resources import availability_zones, crud, grants, kinds
from alcor.resources.context import Context
from alcor.resources.declarations import floatingip, network, port, subnet
from alcor.resources.declarations.port import ROUTER_GATEWAY as GATEWAY
from alcor.resources.declarations.port import ROUTER_INTERFACE as INTERFACE
from alcor.resources.declarations.router import MAX_ROUTES, ROUTES, resource
from alcor.resources.model import Action, Conn, Hooks, Item

if TYPE_CHECKING:
    from alcor.store.db import UnitOfWork


def bad_router(message: str) -> errors.NeutronError:
    return errors.BadRouterRequest(msg=message)


def fixed_ips_via(conn: Conn | UnitOfWork, router_id: str) -> list[str]:
    """The fixed IPs NATed through this router."""
    t = floatingip.resource.table
    rows = conn.execute(
        sa.select(t.c.fixed_ip_address).where(t.c.router_id == router_id, t.c.port_id.is_not(None))
    )
    return [r[0] for r in rows]


def router_ports(conn: UnitOfWork | sa.Connection, router_ids: list[str], owner: str) -> list[Item]:
    """The ports (`INTERFACE` or `GATEWAY`) of these routers."""
    ports = port.resource
    t = ports.table
    stmt = ports.statement(
        f"router_ports:{owner}",
        lambda: (
            sa.select(*[t.c[a.column] for a in ports.stored()])
            .where(
                t.c.device_id.in_(sa.bindparam("ids", expanding=True)), t.c.device_owner == owner
            )
            .order_by(t.c.created_at, t.c.id)
        ),
    )
    return crud.rows_to_items(ports, conn.execute(stmt, {"ids": router_ids}))


def _subnet_rows(uow: UnitOfWork, ids: list[str]) -> Item:
    t = subnet.resource.table
    rows = uow.execute(
        sa.select(t.c.id, t.c.cidr, t.c.network_id, t.c.gateway_ip, t.c.ip_version).where(
            t.c.id.in_(ids)
        )
    )
    return {r.id: r for r in rows}


def _attached(uow: UnitOfWork, router_id: str) -> Item:
    """Subnet id -> subnet row, for every subnet the router has an interface on."""
    ids = [
        f["subnet_id"] for p in router_ports(uow, [router_id], INTERFACE) for f in p["fixed_ips"]
    ]
    return _subnet_rows(uow, ids)


def _check_attachable(uow: UnitOfWork, router_id: str, subnets: list[Any]) -> None:
    """Neutron's rules for a new interface: one port per subnet, no overlapping CIDRs."""
    have = _attached(uow, router_id)
    for row in subnets:
        if row.id in have:
            raise bad_router(f"Router already has a port on subnet {row.id}")
        net = ipaddress.ip_network(row.cidr)
        for other in have.values():
            if ipaddress.ip_network(other.cidr).overlaps(net):
                raise bad_router(
                    f"Cidr {row.cidr} of subnet {row.id} overlaps with cidr "
                    f"{other.cidr} of subnet {other.id}"
                )


def _interface_info(router: Item, port: Item) -> Item:
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


def _one_of(body: Item, action: str) -> tuple[str | None, str | None]:
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


def _log_attachment(uow: UnitOfWork, router: Item, network_id: str) -> None:
    """An interface came or went: the router's revision goes up (Neutron's router ports
    revise their router) and it travels again, and so does the network, whose state names
    the routers its hosts must follow (`NetworkState.router_ids`)."""
    crud.bump_revisions(uow, resource, [router["id"]])
    router["revision_number"] += 1
    uow.log(resource.name, router["id"], "update", router["revision_number"])
    uow.log(network.resource.name, network_id, "update", 0, network_id=network_id)


def add_interface(uow: UnitOfWork, ctx: Context, rid: str, body: Item) -> Item:
    """`PUT /routers/{id}/add_router_interface` with a subnet (a new port takes the subnet's
    gateway IP) or an existing unattached port."""
    router = crud.fetch(uow, resource, ctx, rid, for_update=True)
    sid, pid = _one_of(body, "add")
    system = Context.system(router["project_id"])
    if sid is not None:
        attached = crud.fetch(uow, subnet.resource, ctx, sid)
        if not attached["gateway_ip"]:
            raise bad_router("Subnet for router interface must have a gateway IP")
        if (
            attached["project_id"] != ctx.project_id
            and not ctx.is_admin
            and not grants.shared_with(
                uow, "network", attached["network_id"], ctx.project_id, everyone=False
            )
        ):
            # Neutron: a subnet shared with everyone is no router's to take the gateway of;
            # one shared with this project by an RBAC grant is.
            raise bad_router(
                f"Cannot add interface to router because subnet {sid} is not owned by "
                "project making the request"
            )
        _check_attachable(uow, rid, list(_subnet_rows(uow, [sid]).values()))
        item = crud.check_body(
            port.resource,
            system,
            {
                "network_id": attached["network_id"],
                "fixed_ips": [{"subnet_id": sid, "ip_address": attached["gateway_ip"]}],
                "device_id": rid,
                "device_owner": INTERFACE,
            },
            creating=True,
        )
        made = crud.create(uow, port.resource, system, item)
        _log_attachment(uow, router, made["network_id"])
        return _interface_info(router, made)
    assert pid is not None
    found = crud.fetch(uow, port.resource, ctx, pid, for_update=True)
    if found["device_id"] or found["device_owner"]:
        raise errors.PortInUse(
            port_id=pid, net_id=found["network_id"], device_id=found["device_id"]
        )
    fixed = found["fixed_ips"] or []
    if not fixed:
        raise bad_router("Router port must have at least one fixed IP")
    subnets = _subnet_rows(uow, [f["subnet_id"] for f in fixed])
    if sum(1 for s in subnets.values() if s.ip_version == 4) > 1:
        raise bad_router("Cannot have multiple IPv4 subnets on router port")
    _check_attachable(uow, rid, list(subnets.values()))
    updated = crud.update(
        uow,
        port.resource,
        system,
        pid,
        {"device_id": rid, "device_owner": INTERFACE, "security_groups": []},
    )
    _log_attachment(uow, router, updated["network_id"])
    return _interface_info(router, updated)


def remove_interface(uow: UnitOfWork, ctx: Context, rid: str, body: Item) -> Item:
    """`PUT /routers/{id}/remove_router_interface`: delete the interface port, unless
    floating IPs or extra routes still need the subnet."""
    router = crud.fetch(uow, resource, ctx, rid, for_update=True)
    sid, pid = _one_of(body, "remove")
    ports = router_ports(uow, [rid], INTERFACE)
    if pid is not None:
        gone = next((p for p in ports if p["id"] == pid), None)
        if gone is None:
            raise errors.RouterInterfaceNotFound(router_id=rid, port_id=pid)
        if sid is not None and sid not in {f["subnet_id"] for f in gone["fixed_ips"]}:
            raise errors.SubnetMismatchForPort(port_id=pid, subnet_id=sid)
    else:
        gone = next(
            (p for p in ports if sid in {f["subnet_id"] for f in p["fixed_ips"]}),
            None,
        )
        if gone is None:
            raise errors.RouterInterfaceNotFoundForSubnet(router_id=rid, subnet_id=sid)
    for row in _subnet_rows(uow, [f["subnet_id"] for f in gone["fixed_ips"]]).values():
        _check_detachable(uow, router, row)
    crud.delete(uow, port.resource, Context.system(router["project_id"]), gone["id"])
    _log_attachment(uow, router, gone["network_id"])
    return _interface_info(router, gone)


def _check_detachable(uow: UnitOfWork, router: Item, row: sa.Row[Any]) -> None:
    net = ipaddress.ip_network(row.cidr)
    if any(ipaddress.ip_address(ip) in net for ip in fixed_ips_via(uow, router["id"])):
        raise errors.RouterInterfaceInUseByFloatingIP(subnet_id=row.id, router_id=router["id"])
    if any(ipaddress.ip_address(r["nexthop"]) in net for r in router["routes"] or []):
        raise errors.RouterInterfaceInUseByRoute(subnet_id=row.id, router_id=router["id"])


def _route_action(add: bool) -> Action:
    """`add_extraroutes` / `remove_extraroutes`: edit the route set atomically (the
    `extraroute-atomic` extension), so concurrent editors never lose each other's routes."""

    def action(uow: UnitOfWork, ctx: Context, rid: str, body: Item) -> Item:
        payload = body.get("router")
        if not isinstance(payload, dict) or set(payload) != {"routes"}:
            raise errors.BadRequest("The request body must be {'router': {'routes': [...]}}")
        given = ROUTES.check("routes", payload["routes"])
        current = crud.fetch(uow, resource, ctx, rid, for_update=True)["routes"] or []
        if add:
            new = current + [r for r in given if r not in current]
        else:
            new = [r for r in current if r not in given]
        item = crud.update(uow, resource, ctx, rid, {"routes": new})
        resource.hooks.extend(uow.conn, ctx, [item])
        return {"router": crud.render(resource, ctx, item)}

    return action


# What `distributed` and `ha` say of every router here: each host routes its own VMs' packets
# (Neutron's DVR, `dvr`), and SNAT runs on one host at a time, moved when that host dies, with
# no VRRP standby (not `l3-ha`'s kind of router).
MODE = {"distributed": True, "ha": False}


def _check_mode(item: Item) -> None:
    """Refuse a router these attributes would describe falsely (a centralized or HA one)."""
    for key, value in MODE.items():
        if item.get(key, value) != value:
            raise bad_router(
                f"{key}={item[key]} routers are not supported; routers here are always "
                f"distributed={MODE['distributed']}, ha={MODE['ha']}"
            )


def _check_mode_change(old: Item, changes: Item) -> None:
    """`router-admin-state-down-before-update`: `distributed` and `ha` change only on a router
    that is administratively down before and after (then the mode itself is checked)."""
    up = old["admin_state_up"] or changes.get("admin_state_up", old["admin_state_up"])
    for key, label in (("distributed", "'distributed' attribute"), ("ha", "HA attribute")):
        if up and key in changes and changes[key] != old[key]:
            raise bad_router(
                f"Cannot change the {label} of active routers. Please set router "
                "admin_state_up to False prior to upgrade"
            )
    _check_mode({**old, **changes})


class RouterHooks(Hooks):
    """Gateway port on the external network, interface bookkeeping, route validation."""

    def actions(self) -> dict[str, Action]:
        return {
            "add_router_interface": add_interface,
            "remove_router_interface": remove_interface,
            "add_extraroutes": _route_action(add=True),
            "remove_extraroutes": _route_action(add=False),
        }

    def _set_gateway(self, uow: UnitOfWork, ctx: Context, router: Item, info: Item) -> Item:
        """Make the gateway port; return the stored gateway info with its real addresses."""
        net_id = info["network_id"]
        net = crud.fetch(uow, network.resource, ctx, net_id)
        if not grants.external(uow, net):
            raise bad_router(f"Network {net_id} is not an external network")
        body: Item = {"network_id": net_id, "device_id": router["id"]}
        body["device_owner"] = GATEWAY
        body["project_id"] = ""
        if info.get("external_fixed_ips"):
            body["fixed_ips"] = info["external_fixed_ips"]
        system = Context.system()
        made = crud.create(
            uow, port.resource, system, crud.check_body(port.resource, system, body, creating=True)
        )
        return {
            "network_id": net_id,
            "enable_snat": info.get("enable_snat", True),
            "external_fixed_ips": made["fixed_ips"],
        }

    def _clear_gateway(self, uow: UnitOfWork, router: Item) -> None:
        if fixed_ips_via(uow, router["id"]):
            raise errors.RouterExternalGatewayInUseByFloatingIp(
                router_id=router["id"], net_id=router["external_gateway_info"]["network_id"]
            )
        for gateway in router_ports(uow, [router["id"]], GATEWAY):
            crud.delete(uow, port.resource, Context.system(), gateway["id"])

    def before_create(self, uow: UnitOfWork, ctx: Context, item: Item) -> None:
        _check_mode(item)
        for key, value in MODE.items():
            item.setdefault(key, value)
        availability_zones.check_hints(uow, item.get("availability_zone_hints"))
        info = item.get("external_gateway_info") or None  # {} = no gateway
        item["external_gateway_info"] = info
        if info is not None:
            item["external_gateway_info"] = self._set_gateway(uow, ctx, item, info)

    def before_update(self, uow: UnitOfWork, ctx: Context, old: Item, changes: Item) -> None:
        _check_mode_change(old, changes)
        if "external_gateway_info" in changes:
            new, cur = changes["external_gateway_info"], old["external_gateway_info"]
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

    def _check_routes(self, uow: UnitOfWork, router: Item) -> None:
        routes = router["routes"] or []
        if len(routes) > MAX_ROUTES:
            raise errors.RoutesExhausted(router_id=router["id"], quota=MAX_ROUTES)
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
            raise errors.InvalidRoutes(routes=route, reason=reason)

    def before_delete(self, uow: UnitOfWork, ctx: Context, item: Item) -> None:
        if router_ports(uow, [item["id"]], INTERFACE):
            raise errors.RouterInUse(router_id=item["id"], reason="still has ports")
        if item["external_gateway_info"] is not None:
            self._clear_gateway(uow, item)

    def extend(self, conn: Conn | UnitOfWork, ctx: Context, items: list[Item]) -> None:
        zones = availability_zones.of_routers(conn, [it["id"] for it in items])
        for it in items:
            it["availability_zones"] = zones.get(it["id"], [])

    def change_scope(self, item: Item) -> tuple[str | None, str | None]:
        return None, None
