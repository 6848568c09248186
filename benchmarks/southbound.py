"""Southbound benchmark: commit -> publish -> host ack, and a host joining, at 1k and 10k hosts.

Usage:
  .venv/bin/python benchmarks/southbound.py                 # 1,000 and 10,000 hosts
  options: --hosts 1000,10000 --ports 10000 --samples 30 --postgres --json PATH

Setup per host count: a nats-server on a free port, a SQLite (or throwaway PostgreSQL)
database, the `Southbound` service and a fleet of simulated hosts, all in this one process
(so server and hosts share one GIL: figures are pessimistic), one network of `--ports` ports
spread round-robin over the hosts, every port ACTIVE before measuring.

Per sample, one port is created on a random host through `Database.write_sync` (the API's
write path) and we take, from the change log's commit time:
  publish   port_provisioning.published_at (compiler handed the batch to NATS)
  ack       the host's StatusReport sent_at (port_provisioning.reported_at)
  active    the port's status write (updated_at of the ACTIVE revision)
  neighbors the moment the fleet applied the NeighborDelta (every host on the network shares
            the fleet's one view of it, so this is "every host that must know")
Host join: a host with 100 ports (bound beforehand) starts: register + full state over NATS,
then the network's neighbour table; plus the full-state query alone.
Group join: every bound port is in group "web", whose rule admits group "members" (1,000
unbound member ports), so every host follows the members' address set. Per sample one port
joins "members"; from its commit to the moment the last following host applied the one
AddressSetDelta (`Fleet.group_applies`).
Goals on this machine: publish <= 20 ms, all affected hosts acked <= 500 ms at 1,000 hosts,
full state of a 100-port host in a 10,000-port network <= 100 ms, a group join applied by
all 1,000 following hosts <= 200 ms p99.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import random
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from alcor.config import ServerSettings  # noqa: E402
from alcor.southbound import build  # noqa: E402
from alcor.southbound.nats_server import running  # noqa: E402
from alcor.southbound.protocol import goalstate_pb2 as pb  # noqa: E402
from alcor.southbound.protocol import subjects  # noqa: E402
from alcor.southbound.service import Southbound  # noqa: E402
from alcor.southbound.sim import Fleet  # noqa: E402
from alcor.store.db import Database  # noqa: E402
from alcor.store.schema import changelog, port_provisioning  # noqa: E402
from benchmarks import plots, stats  # noqa: E402
from tests.scale import southbound_rows as rows  # noqa: E402

JOIN_HOST = "join-00000"
JOIN_PORTS = 100


GROUP_MEMBERS = 1000


def port_row(uow: Any, i: int, nid: str, sid: str, host: str, group: str) -> dict[str, Any]:
    """Port number `i` (id, MAC and IP derived from it) in `group`, logged like an API create."""
    pid = str(uuid.UUID(int=i + 1))
    uow.log("port", pid, "create", 1, network_id=nid, host_id=host or None, project_id=rows.PROJECT)
    return {
        "id": pid,
        "name": "",
        "project_id": rows.PROJECT,
        "network_id": nid,
        "mac_address": "fa:16:3e:" + ":".join(f"{i >> s & 255:02x}" for s in (16, 8, 0)),
        "fixed_ips": [{"subnet_id": sid, "ip_address": f"10.{i >> 16}.{i >> 8 & 255}.{i & 255}"}],
        "admin_state_up": True,
        "status": "DOWN",
        "device_id": f"vm{i}",
        "device_owner": "compute:nova",
        "binding_host_id": host,
        "binding_vif_type": "ovs" if host else "unbound",
        "allowed_address_pairs": [],
        "port_security_enabled": True,
        "security_groups": [group],
        "extra_dhcp_opts": [],
        "dns_name": "",
        "revision_number": 1,
        "created_at": uow.now,
        "updated_at": uow.now,
    }


MEMBER_HOST = "members-elsewhere"  # where the remote group's members live (no sim agent)


def populate(
    uow: Any, nid: str, sid: str, hosts: list[str], count: int, web: str, members: str
) -> None:
    """`count` bound ports in `web` and GROUP_MEMBERS in `members` (bound to MEMBER_HOST, a
    host outside the fleet: a group's address set holds its bound members), in one
    transaction."""
    batch = [
        port_row(uow, i, nid, sid, JOIN_HOST if i < JOIN_PORTS else hosts[i % len(hosts)], web)
        for i in range(count)
    ]
    batch += [
        port_row(uow, count + i, nid, sid, MEMBER_HOST, members) for i in range(GROUP_MEMBERS)
    ]
    uow.execute(rows.ports.insert(), batch)
    uow.execute(
        rows.port_groups.insert(),
        [
            {
                "port_id": p["id"],
                "security_group_id": p["security_groups"][0],
                "host": p["binding_host_id"],
            }
            for p in batch
        ],
    )


def groups(uow: Any) -> tuple[str, str]:
    """Group "web", whose one rule admits group "members"; returns (web, members)."""
    web, members = rows.new_group(uow, "web"), rows.new_group(uow, "members")
    rows.new_rule(uow, web, {"remote_group_id": members, "protocol": "tcp"})
    return web, members


def log_entry(conn: sa.Connection, pid: str) -> Any:
    stmt = sa.select(changelog.c.seq, changelog.c.committed_at).where(
        changelog.c.resource_id == pid
    )
    return conn.execute(stmt).first()


def count_active(conn: sa.Connection, nid: str) -> int:
    t = rows.ports
    stmt = sa.select(sa.func.count()).where(
        t.c.network_id == nid, t.c.status == "ACTIVE", t.c.binding_host_id != JOIN_HOST
    )
    return int(conn.execute(stmt).scalar_one())


def sample_row(conn: sa.Connection, pid: str) -> Any:
    t = rows.ports
    stmt = (
        sa.select(t.c.status, t.c.updated_at, port_provisioning)
        .select_from(t.outerjoin(port_provisioning, port_provisioning.c.port_id == t.c.id))
        .where(t.c.id == pid)
    )
    return conn.execute(stmt).mappings().first()


def _ms(values: list[float]) -> dict[str, float]:
    return stats.summary(values, ("p50", "p95", "p99", "max"), 2)


async def until(pred: Any, timeout: float, what: str) -> None:
    end = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > end:
            raise TimeoutError(what)
        await asyncio.sleep(0.005)


async def run_one(db_url: str, n_hosts: int, n_ports: int, samples: int) -> dict[str, Any]:
    result: dict[str, Any] = {"hosts": n_hosts, "ports": n_ports}
    db = Database(db_url)
    rows.create_schema(db)
    with running() as nats_srv, tempfile.TemporaryDirectory() as tmp:
        conf = ServerSettings(nats_url=nats_srv.url, state_dir=tmp, agent_down_time=75.0)
        service = Southbound(db, conf)
        await service.start()
        fleet = Fleet(nats_srv.url, n_hosts, "bench")
        try:
            nid, sid = db.write_sync(rows.new_network, 500, "10.0.0.0/8")
            web, members = db.write_sync(groups)
            t0 = time.perf_counter()
            db.write_sync(populate, nid, sid, list(fleet.hosts), n_ports, web, members)
            result["populate_s"] = round(time.perf_counter() - t0, 2)
            t0 = time.perf_counter()
            await fleet.start()
            result["fleet_start_s"] = round(time.perf_counter() - t0, 2)
            t0 = time.perf_counter()
            expect = n_ports - JOIN_PORTS
            await until(lambda: db.read_sync(count_active, nid) == expect, 600, "all ACTIVE")
            result["initial_all_active_s"] = round(time.perf_counter() - t0, 2)
            await asyncio.sleep(1.0)

            rng = random.Random(1)
            hosts = list(fleet.hosts)
            publish, ack, active, neigh = [], [], [], []
            view = fleet.views[nid]
            for i in range(samples):
                host = rng.choice(hosts)
                pid = await asyncio.to_thread(
                    db.write_sync, rows.new_port, nid, sid, n_ports + 1000 + i, host
                )
                await until(
                    lambda p=pid: (
                        (r := db.read_sync(sample_row, p)) is not None
                        and r["status"] == "ACTIVE"
                        and r["published_at"] is not None
                    ),
                    30,
                    "sample ACTIVE",
                )
                r = db.read_sync(sample_row, pid)
                await until(lambda p=pid: p in view.table, 30, "neighbour applied")
                seq = max(s for s in view.applied_at)
                base = r["committed_at"]
                publish.append((r["published_at"] - base) * 1000)
                ack.append((r["reported_at"] - base) * 1000)
                active.append((r["updated_at"] - base) * 1000)
                neigh.append((view.applied_at[seq] - base) * 1000)
                await asyncio.sleep(0.05)
            result["publish_ms"] = _ms(publish)
            result["host_ack_ms"] = _ms(ack)
            result["active_ms"] = _ms(active)
            result["neighbors_applied_ms"] = _ms(neigh)

            # One port joins a group that every host follows: one AddressSetDelta, N applies.
            following = {h for h, host in fleet.hosts.items() if members in host.following}
            result["group_members"] = GROUP_MEMBERS
            result["group_following_hosts"] = len(following)
            all_applied, received = [], fleet.group_received
            applies = fleet.group_applies
            for i in range(samples):
                pid = await asyncio.to_thread(
                    db.write_sync,
                    rows.new_port,
                    nid,
                    sid,
                    n_ports + 5000 + i,
                    MEMBER_HOST,
                    (members,),
                )
                seq, committed_at = db.read_sync(log_entry, pid)
                await until(
                    lambda s=seq: len(applies.get((members, s), {})) == len(following),
                    30,
                    "group join applied everywhere",
                )
                all_applied.append((max(applies[(members, seq)].values()) - committed_at) * 1000)
                await asyncio.sleep(0.05)
            result["group_join_all_applied_ms"] = _ms(all_applied)
            result["group_deliveries_per_join"] = (fleet.group_received - received) / samples

            # A host joining: its 100 ports were bound before it existed.
            joiner = Fleet(nats_srv.url, 1, "join")
            t0 = time.perf_counter()
            await joiner.start()
            host = joiner.hosts[JOIN_HOST]
            result["join_full_state_ms"] = round((time.perf_counter() - t0) * 1000, 1)
            assert len(host.ports) == JOIN_PORTS, len(host.ports)
            await until(
                lambda: (
                    nid in joiner.views
                    and not joiner.views[nid].stream.syncing
                    and joiner.views[nid].table
                ),
                60,
                "joiner neighbour table",
            )
            result["join_with_neighbors_ms"] = round((time.perf_counter() - t0) * 1000, 1)
            result["neighbor_table_entries"] = len(joiner.views[nid].table)
            await joiner.stop()
            q = []
            for _ in range(10):
                t0 = time.perf_counter()
                db.read_sync(build.host_goal_states, [JOIN_HOST])
                q.append((time.perf_counter() - t0) * 1000)
            result["full_state_query_ms"] = _ms(q)
            assert service.nc is not None
            rpc = []
            req = pb.HostStateRequest(host_id=JOIN_HOST).SerializeToString()
            for _ in range(10):
                t0 = time.perf_counter()
                await service.nc.request(
                    subjects.of_host(subjects.RPC_HOST_STATE, JOIN_HOST), req, 10
                )
                rpc.append((time.perf_counter() - t0) * 1000)
            result["full_state_rpc_ms"] = _ms(rpc)
        finally:
            await fleet.stop()
            await service.stop()
            db.close()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--hosts", default="1000,10000")
    parser.add_argument("--ports", type=int, default=10000)
    parser.add_argument("--samples", type=int, default=30)
    parser.add_argument("--postgres", action="store_true")
    parser.add_argument("--json", default=None)
    plots.add_flag(parser)
    args = parser.parse_args()
    results = []
    with contextlib.ExitStack() as stack:
        for n in (int(x) for x in args.hosts.split(",")):
            tmp = stack.enter_context(tempfile.TemporaryDirectory())
            if args.postgres:
                from tests.support.postgres import PostgresServer, find_bin_dir

                pg = stack.enter_context(PostgresServer(find_bin_dir()))
                url = pg.create_database(f"sb{n}")
            else:
                url = f"sqlite:///{tmp}/sb.db"
            print(f"running {n} hosts, {args.ports} ports ...", file=sys.stderr)
            results.append(asyncio.run(run_one(url, n, args.ports, args.samples)))
    backend = "postgresql" if args.postgres else "sqlite"
    header = (
        "hosts",
        "publish p50/p95",
        "ack p50/p95",
        "ACTIVE p50/p95",
        "neigh p50/p95",
        "group join all hosts p50/p99",
        "join",
        "join+table",
        "state query p50",
        "state rpc p50",
        "fleet start",
    )
    print(" | ".join(header))
    for r in results:

        def pp(k: str, r: dict[str, Any] = r) -> str:
            return f"{r[k]['p50']}/{r[k]['p95']} ms"

        print(
            " | ".join(
                [
                    str(r["hosts"]),
                    pp("publish_ms"),
                    pp("host_ack_ms"),
                    pp("active_ms"),
                    pp("neighbors_applied_ms"),
                    f"{r['group_join_all_applied_ms']['p50']}/"
                    f"{r['group_join_all_applied_ms']['p99']} ms"
                    f" ({r['group_following_hosts']} hosts)",
                    f"{r['join_full_state_ms']} ms",
                    f"{r['join_with_neighbors_ms']} ms",
                    f"{r['full_state_query_ms']['p50']} ms",
                    f"{r['full_state_rpc_ms']['p50']} ms",
                    f"{r['fleet_start_s']} s",
                ]
            )
        )
    out = Path(
        args.json
        or ROOT
        / "benchmarks"
        / "results"
        / ("southbound.json" if backend == "sqlite" else "southbound-postgresql.json")
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"backend": backend, "results": results}, indent=2) + "\n")
    print(f"wrote {out}", file=sys.stderr)
    if args.plot is not None:
        plots.render(out, args.plot)


if __name__ == "__main__":
    main()
