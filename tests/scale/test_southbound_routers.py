"""Routers over a real nats-server: a router travels once per change on its own subject to
exactly the hosts with a port on one of its networks, each applies it once; a host fetches a
router's whole state by RPC; interface ports turn ACTIVE once the router is published."""

from __future__ import annotations

import asyncio
from pathlib import Path

import sqlalchemy as sa

from alcor.southbound import build
from alcor.southbound.nats_server import NatsServer
from alcor.southbound.protocol import chunks, subjects
from alcor.southbound.protocol import goalstate_pb2 as pb
from alcor.southbound.service import Southbound
from alcor.southbound.sim import Fleet
from alcor.store.db import Database
from tests.scale import southbound_rows as rows
from tests.scale.conftest import converged, settings, start_southbound, wait_for


def _status(db: Database, pid: str) -> str:
    stmt = sa.select(rows.ports.c.status).where(rows.ports.c.id == pid)
    return str(db.read_sync(lambda conn: conn.execute(stmt).scalar_one()))


def _subject_seq(db: Database, router: str) -> int:
    subject = subjects.router(router)
    return db.read_sync(build.subject_seq_map, [subject]).get(subject, 0)


def _settled(db: Database, fleet: Fleet, router: str, hosts: set[str]) -> bool:
    seq = _subject_seq(db, router)
    return all(fleet.hosts[h].routers[router].stream.seq == seq for h in hosts)


def test_a_router_reaches_exactly_the_hosts_of_its_networks_once(
    sb_db: Database, nats_srv: NatsServer, tmp_path: Path
) -> None:
    left = sb_db.write_sync(rows.new_network, 240, "10.40.0.0/24")
    right = sb_db.write_sync(rows.new_network, 241, "10.41.0.0/24")
    other = sb_db.write_sync(rows.new_network, 242, "10.42.0.0/24")
    for i, (nid, sid) in enumerate((left, left, right, other)):
        sb_db.write_sync(rows.new_port, nid, sid, i, f"rtr-{i:05d}")
    router = sb_db.write_sync(rows.new_router)
    interfaces = [sb_db.write_sync(rows.attach, router, *net) for net in (left, right)]

    async def main() -> None:
        service = await start_southbound(sb_db, settings(nats_srv, tmp_path))
        fleet = Fleet(nats_srv.url, 4, "rtr")
        try:
            # Hosts start once the router is published: a host that fetches a router while
            # its first message is being published gets the current rows "as of" the older
            # seq and misses that message (harmless: same content, and the next message
            # resyncs it), which would blur the one-delivery count below.
            await wait_for(lambda: _subject_seq(sb_db, router) > 0)
            await wait_for(lambda: all(_status(sb_db, p) == "ACTIVE" for p in interfaces))
            await fleet.start()
            await _followed_once_per_change(service, fleet)
        finally:
            await fleet.stop()
            await service.stop()

    async def _followed_once_per_change(service: Southbound, fleet: Fleet) -> None:
        await converged(sb_db, fleet)  # the hash covers the routers each host follows
        following = {h for h, host in fleet.hosts.items() if router in host.routers}
        assert following == {"rtr-00000", "rtr-00001", "rtr-00002"}
        held = fleet.hosts["rtr-00002"].routers[router].state
        assert held is not None and {i.port_id for i in held.interfaces} == set(interfaces)
        assert {i.vni for i in held.interfaces} == {240, 241}
        await wait_for(lambda: _settled(sb_db, fleet, router, following))

        before, first = fleet.router_received, _subject_seq(sb_db, router)
        route = {"destination": "10.99.0.0/24", "nexthop": "10.41.0.20"}
        sb_db.write_sync(rows.set_routes, router, [route])
        await wait_for(lambda: _subject_seq(sb_db, router) > first)
        await wait_for(lambda: _settled(sb_db, fleet, router, following))
        seq = _subject_seq(sb_db, router)
        assert set(fleet.router_applies[(router, seq)]) == following
        assert fleet.router_received - before == 3  # one delivery per following host
        for h in following:
            state = fleet.hosts[h].routers[router].state
            assert state is not None and [r.nexthop for r in state.routes] == ["10.41.0.20"]

        assert service.nc is not None
        req = pb.RouterStateRequest(router_id=router, host_id="rtr-00000")
        got = await chunks.request_router(
            service.nc, subjects.RPC_ROUTER, req.SerializeToString(), 10.0
        )
        assert got.seq == seq and got.routers[0].routes[0].nexthop == "10.41.0.20"

    asyncio.run(main())
