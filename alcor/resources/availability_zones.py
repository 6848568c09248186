"""Availability zones (`availability_zone`, `network_availability_zone`,
`router_availability_zone`, `availability_zone_filter`): zones are what the agents say they
are in (their `availability_zone` setting), nothing is declared apart.

Neutron lists a zone once per kind of agent in it (DHCP agents: resource "network"; L3
agents: "router"), `available` while one of them is administratively up. Every agent here is
both (it answers DHCP and routes for its own VMs), so each zone is listed for both resources.
A network is in the zones of the hosts serving it (those with a bound port on it: they answer
its DHCP), a router in the zones of the hosts routing it (those on its networks). Hints name
zones that must exist; the SNAT placement (`alcor.southbound.gateways`) honours a router's.
A read-only view over `hosts` and ports, so it has no table, declaration or hooks of its own.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from alcor import errors
from alcor.resources.declarations import port
from alcor.store.schema import hosts

if TYPE_CHECKING:
    from alcor.store.db import UnitOfWork

RESOURCES = ("network", "router")
FILTERS = ("name", "resource", "state")


def _zones(conn: sa.Connection | UnitOfWork) -> dict[str, bool]:
    """zone -> whether one of its agents is administratively up."""
    out: dict[str, bool] = {}
    rows = conn.execute(
        sa.select(hosts.c.availability_zone, hosts.c.admin_state_up).where(
            hosts.c.availability_zone.is_not(None), hosts.c.availability_zone != ""
        )
    )
    for zone, up in rows:
        out[zone] = out.get(zone, False) or bool(up)
    return out


def listing(conn: sa.Connection, filters: dict[str, list[str]]) -> list[dict[str, Any]]:
    """GET /v2.0/availability_zones, filtered on name, resource and state."""
    unknown = set(filters) - set(FILTERS)
    if unknown:
        raise errors.BadRequest(
            f"[{', '.join(sorted(unknown))}] is invalid attribute for filtering"
        )
    found = [
        {"name": zone, "resource": kind, "state": "available" if up else "unavailable"}
        for zone, up in sorted(_zones(conn).items())
        for kind in RESOURCES
    ]
    return [z for z in found if all(z[k] in v for k, v in filters.items())]


def check_hints(uow: UnitOfWork, hints: list[str] | None) -> None:
    """Neutron's validate_availability_zones: every hint names a zone that exists (no query
    when there is no hint, as for most creates)."""
    if not hints:
        return
    missing = sorted(set(hints) - _zones(uow).keys())
    if missing:
        raise errors.AvailabilityZoneNotFound(availability_zone=missing[0])


def of_networks(conn: sa.Connection | UnitOfWork, net_ids: Iterable[str]) -> dict[str, list[str]]:
    """network id -> the zones of the hosts with a bound port on it (sorted)."""
    ids = list(net_ids)
    if not ids:
        return {}
    p = port.resource.table
    rows = conn.execute(
        sa.select(p.c.network_id, hosts.c.availability_zone)
        .join(hosts, hosts.c.host_id == p.c.binding_host_id)
        .where(p.c.network_id.in_(ids), hosts.c.availability_zone.is_not(None))
        .distinct()
    )
    return _collect((net_id, [zone]) for net_id, zone in rows)


def of_routers(conn: sa.Connection | UnitOfWork, router_ids: Iterable[str]) -> dict[str, list[str]]:
    """router id -> the zones of the hosts routing it (on one of its networks)."""
    ids = list(router_ids)
    if not ids:
        return {}
    p = port.resource.table
    rows = conn.execute(
        sa.select(p.c.device_id, p.c.network_id)
        .where(p.c.device_id.in_(ids), p.c.device_owner.in_(port.ROUTER_OWNERS))
        .distinct()
    ).all()
    zones = of_networks(conn, {n for _, n in rows})
    return _collect((rid, zones.get(net_id, ())) for rid, net_id in rows)


def _collect(pairs: Iterable[tuple[str, Iterable[str]]]) -> dict[str, list[str]]:
    """key -> the sorted distinct zones paired with it."""
    out: dict[str, set[str]] = {}
    for key, zones in pairs:
        out.setdefault(key, set()).update(z for z in zones if z)
    return {k: sorted(z) for k, z in out.items()}
