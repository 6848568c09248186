"""Where each router does its SNAT: one live host among those that offer it, moved when that
host dies.

Why one host per router (Neutron's DVR does the same with its "snat" namespace on one network
node, OVN with its gateway chassis): outbound connections of VMs without a floating IP share the
router's one gateway address, so their translations must live in one conntrack table. Hosts
offer it with the agent setting `gateway` (reported as `agent_mode: dvr_snat`, as Neutron's L3
agents do).

Which hosts are eligible: live (heard from within `agent_down_time`), offering it, and already
routing for the router (a bound port on one of its networks): such a host follows the router's
subject and holds the neighbour tables of its networks, so it can take the gateway with no
more state than it has. A router with no eligible host has no SNAT until one appears. Among the
eligible hosts, those in one of the router's `availability_zone_hints` are preferred.

Placement is rendezvous hashing of (router, host), so routers spread over the eligible hosts
and a host coming or going moves only the routers it takes or held. It is stored in
`router_gateways` and only changed when the placed host stops being eligible (no moving back
when a dead host returns: its connections are gone anyway). A change logs the router, so the
compiler publishes it with its new SNAT host: every host then sends outbound traffic there,
and the new host answers ARP for the gateway address (gratuitous ARP on taking it).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

import sqlalchemy as sa

from alcor.southbound import build
from alcor.southbound.portstatus import upsert
from alcor.store.db import UnitOfWork
from alcor.store.schema import hosts, router_gateways

SNAT_MODE = "dvr_snat"  # `configurations.agent_mode` of a host that offers gateways


def _score(router_id: str, host_id: str) -> bytes:
    return hashlib.blake2b(f"{router_id}/{host_id}".encode(), digest_size=8).digest()


def pick(router_id: str, candidates: Iterable[str]) -> str | None:
    """The rendezvous choice among `candidates` (None when there is none)."""
    return max(candidates, key=lambda h: _score(router_id, h), default=None)


def moves(conn: sa.Connection, now: float, down_time: float) -> dict[str, str | None]:
    """router id -> its new SNAT host for every router whose placement is missing or no
    longer eligible (None: no host can take it), or "" for a placement whose router has no
    gateway any more. A read: the scheduler writes only when this finds something (most runs
    find nothing)."""
    p = build.ports_t.c
    gateway = p.device_owner == sa.literal_column(build.ROUTER_GATEWAY_SQL)  # partial index
    routers = {r.device_id for r in conn.execute(sa.select(p.device_id).where(gateway))}
    placed = {r.router_id: r.host_id for r in conn.execute(sa.select(router_gateways))}
    out: dict[str, str | None] = dict.fromkeys(placed.keys() - routers, "")
    if not routers:
        return out
    live = conn.execute(
        sa.select(hosts.c.host_id, hosts.c.configurations, hosts.c.availability_zone).where(
            hosts.c.heartbeat_at >= now - down_time, hosts.c.admin_state_up
        )
    )
    offering = {
        r.host_id: r.availability_zone
        for r in live
        if (r.configurations or {}).get("agent_mode") == SNAT_MODE
    }
    nets = build.networks_of_routers(conn, routers)
    on_net = build.hosts_on_networks(conn, {n for ns in nets.values() for n in ns})
    hints = _hints(conn, routers)
    for rid in sorted(routers):
        eligible = {h for n in nets.get(rid, ()) for h in on_net.get(n, ())} & offering.keys()
        hinted = {h for h in eligible if offering[h] in hints.get(rid, ())}
        eligible = hinted or eligible
        current = placed.get(rid)
        if current in eligible:
            continue
        chosen = pick(rid, eligible)
        if chosen != current:
            out[rid] = chosen
    return out


def _hints(conn: sa.Connection, router_ids: set[str]) -> dict[str, list[str]]:
    """router id -> its `availability_zone_hints`: its SNAT goes to a host in one of them when
    one is eligible, else to any eligible host (a hint is a preference: a router whose zones
    have no eligible host still gets SNAT)."""
    t = build.routers_t
    rows = conn.execute(
        sa.select(t.c.id, t.c.availability_zone_hints).where(t.c.id.in_(sorted(router_ids)))
    )
    return {r.id: list(r.availability_zone_hints or ()) for r in rows if r.availability_zone_hints}


def schedule(uow: UnitOfWork, down_time: float) -> int:
    """Apply `moves`; a moved router is logged, so the compiler publishes its new SNAT host
    (one whose gateway went was published by that change). Returns how many changed."""
    found = moves(uow.conn, uow.now, down_time)
    for rid, host in sorted(found.items()):
        if host:
            row = {"router_id": rid, "host_id": host, "placed_at": uow.now}
            upsert(uow, router_gateways, [row], ["router_id"])
        else:
            uow.execute(router_gateways.delete().where(router_gateways.c.router_id == rid))
        if host != "":
            uow.log("router", rid, "update", 0)
    return len(found)
