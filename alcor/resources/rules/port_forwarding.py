"""Port forwardings' rules: Neutron's checks (pf_plugin), the floating IP's router, and the
router's republication.

A forwarding needs a path as a floating IP association does: a router with an interface on
the internal address's subnet and its gateway on the floating IP's network; the first
forwarding of a floating IP sets its `router_id`, the last one's removal clears it, and all
forwardings of one floating IP go through that router. The floating IP's row is locked while
a forwarding of it is checked and written, so two concurrent creates on one floating IP never
both pass the external-port collision check (on any number of servers). Every change logs the
router: its SNAT host does the forwarding (`alcor.agent.forwarding`).
"""

from __future__ import annotations

import ipaddress
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from alcor import errors
from alcor.resources import crud, events
from alcor.resources.context import Context
from alcor.resources.declarations import floatingip, port
from alcor.resources.declarations.port_forwarding import resource
from alcor.resources.model import Hooks, Item

if TYPE_CHECKING:
    from alcor.store.db import UnitOfWork

# Filters Neutron refuses on this kind (`FIELDS_NOT_SUPPORT_FILTER`).
_NO_FILTER = ("internal_ip_address", "internal_port")


def _bad(msg: str) -> errors.NeutronError:
    return errors.BadPortForwardingRequest(msg=msg)


def _span(text: str) -> tuple[int, int]:
    lo, hi = text.split(":")
    return int(lo), int(hi)


def _read_ports(item: Item, changes: Item) -> None:
    """Reconcile the single ports with the ranges after `changes` (a single port, when given,
    wins over its range, as in Neutron's storage), and check the N-N or 1-N relation."""
    for side in ("external", "internal"):
        single, ranged = f"{side}_port", f"{side}_port_range"
        if changes.get(single) is not None:
            item[ranged] = f"{changes[single]}:{changes[single]}"
        elif item.get(ranged) is None:
            raise _bad(f"{single} or {ranged} must be specified")
        lo, hi = _span(item[ranged])
        item[single] = lo if lo == hi else None
    ext_lo, ext_hi = _span(item["external_port_range"])
    int_lo, int_hi = _span(item["internal_port_range"])
    if int_hi > int_lo and int_hi - int_lo != ext_hi - ext_lo:
        raise _bad(
            "Invalid ranges of internal and/or external ports. The relation between internal "
            "and external ports must be N-N or 1-N"
        )


def _collisions(uow: UnitOfWork, item: Item) -> None:
    """Neutron's `_check_port_collisions`: no other forwarding of the same protocol overlaps
    this one's internal range on the same internal address, or its external range on the
    same floating IP."""
    t = resource.table
    same = (t.c.protocol == item["protocol"], t.c.id != item["id"])
    checks: list[tuple[str, Any]] = [
        (
            "internal_port_range",
            sa.and_(
                t.c.internal_port_id == item["internal_port_id"],
                t.c.internal_ip_address == item["internal_ip_address"],
                *same,
            ),
        ),
        ("external_port_range", sa.and_(t.c.floatingip_id == item["floatingip_id"], *same)),
    ]
    for key, where in checks:
        lo, hi = _span(item[key])
        for (existing,) in uow.execute(sa.select(t.c[key]).where(where)):
            a, b = _span(existing)
            if max(a, lo) <= min(b, hi):
                raise _bad(
                    f"There is a port collision with the {key}. The following ranges collide: "
                    f"{existing} and {item[key]}"
                )


def _no_floating_ip(uow: UnitOfWork, item: Item) -> None:
    """Neutron's `_check_port_has_binding_floating_ip`: the internal port has no floating IP."""
    t = floatingip.resource.table
    found = uow.execute(
        sa.select(t.c.id, t.c.floating_ip_address).where(t.c.port_id == item["internal_port_id"])
    ).first()
    if found is not None:
        raise errors.PortHasBindingFloatingIP(
            floating_ip_address=found.floating_ip_address,
            fip_id=found.id,
            port_id=item["internal_port_id"],
            fixed_ip=item["internal_ip_address"],
        )


def _router(uow: UnitOfWork, item: Item, fip: Item) -> str:
    """The router that reaches the internal address from the floating IP's network
    (`_find_a_router_for_fip_port_forwarding`), which must be the floating IP's own."""
    internal = crud.fetch(uow, port.resource, Context.system(), item["internal_port_id"])
    v4 = [
        f for f in internal["fixed_ips"] or [] if ipaddress.ip_address(f["ip_address"]).version == 4
    ]
    if not v4:
        raise _bad(
            f"Requested internal port {internal['id']} must allocate an IPv4 address at least"
        )
    chosen = next((f for f in v4 if f["ip_address"] == item["internal_ip_address"]), None)
    if chosen is None:
        shown = [{"subnet_id": f["subnet_id"], "ip_address": f["ip_address"]} for f in v4]
        raise _bad(
            f"Requested internal IP address {item['internal_ip_address']} is not suitable for "
            f"internal neutron port {internal['id']}, as its fixed_ips are {shown}"
        )
    found = floatingip.router_for(
        uow, internal["network_id"], chosen["subnet_id"], fip["floating_network_id"]
    )
    if found is None:
        raise _bad(
            f"External network {fip['floating_network_id']} is not reachable from subnet "
            f"{chosen['subnet_id']}. Cannot set Port forwarding for port {internal['id']} "
            f"with Floating IP {fip['id']}"
        )
    if fip["router_id"] and fip["router_id"] != found:
        raise _bad(
            f"The Floating IP {fip['id']} had been set on router {fip['router_id']}, the "
            f"internal Neutron port {internal['id']} can not reach it"
        )
    return found


