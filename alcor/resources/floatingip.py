"""Floating IPs: addresses of an external network, NATed to a port's fixed IP.

Where the addresses come from: the external network's IPv4 subnets, each one IPAM pool
(`alcor.ipam.pools`, the original Elastic IP manager's design done right: addresses spread
over buckets by value mod N, a random non-full bucket locked alone, a persistent index of full
buckets, explicit addresses taken from their own bucket, pool edits that never move an
allocation). The admin defines the EIP ranges as the subnets' `allocation_pools`; editing
them while allocations run moves nothing. A floating IP holds its address directly (owner =
the floating IP's id) instead of through a `network:floatingip` port, so creating one is an
allocation and a row, not a port with a MAC.

Association needs a path: a router with an interface on the fixed IP's subnet and its
gateway on the floating network. `router_id` and `status` follow from the association.
"""

from __future__ import annotations

import ipaddress
from typing import Any

import sqlalchemy as sa

from alcor import errors
from alcor.ipam import errors as ipam_errors
from alcor.ipam import pools
from alcor.resources import crud, kinds
from alcor.resources.context import Context
from alcor.resources.model import Attr, Hooks, Resource
from alcor.resources.router import GATEWAY, INTERFACE
from alcor.store.db import UnitOfWork

resource = Resource(
    "floatingip",
    "floatingips",
    [
        Attr("floating_ip_address", kinds.IpAddress(), post=True),
        Attr("floating_network_id", kinds.Uuid(), post=True, required=True, index=True),
        Attr(
            "subnet_id",
            kinds.Uuid(),
            post=True,
            nullable=True,
            default=None,
            visible=False,
            filter=False,
            sort=False,
        ),
        Attr("port_id", kinds.Uuid(), post=True, put=True, nullable=True, default=None, index=True),
        Attr(
            "fixed_ip_address", kinds.IpAddress(), post=True, put=True, nullable=True, default=None
        ),
        Attr("router_id", kinds.Uuid(), nullable=True, default=None, index=True),
        Attr("status", kinds.Str(16), default="DOWN"),
        Attr("port_details", kinds.Json(), stored=False, filter=False, sort=False),
    ],
    omit=("name",),
    extensions=("fip-port-details",),
    quota="floatingip",
    table_args=(
        sa.UniqueConstraint("floating_network_id", "floating_ip_address"),
        sa.UniqueConstraint("floating_network_id", "port_id", "fixed_ip_address"),
    ),
)

PORT_DETAILS = (
    "name",
    "network_id",
    "mac_address",
    "admin_state_up",
    "status",
    "device_id",
    "device_owner",
)


def bad_fip(message: str) -> errors.NeutronError:
    return errors.BadRequest(f"Bad floatingip request: {message}.")


def _ports() -> Any:
    from alcor.resources.port import resource as port

    return port


def fixed_ips_via(conn: UnitOfWork | sa.Connection, router_id: str) -> list[str]:
    """The fixed IPs NATed through this router."""
    t = resource.table
    rows = conn.execute(
        sa.select(t.c.fixed_ip_address).where(t.c.router_id == router_id, t.c.port_id.is_not(None))
    )
    return [r[0] for r in rows]


def disassociate_port(uow: UnitOfWork, port_id: str) -> None:
    """A deleted port takes its floating IPs' associations with it (Neutron does the same)."""
    t = resource.table
    stmt = resource.statement(
        "by_port", lambda: sa.select(t.c.id).where(t.c.port_id == sa.bindparam("port_id"))
    )
    for (fid,) in uow.execute(stmt, {"port_id": port_id}).all():
        crud.update(
            uow,
            resource,
            Context("", frozenset({"admin"})),
            fid,
            {"port_id": None, "fixed_ip_address": None},
        )


def _external_subnets(uow: UnitOfWork, network_id: str) -> list[Any]:
    from alcor.resources.subnet import resource as subnet

    t = subnet.table
    stmt = resource.statement(
        "ext_subnets",
        lambda: (
            sa.select(t.c.id, t.c.cidr, t.c.gateway_ip)
            .where(t.c.network_id == sa.bindparam("net"), t.c.ip_version == 4)
            .order_by(t.c.created_at, t.c.id)
        ),
    )
    return list(uow.execute(stmt, {"net": network_id}).all())


