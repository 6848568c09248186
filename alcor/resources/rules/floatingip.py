"""Floating IPs' rules: allocation from the external subnets, association, release.

Where the addresses come from: the external network's IPv4 subnets, each one IPAM pool
(`alcor.ipam.pools`, the original Elastic IP manager's design done right: addresses spread
over buckets by value mod N, a random non-full bucket locked alone, a persistent index of full
buckets, explicit addresses taken from their own bucket, pool edits that never move an
allocation). The admin defines the EIP ranges as the subnets' `allocation_pools`; editing
them while allocations run moves nothing.

Association needs a path: a router with an interface on the fixed IP's subnet and its
gateway on the floating network. `router_id` follows from the association; `status` is DOWN
until the host of the port reports the floating IP programmed (the status intake), since a
floating IP is NATed on its port's host and travels there with the port
(`PortState.floating_ips`): a change of association re-sends the ports it concerns.
"""

from __future__ import annotations

import ipaddress
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from alcor import errors
from alcor.ipam import errors as ipam_errors
from alcor.ipam import pools
from alcor.resources import grants, relations
from alcor.resources.context import Context
from alcor.resources.declarations import network, port, port_forwarding, subnet
from alcor.resources.declarations.floatingip import resource, router_for
from alcor.resources.model import Conn, Hooks, Item

if TYPE_CHECKING:
    from alcor.store.db import UnitOfWork

PORT_DETAILS = (
    "name",
    "network_id",
    "mac_address",
    "admin_state_up",
    "status",
    "device_id",
    "device_owner",
)

PF_DETAILS = (
    "id",
    "internal_ip_address",
    "protocol",
    "internal_port",
    "external_port",
    "internal_port_id",
)


def bad_fip(message: str) -> errors.NeutronError:
    return errors.BadFloatingIpRequest(msg=message)


def _external_subnets(uow: UnitOfWork, network_id: str) -> list[Any]:
    t = subnet.resource.table
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
    net = relations.target(uow, ctx, network.resource, network_id)
    if net is None:
        raise network.resource.not_found(network_id)
    if not grants.external(uow, net):
        raise bad_fip(f"Network {network_id} is not a valid external network")


def _allocate(uow: UnitOfWork, ctx: Context, item: Item) -> None:
    """Take the requested address, or any free one from the first subnet with room."""
    net_id = item["floating_network_id"]
    subnets = _external_subnets(uow, net_id)
    if item.get("subnet_id") is not None:
        subnets = [s for s in subnets if s.id == item["subnet_id"]]
        if not subnets:
            raise bad_fip(f"Subnet {item['subnet_id']} is not an IPv4 subnet of network {net_id}")
    wanted = item.get("floating_ip_address")
    if wanted is not None:
        addr = ipaddress.ip_address(wanted)
        subnet = next((s for s in subnets if addr in ipaddress.ip_network(s.cidr)), None)
        net = None if subnet is None else ipaddress.ip_network(subnet.cidr)
        if subnet is None or net is None or addr in (net.network_address, net.broadcast_address):
            raise bad_fip(
                f"IP address {wanted} is not a valid IP for the external network {net_id}"
            )
        if wanted == subnet.gateway_ip:
            raise errors.IpAddressInUse(net_id=net_id, ip_address=wanted)
        try:
            pools.allocate(uow, subnet.id, item["id"], int(addr), outside_ok=True, display=wanted)
        except ipam_errors.ValueInUse:
            raise errors.IpAddressInUse(net_id=net_id, ip_address=wanted) from None
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
    raise errors.IpAddressGenerationFailure(where=f"network {net_id}")


def _ipv4(value: int) -> str:
    return str(ipaddress.IPv4Address(value))


def _associate(uow: UnitOfWork, ctx: Context, fip: Item) -> None:
    """Resolve `port_id` (+ `fixed_ip_address`) to the fixed IP and the router that can NAT
    it; set `router_id` and `status`. Raises Neutron's errors when there is no such path."""
    port_id = fip.get("port_id")
    forwarded = _forwarded(uow, "floatingip_id", fip["id"])
    if port_id is None:
        fip["fixed_ip_address"] = None
        if not forwarded:  # else the forwardings' router and status stay the floating IP's
            fip["router_id"] = None
            fip["status"] = "DOWN"
        return
    if forwarded:
        raise errors.FipInUseByPortForwarding(id=fip["id"])
    if _forwarded(uow, "internal_port_id", port_id):
        raise errors.PortHasPortForwarding(port_id=port_id)
    found = relations.target(uow, ctx, port.resource, port_id)
    if found is None:
        raise port.resource.not_found(port_id)
    if found["project_id"] != fip["project_id"] and not ctx.is_admin:
        # A port the caller sees without owning it (one on the caller's network): Neutron's
        # 400, since the floating IP's project must own the port.
        raise bad_fip(
            f"Cannot process floating IP association with Port {port_id}, since that port "
            "is owned by a different project"
        )
    if port.trusted(found):
        raise bad_fip(
            f"Port {port_id} has owner {found['device_owner']} and therefore cannot be "
            "associated with a floating IP"
        )
    v4 = [f for f in found["fixed_ips"] or [] if ipaddress.ip_address(f["ip_address"]).version == 4]
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
    fip["router_id"] = _router_for(uow, fip, found, chosen["subnet_id"])
    fip["fixed_ip_address"] = chosen["ip_address"]
    fip["status"] = "DOWN"  # until its host reports it programmed
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
        raise errors.FloatingIPPortAlreadyAssociated(
            floating_ip_address=fip["floating_ip_address"],
            fip_id=fip["id"],
            port_id=port_id,
            fixed_ip=chosen["ip_address"],
            net_id=fip["floating_network_id"],
        )


