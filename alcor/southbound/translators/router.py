"""Routers: a changed router goes whole, once, on its own subject.

Routing is distributed: every host with a port on a network the router has an interface on
routes for it locally, so each of them needs the whole router (interfaces with their MACs,
subnets and VNIs, extra routes). It travels once per change on the router's subject, never
copied per host; hosts learn which routers to follow from `NetworkState.router_ids`, which is
why adding or removing an interface also logs its network (`rules.router`).

An interface port is `ACTIVE` once the router state holding it is published (distributed:
there is no one host whose report could say more; each host concerned programs it from this
very message), also while the router is administratively down, as OVN reports a router's
ports (the interface exists and is programmed; the router just does not route, and
tempest's router tests wait for exactly that). The gateway port likewise once published
with a SNAT host placed (that host programs it from the message; without SNAT, every host's
floating IPs use it), `DOWN` while no host can take it; so do the floating IPs with port
forwardings, which that host forwards. Written in the transaction that records the publish,
like a bound port's provisioning stamp.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

from alcor.southbound import build
from alcor.southbound.portstatus import lock_ports, set_status
from alcor.southbound.protocol import goalstate_pb2 as pb
from alcor.southbound.translate import ROUTERS, Context, LogRow, Output, Render, Translator
from alcor.store.db import UnitOfWork


def plan(changes: Sequence[LogRow], ctx: Context) -> Render:
    last = {r["resource_id"]: r for r in changes}
    ctx.want(last, build.load_routers)
    return functools.partial(_render, last, ctx)


def _render(last: dict[str, LogRow], ctx: Context, out: Output) -> None:
    routers = ctx.rows(build.load_routers)
    statuses: dict[str, str] = {}
    forwarded: dict[str, str] = {}  # floating IPs with port forwardings -> their status
    for rid, change in sorted(last.items()):
        state = routers.get(rid)
        msg = out.delta(ROUTERS, rid, change)
        del msg.routers[:]
        if state is None:
            msg.routers.append(pb.RouterState(id=rid, op=pb.DELETE, revision=change["seq"]))
            continue
        state.revision = change["seq"]
        msg.routers.append(state)
        statuses.update((i.port_id, "ACTIVE") for i in state.interfaces)
        gw = state.gateway
        if gw.port_id:
            placed = gw.snat_host or not gw.enable_snat
            statuses[gw.port_id] = "ACTIVE" if placed else "DOWN"
        forwarded.update(
            (pf.floatingip_id, "ACTIVE" if gw.snat_host else "DOWN")
            for pf in state.port_forwardings
        )
    if statuses:
        out.records.append(functools.partial(_interface_status, statuses))
    if forwarded:
        out.records.append(functools.partial(_forwarded_status, forwarded))


def _interface_status(statuses: dict[str, str], uow: UnitOfWork) -> None:
    ports = lock_ports(uow, statuses)
    set_status(uow, [(row, statuses[pid]) for pid, row in ports.items()])


def _forwarded_status(statuses: dict[str, str], uow: UnitOfWork) -> None:
    """A floating IP with port forwardings is ACTIVE once its router is published with a SNAT
    host placed (that host forwards for it, programmed from this very message; as Neutron's
    drivers set it once they configured the forwarding), DOWN while none can take it."""
    f = build.fips_t
    for fid, status in sorted(statuses.items()):
        uow.execute(
            f.update()
            .where(f.c.id == fid, f.c.status != status, f.c.port_id.is_(None))
            .values(status=status, revision_number=f.c.revision_number + 1, updated_at=uow.now)
        )


TRANSLATOR = Translator("router", plan)
