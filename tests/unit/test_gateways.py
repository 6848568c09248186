"""Placing routers' SNAT: rendezvous choice among live hosts that offer it and serve the
router, moved only when the placed host stops being eligible."""

from __future__ import annotations

import sqlalchemy as sa

from alcor.southbound import build, gateways
from alcor.store.db import Database, UnitOfWork
from alcor.store.schema import changelog, hosts, router_gateways
from tests.scale import southbound_rows as rows


def test_rendezvous_spreads_routers_and_moves_only_the_dead_hosts() -> None:
    hosts3 = ["h1", "h2", "h3"]
    placed = {f"r{i}": gateways.pick(f"r{i}", hosts3) for i in range(300)}
    assert {h: list(placed.values()).count(h) > 60 for h in hosts3} == dict.fromkeys(hosts3, True)
    after = {r: gateways.pick(r, ["h1", "h3"]) for r in placed}
    assert all(after[r] == h for r, h in placed.items() if h != "h2")
    assert gateways.pick("r1", []) is None


def _host(uow: UnitOfWork, host: str, snat: bool, heartbeat: float, zone: str = "nova") -> None:
    uow.execute(
        hosts.insert().values(
            host_id=host,
            id=host,
            tunnel_ip="198.18.0.1",
            configurations={"agent_mode": "dvr_snat" if snat else "dvr"},
            availability_zone=zone,
            heartbeat_at=heartbeat,
            created_at=0.0,
        )
    )


def _gateway_port(uow: UnitOfWork, rid: str, nid: str, sid: str) -> None:
    pid = rows.new_port(uow, nid, sid, 99)
    uow.execute(
        rows.ports.update()
        .where(rows.ports.c.id == pid)
        .values(device_id=rid, device_owner="network:router_gateway")
    )


def test_schedule_places_on_eligible_hosts_and_moves_off_dead_ones(db: Database) -> None:
    nid, sid = db.write_sync(rows.new_network, 250, "10.50.0.0/24")
    ext, esid = db.write_sync(rows.new_network, 251, "203.0.113.0/24")
    router = db.write_sync(rows.new_router)
    db.write_sync(rows.attach, router, nid, sid)
    db.write_sync(_gateway_port, router, ext, esid)
    for i, (host, snat) in enumerate((("h1", True), ("h2", True), ("h3", False))):
        db.write_sync(rows.new_port, nid, sid, i, host)
        db.write_sync(lambda uow, h=host, s=snat: _host(uow, h, s, uow.now))

    def placement(conn: sa.Connection) -> dict[str, str]:
        return {r.router_id: r.host_id for r in conn.execute(sa.select(router_gateways))}

    def logged(conn: sa.Connection) -> int:
        stmt = sa.select(sa.func.count()).where(
            changelog.c.resource == "router", changelog.c.resource_id == router
        )
        return int(conn.execute(stmt).scalar_one())

    assert db.write_sync(gateways.schedule, 30.0) == 1
    first = db.read_sync(placement)[router]
    assert first in {"h1", "h2"}  # h3 does not offer SNAT
    before = db.read_sync(logged)
    assert db.write_sync(gateways.schedule, 30.0) == 0  # stable: no writes, no log
    db.write_sync(
        lambda uow: uow.execute(
            hosts.update().where(hosts.c.host_id == first).values(heartbeat_at=uow.now - 60)
        )
    )
    assert db.write_sync(gateways.schedule, 30.0) == 1
    assert db.read_sync(placement)[router] == ({"h1", "h2"} - {first}).pop()
    assert db.read_sync(logged) == before + 1  # the router is published with its new host


def test_schedule_prefers_the_routers_zone_hints(db: Database) -> None:
    """A router hinted to zone "b" gets its SNAT on the one eligible host there, whatever the
    rendezvous order; once that host dies it falls back to any eligible host."""
    nid, sid = db.write_sync(rows.new_network, 252, "10.51.0.0/24")
    ext, esid = db.write_sync(rows.new_network, 253, "203.0.113.0/24")
    router = db.write_sync(rows.new_router)
    db.write_sync(
        lambda uow: uow.execute(
            build.routers_t.update()
            .where(build.routers_t.c.id == router)
            .values(availability_zone_hints=["b"])
        )
    )
    db.write_sync(rows.attach, router, nid, sid)
    db.write_sync(_gateway_port, router, ext, esid)
    for i, (host, zone) in enumerate((("za1", "a"), ("za2", "a"), ("zb1", "b"))):
        db.write_sync(rows.new_port, nid, sid, i, host)
        db.write_sync(lambda uow, h=host, z=zone: _host(uow, h, True, uow.now, z))
    db.write_sync(gateways.schedule, 30.0)

    def placed(conn: sa.Connection) -> str:
        stmt = sa.select(router_gateways.c.host_id).where(router_gateways.c.router_id == router)
        return str(conn.execute(stmt).scalar_one())

    assert db.read_sync(placed) == "zb1"
    db.write_sync(
        lambda uow: uow.execute(
            hosts.update().where(hosts.c.host_id == "zb1").values(heartbeat_at=uow.now - 60)
        )
    )
    db.write_sync(gateways.schedule, 30.0)
    assert db.read_sync(placed) in {"za1", "za2"}