def _external_network(uow: UnitOfWork, ctx: Context, network_id: str) -> None:
    from alcor.resources.network import resource as network

    t = network.table
    stmt = resource.statement(
        "ext_net",
        lambda: sa.select(t.c.router_external).where(t.c.id == sa.bindparam("id")),
    )
    row = uow.execute(stmt, {"id": network_id}).first()
    if row is None:
        raise errors.not_found("network", network_id)
    if not row.router_external:
        raise bad_fip(f"Network {network_id} is not a valid external network")


def _allocate(uow: UnitOfWork, ctx: Context, item: dict[str, Any]) -> None:
    """Take the requested address, or any free one from the first subnet with room."""
    net_id = item["floating_network_id"]
    subnets = _external_subnets(uow, net_id)
    if item.get("subnet_id") is not None:
        subnets = [s for s in subnets if s.id == item["subnet_id"]]
        if not subnets:
            raise bad_fip(f"Subnet {item['subnet_id']} is not an IPv4 subnet of network {net_id}")
    wanted = item.get("floating_ip_address")
    if wanted is not None:
        if not ctx.is_admin:
            raise errors.typed(
                errors.NotAuthorized,
                "PolicyNotAuthorized",
                "(rule:create_floatingip:floating_ip_address) is disallowed by policy",
            )
        addr = ipaddress.ip_address(wanted)
        subnet = next((s for s in subnets if addr in ipaddress.ip_network(s.cidr)), None)
        net = None if subnet is None else ipaddress.ip_network(subnet.cidr)
        if subnet is None or net is None or addr in (net.network_address, net.broadcast_address):
            raise bad_fip(
                f"IP address {wanted} is not a valid IP for the external network {net_id}"
            )
        if wanted == subnet.gateway_ip:
            raise _ip_in_use(net_id, wanted)
        try:
            pools.allocate(uow, subnet.id, item["id"], int(addr), outside_ok=True, display=wanted)
        except ipam_errors.ValueInUse:
            raise _ip_in_use(net_id, wanted) from None
        item["subnet_id"] = subnet.id
        return
    for subnet in subnets:
        try:
            value = pools.allocate(uow, subnet.id, item["id"], display=_ipv4)
        except ipam_errors.PoolExhausted:
            continue
        item["floating_ip_address"] = _ipv4(value)
        item["subnet_id"] = subnet.id
        return
    raise errors.typed(
        errors.Conflict,
        "IpAddressGenerationFailure",
        f"No more IP addresses available on network {net_id}.",
    )


def _ipv4(value: int) -> str:
    return str(ipaddress.IPv4Address(value))


def _ip_in_use(net_id: str, ip: str) -> errors.NeutronError:
    return errors.typed(
        errors.Conflict,
        "IpAddressInUse",
        f"Unable to complete operation for network {net_id}. The IP address {ip} is in use.",
    )


def _associate(uow: UnitOfWork, ctx: Context, fip: dict[str, Any]) -> None:
    """Resolve `port_id` (+ `fixed_ip_address`) to the fixed IP and the router that can NAT
    it; set `router_id` and `status`. Raises Neutron's errors when there is no such path."""
    port_id = fip.get("port_id")
    if port_id is None:
        fip["fixed_ip_address"] = None
        fip["router_id"] = None
        fip["status"] = "DOWN"
        return
    try:
        port = crud.fetch(uow, _ports(), ctx, port_id)
    except errors.NotFound:
        raise errors.not_found("port", port_id) from None
    if port["project_id"] != fip["project_id"] and not ctx.is_admin:
        raise errors.not_found("port", port_id)
    if str(port["device_owner"]).startswith("network:"):
        raise bad_fip(
            f"Port {port_id} has owner {port['device_owner']} and therefore cannot be "
            "associated with a floating IP"
        )
    v4 = [f for f in port["fixed_ips"] or [] if ipaddress.ip_address(f["ip_address"]).version == 4]
    wanted = fip.get("fixed_ip_address")
    if wanted is not None:
        chosen = next((f for f in v4 if f["ip_address"] == wanted), None)
        if chosen is None:
            raise bad_fip(f"Port {port_id} does not have fixed ip {wanted}")
    elif not v4:
        raise bad_fip(f"Port {port_id} does not have any IPv4 address to associate")
    elif len(v4) > 1:
        raise bad_fip(
            f"Port {port_id} has multiple fixed IPv4 addresses.  Must provide a specific "
            "IPv4 address when assigning a floating IP"
        )
    else:
        chosen = v4[0]
    fip["router_id"] = _router_for(uow, fip, port, chosen["subnet_id"])
    fip["fixed_ip_address"] = chosen["ip_address"]
    fip["status"] = "ACTIVE"
    t = resource.table
    taken = uow.execute(
        resource.statement(
            "taken",
            lambda: sa.select(t.c.id, t.c.floating_ip_address).where(
                t.c.floating_network_id == sa.bindparam("net"),
                t.c.port_id == sa.bindparam("port"),
                t.c.fixed_ip_address == sa.bindparam("ip"),
                t.c.id != sa.bindparam("fid"),
            ),
        ),
        {
            "net": fip["floating_network_id"],
            "port": port_id,
            "ip": chosen["ip_address"],
            "fid": fip["id"],
        },
    ).first()
    if taken is not None:
        raise errors.typed(
            errors.Conflict,
            "FloatingIPPortAlreadyAssociated",
            f"Cannot associate floating IP {fip['floating_ip_address']} ({fip['id']}) with "
            f"port {port_id} using fixed IP {chosen['ip_address']}, as that fixed IP already "
            f"has a floating IP on external network {fip['floating_network_id']}.",
        )