def _forwarded(uow: UnitOfWork, attr: str, value: str) -> bool:
    """Whether a port forwarding names `value` as its floating IP or internal port: then no
    association (Neutron's port forwarding plugin refuses both)."""
    col = port_forwarding.resource.column(attr)
    return uow.execute(sa.select(col).where(col == value).limit(1)).first() is not None


def _router_for(uow: UnitOfWork, fip: Item, fixed_port: Item, subnet_id: str) -> str:
    """The router with an interface on `subnet_id` and its gateway on the floating network."""
    found = router_for(uow, fixed_port["network_id"], subnet_id, fip["floating_network_id"])
    if found is None:
        raise errors.ExternalGatewayForFloatingIPNotFound(
            external_network_id=fip["floating_network_id"],
            subnet_id=subnet_id,
            port_id=fixed_port["id"],
        )
    return found


def _resend_ports(uow: UnitOfWork, *port_ids: str | None) -> None:
    """Log these ports as changed, so the compiler sends them (with their floating IPs, as
    they are at commit) to their hosts again."""
    ids = sorted({p for p in port_ids if p})
    if not ids:
        return
    t = port.resource.table
    cols = (t.c.id, t.c.network_id, t.c.binding_host_id, t.c.revision_number)
    for row in uow.execute(sa.select(*cols).where(t.c.id.in_(ids))):
        uow.log(
            port.resource.name,
            row.id,
            "update",
            row.revision_number or 0,
            network_id=row.network_id,
            host_id=row.binding_host_id or None,
        )


def _forwardings(conn: Conn | UnitOfWork, fip_ids: list[str]) -> dict[str, list[Item]]:
    """floating IP id -> its port forwardings as Neutron shows them in the floating IP
    (`expose-port-forwarding-in-fip`, with `floating-ip-port-forwarding-detail`'s id and
    internal port)."""
    t = port_forwarding.resource.table
    out: dict[str, list[Item]] = {}
    if not fip_ids:
        return out
    rows = conn.execute(
        sa.select(t.c.floatingip_id, *[t.c[name] for name in PF_DETAILS])
        .where(t.c.floatingip_id.in_(sorted(set(fip_ids))))
        .order_by(t.c.id)
    )
    for row in rows:
        shown = dict(zip(PF_DETAILS, row[1:], strict=True))
        out.setdefault(row[0], []).append({k: v for k, v in shown.items() if v is not None})
    return out


class FloatingIpHooks(Hooks):
    """Allocation from the external subnets, association, release."""

    def before_create(self, uow: UnitOfWork, ctx: Context, item: Item) -> None:
        _external_network(uow, ctx, item["floating_network_id"])
        if item.get("fixed_ip_address") is not None and item.get("port_id") is None:
            raise bad_fip("fixed_ip_address cannot be specified without a port_id")
        _allocate(uow, ctx, item)
        _associate(uow, ctx, item)
        _resend_ports(uow, item.get("port_id"))

    def before_update(self, uow: UnitOfWork, ctx: Context, old: Item, changes: Item) -> None:
        if not changes:
            # Neutron: a blank update ({"floatingip": {}}) disassociates, as it did when a
            # floating IP had nothing else to update; any other leaves the association be.
            changes["port_id"] = None
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
        _resend_ports(uow, old["port_id"], new["port_id"])

    def before_delete(self, uow: UnitOfWork, ctx: Context, item: Item) -> None:
        value = int(ipaddress.ip_address(item["floating_ip_address"]))
        pools.release(uow, item["subnet_id"], value, owner=item["id"])
        _resend_ports(uow, item.get("port_id"))

    def extend(self, conn: Conn | UnitOfWork, ctx: Context, items: list[Item]) -> None:
        ids = sorted({it["port_id"] for it in items if it.get("port_id")})
        details: dict[str, Item] = {}
        if ids:
            cols = [port.resource.column(n) for n in ("id", *PORT_DETAILS)]
            for row in conn.execute(sa.select(*cols).where(port.resource.column("id").in_(ids))):
                details[row[0]] = dict(zip(PORT_DETAILS, row[1:], strict=True))
        forwardings = _forwardings(conn, [it["id"] for it in items])
        for it in items:
            it["port_details"] = details.get(it.get("port_id") or "")
            it["port_forwardings"] = forwardings.get(it["id"], [])

    def change_scope(self, item: Item) -> tuple[str | None, str | None]:
        return item["floating_network_id"], None
