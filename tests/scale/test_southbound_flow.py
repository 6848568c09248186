"""End to end over a real nats-server and database: compile, publish, ack, liveness, resync."""

from __future__ import annotations

import asyncio
from pathlib import Path

from alcor.southbound.nats_server import NatsServer
from alcor.southbound.sim import Fleet
from alcor.store.db import Database
from alcor.store.provisioning import timeline
from tests.scale import southbound_rows as rows
from tests.scale.conftest import converged, settings, start_southbound, wait_for


def test_port_active_only_after_its_host_acks(
    sb_db: Database, nats_srv: NatsServer, tmp_path: Path
) -> None:
    async def main() -> None:
        service = await start_southbound(sb_db, settings(nats_srv, tmp_path))
        fleet = Fleet(nats_srv.url, 3, "flow")
        await fleet.start()
        try:
            nid, sid = sb_db.write_sync(rows.new_network, 200)
            ghost = sb_db.write_sync(rows.new_port, nid, sid, 0, "no-such-host")
            pid = sb_db.write_sync(rows.new_port, nid, sid, 1, "flow-00001")
            assert rows.port_row(sb_db, pid)["status"] == "DOWN"
            await wait_for(lambda: rows.port_row(sb_db, pid)["status"] == "ACTIVE", what="ACTIVE")
            # The compiler stamps published_at just after the flush; the ack may beat it.
            await wait_for(
                lambda: sb_db.read_sync(timeline, pid).get("published_at"),
                what="timeline stamped",
            )
            line = sb_db.read_sync(timeline, pid)
            assert line["state"] == "SUCCESS" and line["host_id"] == "flow-00001"
            assert line["committed_at"] <= line["published_at"] <= line["reported_at"]
            assert rows.port_row(sb_db, ghost)["status"] == "DOWN"  # nobody acked it
            await converged(sb_db, fleet)
            # The neighbour table reached the host with both bound ports.
            view = fleet.views[nid]
            assert set(view.table) == {pid, ghost}
        finally:
            await fleet.stop()
            await service.stop()

    asyncio.run(main())


def test_dead_host_ports_go_down_and_come_back_with_the_host(
    sb_db: Database, nats_srv: NatsServer, tmp_path: Path
) -> None:
    async def main() -> None:
        service = await start_southbound(sb_db, settings(nats_srv, tmp_path, down_time=1.5))
        fleet = Fleet(nats_srv.url, 2, "dead")
        await fleet.start()
        try:
            nid, sid = sb_db.write_sync(rows.new_network, 201)
            a = sb_db.write_sync(rows.new_port, nid, sid, 1, "dead-00000")
            b = sb_db.write_sync(rows.new_port, nid, sid, 2, "dead-00001")
            await wait_for(
                lambda: all(rows.port_row(sb_db, p)["status"] == "ACTIVE" for p in (a, b)),
                what="both ACTIVE",
            )
            await fleet.hosts["dead-00000"].stop()
            await wait_for(
                lambda: rows.port_row(sb_db, a)["status"] == "DOWN",
                timeout=10,
                what="DOWN after the host died",
            )
            assert rows.port_row(sb_db, b)["status"] == "ACTIVE"
            # A host that only fell silent (still connected, holding its state) is taken for
            # dead too, and gets its ports back when heard from again, without re-reporting.
            silent = fleet.hosts["dead-00001"]
            silent.alive = False
            await wait_for(
                lambda: rows.port_row(sb_db, b)["status"] == "DOWN",
                timeout=10,
                what="DOWN while the host is silent",
            )
            acks = fleet.acks_sent
            silent.alive = True
            await wait_for(
                lambda: rows.port_row(sb_db, b)["status"] == "ACTIVE",
                timeout=10,
                what="ACTIVE again once the host heartbeats",
            )
            assert fleet.acks_sent == acks
        finally:
            await fleet.stop()
            await service.stop()

    asyncio.run(main())


def test_missed_messages_are_detected_and_resynced(
    sb_db: Database, nats_srv: NatsServer, tmp_path: Path
) -> None:
    async def main() -> None:
        service = await start_southbound(sb_db, settings(nats_srv, tmp_path))
        fleet = Fleet(nats_srv.url, 2, "gap")
        await fleet.start()
        host = fleet.hosts["gap-00000"]
        try:
            nid, sid = sb_db.write_sync(rows.new_network, 202)
            first = sb_db.write_sync(rows.new_port, nid, sid, 1, host.host_id)
            await wait_for(lambda: first in host.ports, what="first port")
            resyncs = host.stream.resyncs
            await host.pause()  # a partition: these deltas never arrive
            missed = [
                sb_db.write_sync(rows.new_port, nid, sid, i, host.host_id) for i in range(2, 5)
            ]
            sb_db.write_sync(rows.update_port, first, {"dns_name": "renamed"})
            await asyncio.sleep(0.3)
            assert not set(missed) & set(host.ports)
            await host.resume()
            last = sb_db.write_sync(rows.new_port, nid, sid, 9, host.host_id)
            await wait_for(lambda: last in host.ports, what="resync")
            assert host.stream.resyncs == resyncs + 1
            assert set(missed) <= set(host.ports)
            assert host.ports[first].dns_name == "renamed"
            await converged(sb_db, fleet)
        finally:
            await fleet.stop()
            await service.stop()

    asyncio.run(main())
