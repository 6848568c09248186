"""Restarts and competing servers: the hosts end holding exactly what the database implies."""

from __future__ import annotations

import asyncio
import itertools
import random
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from alcor.southbound.compiler import CURSOR
from alcor.southbound.nats_server import NatsServer
from alcor.southbound.protocol import goalstate_pb2 as pb
from alcor.southbound.sim import Fleet
from alcor.store.db import Database
from alcor.store.schema import changelog, subject_seqs
from tests.scale import southbound_rows as rows
from tests.scale.conftest import converged, settings, start_southbound, wait_for


async def no_tasks_left() -> None:
    """After every service stopped, nothing may still run: a task left behind that ignores
    cancellation would hang asyncio.run's clean-up, so fail here, naming it, instead."""
    left = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
    for task in left:
        task.cancel()
    _done, stuck = await asyncio.wait(left, timeout=5) if left else (set(), set())
    assert not stuck, f"tasks ignoring cancellation after stop(): {stuck}"


async def churn(
    db: Database,
    nid: str,
    sid: str,
    hosts: list[str],
    steps: int,
    at: dict[int, Any],
    rng: random.Random,
) -> list[str]:
    """Random creates, rebinds, updates and deletes; `at[i]()` is awaited before step i."""
    live: list[str] = []
    for i in range(steps):
        if i in at:
            await at[i]()
        roll = rng.random()
        if roll < 0.5 or len(live) < 5:
            live.append(
                await asyncio.to_thread(
                    db.write_sync, rows.new_port, nid, sid, i, rng.choice(hosts)
                )
            )
        elif roll < 0.7:
            await asyncio.to_thread(
                db.write_sync,
                rows.update_port,
                rng.choice(live),
                {"binding_host_id": rng.choice(hosts)},
            )
        elif roll < 0.85:
            await asyncio.to_thread(
                db.write_sync, rows.update_port, rng.choice(live), {"dns_name": f"n{i}"}
            )
        else:
            pid = live.pop(rng.randrange(len(live)))
            await asyncio.to_thread(db.write_sync, rows.delete_port, pid)
        await asyncio.sleep(rng.random() * 0.01)
    return live


def all_active(db: Database, ports: list[str]) -> bool:
    return all(rows.port_row(db, p)["status"] == "ACTIVE" for p in ports)


@pytest.mark.slow
def test_server_and_nats_restarts_mid_stream_converge(
    sb_db: Database, nats_srv: NatsServer, tmp_path: Path
) -> None:
    async def main() -> None:
        conf = settings(nats_srv, tmp_path)
        services = [await start_southbound(sb_db, conf)]
        fleet = Fleet(nats_srv.url, 12, "rs")
        await fleet.start()
        nid, sid = sb_db.write_sync(rows.new_network, 300)

        async def restart_server() -> None:
            await services[0].stop()
            services[0] = await start_southbound(sb_db, conf)

        async def restart_nats() -> None:
            await asyncio.to_thread(nats_srv.kill)
            await asyncio.sleep(0.3)
            await nats_srv.astart()  # the child dies with the thread that starts it

        try:
            live = await churn(
                sb_db,
                nid,
                sid,
                list(fleet.hosts),
                150,
                {50: restart_server, 100: restart_nats},
                random.Random(7),
            )
            await converged(sb_db, fleet, timeout=40)
            await wait_for(lambda: all_active(sb_db, live), timeout=20, what="all ACTIVE")
        finally:
            await fleet.stop()
            await services[0].stop()

    asyncio.run(main())


@pytest.mark.slow
def test_two_compilers_publish_each_change_once_in_order(
    sb_db: Database, nats_srv: NatsServer, tmp_path: Path
) -> None:
    async def main() -> None:
        conf = settings(nats_srv, tmp_path)
        a = await start_southbound(sb_db, conf)
        b = await start_southbound(sb_db, conf)
        fleet = Fleet(nats_srv.url, 6, "two")
        await fleet.start()
        seen: dict[str, list[tuple[int, int]]] = {}

        async def record(msg: Any) -> None:
            kind = pb.HostDelta if ".host." in msg.subject else pb.NeighborDelta
            delta = kind.FromString(msg.data)
            seen.setdefault(msg.subject, []).append((delta.prev_seq, delta.seq))

        sub_host = await fleet.nc.subscribe("alcor.host.>", cb=record)
        sub_net = await fleet.nc.subscribe("alcor.net.>", cb=record)
        nid, sid = sb_db.write_sync(rows.new_network, 301)

        def cursor_done(db: Database) -> bool:
            def q(conn: sa.Connection) -> bool:
                last = conn.execute(sa.select(sa.func.max(changelog.c.seq))).scalar()
                cur = conn.execute(
                    sa.select(subject_seqs.c.seq).where(subject_seqs.c.subject == CURSOR)
                ).scalar()
                return last == cur

            return bool(db.read_sync(q))

        async def hand_over() -> None:
            holder = a if a.compiler and a.compiler.lease.held() else b
            await holder.stop()

        try:
            live = await churn(
                sb_db, nid, sid, list(fleet.hosts), 120, {60: hand_over}, random.Random(11)
            )
            await converged(sb_db, fleet, timeout=30)
            await wait_for(lambda: all_active(sb_db, live), timeout=20, what="all ACTIVE")
            await wait_for(lambda: cursor_done(sb_db), what="cursor at the end of the log")
            await asyncio.sleep(0.3)
            for subject, chain in seen.items():
                for (_, seq), (prev, nxt) in itertools.pairwise(chain):
                    assert prev == seq and nxt > seq, f"{subject}: {chain}"
        finally:
            await sub_host.unsubscribe()
            await sub_net.unsubscribe()
            await fleet.stop()
            await a.stop()
            await b.stop()
            await no_tasks_left()

    asyncio.run(main())