def _internal_ip(uow: UnitOfWork, item: Item) -> None:
    """Neutron's `_check_port_forwarding_update`: the internal address is the port's."""
    internal = crud.fetch(uow, port.resource, Context.system(), item["internal_port_id"])
    fixed = internal["fixed_ips"] or []
    if not any(f["ip_address"] == item["internal_ip_address"] for f in fixed):
        raise _bad(
            "The internal IP does not correspond to an address on the internal port, which "
            f"has fixed_ips {fixed}"
        )


def _set_router(uow: UnitOfWork, fip_id: str, router_id: str | None) -> None:
    """The floating IP's router (DOWN without one: nothing forwards it any more)."""
    t = floatingip.resource.table
    values: dict[str, Any] = {"router_id": router_id}
    if router_id is None:
        values["status"] = "DOWN"
    uow.execute(t.update().where(t.c.id == fip_id).values(**values))


def _log_router(uow: UnitOfWork, router_id: str | None) -> None:
    """The router's state holds its forwardings: publish it again."""
    if router_id:
        uow.log("router", router_id, "update", 0)


class PortForwardingHooks(Hooks):
    """Neutron's checks; the floating IP's router; the router republished on every change."""

    def _fip(self, uow: UnitOfWork, fip_id: str) -> Item:
        """The floating IP, its row locked for the checks that follow."""
        return crud.fetch(uow, floatingip.resource, Context.system(), fip_id, for_update=True)

    def before_create(self, uow: UnitOfWork, ctx: Context, item: Item) -> None:
        fip = self._fip(uow, item["floatingip_id"])
        item["project_id"] = fip["project_id"]
        _read_ports(item, item)
        _collisions(uow, item)
        _no_floating_ip(uow, item)
        if fip["port_id"]:
            raise errors.FloatingIPPortAlreadyAssociated(
                port_id=item["internal_port_id"],
                fip_id=fip["id"],
                floating_ip_address=fip["floating_ip_address"],
                fixed_ip=item["internal_ip_address"],
                net_id=fip["floating_network_id"],
            )
        router_id = _router(uow, item, fip)
        if not fip["router_id"]:
            _set_router(uow, fip["id"], router_id)
        _log_router(uow, router_id)

    def before_update(self, uow: UnitOfWork, ctx: Context, old: Item, changes: Item) -> None:
        fip = self._fip(uow, old["floatingip_id"])
        new = {**old, **changes}
        _read_ports(new, changes)
        for key in ("external_port", "external_port_range", "internal_port", "internal_port_range"):
            changes[key] = new[key]
        if new["internal_port_id"] != old["internal_port_id"]:
            _no_floating_ip(uow, new)
            _router(uow, new, fip)
        else:
            _internal_ip(uow, new)
        _collisions(uow, new)
        _log_router(uow, fip["router_id"])

    def before_delete(self, uow: UnitOfWork, ctx: Context, item: Item) -> None:
        fip = self._fip(uow, item["floatingip_id"])
        t = resource.table
        others = uow.execute(
            sa.select(t.c.id).where(
                t.c.floatingip_id == item["floatingip_id"], t.c.id != item["id"]
            )
        ).first()
        if others is None:
            _set_router(uow, fip["id"], None)
        _log_router(uow, fip["router_id"])

    def filters(self) -> dict[str, Any]:
        def refuse(name: str) -> Any:
            def clause(values: list[str]) -> sa.ColumnElement[bool]:
                raise errors.PortForwardingNotSupportFilterField(filter=name)

            return clause

        return {name: refuse(name) for name in _NO_FILTER}

    def change_scope(self, item: Item) -> tuple[str | None, str | None]:
        return None, None


def _port_updated(uow: UnitOfWork, ctx: Context, old: Item, new: Item) -> None:
    """Neutron's `_process_port_request`: a port that no longer holds an internal address of
    its forwardings loses those forwardings."""
    if old["fixed_ips"] == new["fixed_ips"]:
        return
    kept = {f["ip_address"] for f in new["fixed_ips"] or []}
    t = resource.table
    rows = uow.execute(
        sa.select(t.c.id, t.c.internal_ip_address).where(t.c.internal_port_id == new["id"])
    )
    for gone in [r.id for r in rows if r.internal_ip_address not in kept]:
        crud.delete(uow, resource, Context.system(), gone)


def install() -> None:
    """Follow ports' address changes."""
    events.on_updated(port.resource.name, _port_updated)