def _router_for(uow: UnitOfWork, fip: dict[str, Any], port: dict[str, Any], subnet_id: str) -> str:
    """The router with an interface on `subnet_id` and its gateway on the floating network."""
    port_res = _ports()
    p = port_res.table
    gw = p.alias("gw")
    stmt = resource.statement(
        "router_for",
        lambda: (
            sa.select(p.c.device_id, p.c.fixed_ips)
            .join(gw, gw.c.device_id == p.c.device_id)
            .where(
                p.c.network_id == sa.bindparam("net"),
                p.c.device_owner == INTERFACE,
                gw.c.network_id == sa.bindparam("fnet"),
                gw.c.device_owner == GATEWAY,
            )
            .order_by(p.c.device_id)
        ),
    )
    rows: Any = uow.execute(
        stmt, {"net": port["network_id"], "fnet": fip["floating_network_id"]}
    ).all()
    for router_id, fixed in rows:
        if any(f["subnet_id"] == subnet_id for f in crud.json_value(fixed) or []):
            return str(router_id)
    raise errors.typed(
        errors.NotFound,
        "ExternalGatewayForFloatingIPNotFound",
        f"External network {fip['floating_network_id']} is not reachable from subnet "
        f"{subnet_id}.  Therefore, cannot associate Port {port['id']} with a Floating IP.",
    )


class FloatingIpHooks(Hooks):
    """Allocation from the external subnets, association, release."""

    def before_create(self, uow: UnitOfWork, ctx: Context, item: dict[str, Any]) -> None:
        _external_network(uow, ctx, item["floating_network_id"])
        if item.get("fixed_ip_address") is not None and item.get("port_id") is None:
            raise bad_fip("fixed_ip_address cannot be specified without a port_id")
        _allocate(uow, ctx, item)
        _associate(uow, ctx, item)

    def before_update(
        self, uow: UnitOfWork, ctx: Context, old: dict[str, Any], changes: dict[str, Any]
    ) -> None:
        if not {"port_id", "fixed_ip_address"} & changes.keys():
            return
        new = {**old, **changes}
        if "port_id" in changes and "fixed_ip_address" not in changes:
            new["fixed_ip_address"] = None
        if new["port_id"] is None and changes.get("fixed_ip_address") is not None:
            raise bad_fip("fixed_ip_address cannot be specified without a port_id")
        _associate(uow, ctx, new)
        for key in ("port_id", "fixed_ip_address", "router_id", "status"):
            changes[key] = new[key]

    def before_delete(self, uow: UnitOfWork, ctx: Context, item: dict[str, Any]) -> None:
        value = int(ipaddress.ip_address(item["floating_ip_address"]))
        pools.release(uow, item["subnet_id"], value, owner=item["id"])

    def extend(self, conn: Any, ctx: Context, items: list[dict[str, Any]]) -> None:
        ids = sorted({it["port_id"] for it in items if it.get("port_id")})
        details: dict[str, dict[str, Any]] = {}
        if ids:
            port_res = _ports()
            cols = [port_res.column(n) for n in ("id", *PORT_DETAILS)]
            for row in conn.execute(sa.select(*cols).where(port_res.column("id").in_(ids))):
                details[row[0]] = dict(zip(PORT_DETAILS, row[1:], strict=True))
        for it in items:
            it["port_details"] = details.get(it.get("port_id") or "")

    def change_scope(self, item: dict[str, Any]) -> tuple[str | None, str | None]:
        return item["floating_network_id"], None
