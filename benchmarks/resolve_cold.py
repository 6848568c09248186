"""What the server's resolve of one MAC costs called back to back and after sleeping (not in CI).

Why: the first packet to an on-demand neighbour (`benchmarks/dataplane_ondemand.py`) finds
every process on its path asleep for seconds, and its trace gives the server's part as
0.26 ms where the same work measured in a loop is a few dozen µs. This times the server's
own steps for one query in one process, on a real SQLite database of `--ports` ports in an
on-demand network: the request's parse, `build.resolve` on a kept connection (as
`RpcServer.resolve_inline` runs it) and the reply's serialisation, each after sleeping `--gaps`
seconds, so the difference is what running cold costs here (caches and predictors lost while
the vCPU halted), not anything that a faster query would remove.

Results: benchmarks/results/resolve-cold.json (`--plot`: resolve-cold.png).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import sqlalchemy as sa  # noqa: E402

from alcor.southbound import build  # noqa: E402
from alcor.southbound.protocol import goalstate_pb2 as pb  # noqa: E402
from alcor.southbound.rpc import register_hosts  # noqa: E402
from alcor.store.db import Database  # noqa: E402
from benchmarks import plots  # noqa: E402
from tests.scale import southbound_rows as rows  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results" / "resolve-cold.json"
STEPS = ("parse", "resolve", "serialise")


def _database(path: str, ports: int) -> tuple[Database, str, list[str]]:
    """A database with `ports` bound ports in one on-demand network; their MACs."""
    db = Database(f"sqlite:///{path}")
    rows.create_schema(db)
    db.write_sync(register_hosts, [pb.AgentInfo(host_id="h2", tunnel_ip="198.18.0.2")])
    nid, sid = db.write_sync(rows.new_network, 150)
    db.write_sync(
        lambda uow: uow.execute(
            sa.update(build.networks_t)
            .where(build.networks_t.c.id == nid)
            .values(alcor_neighbor_resolution="on_demand")
        )
    )
    pids = db.write_sync(
        lambda uow: [rows.new_port(uow, nid, sid, i, "h2") for i in range(1, ports + 1)]
    )
    return db, nid, [rows.port_row(db, p)["mac_address"] for p in pids]


def _one(db: Database, conn: sa.Connection, nid: str, mac: str) -> tuple[float, ...]:
    """Microseconds of each step for one query of `mac`."""
    query = pb.ResolveQuery(network_id=nid, mac_address=mac)
    data = pb.ResolveRequest(host_id="h1", queries=[query]).SerializeToString()
    t0 = time.perf_counter()
    queries = list(pb.ResolveRequest.FromString(data).queries)
    t1 = time.perf_counter()
    reply = db.read_on(conn, build.resolve, queries)
    t2 = time.perf_counter()
    reply.SerializeToString()
    t3 = time.perf_counter()
    if len(reply.neighbors) != 1:
        raise RuntimeError(f"{mac} not resolved")
    return tuple((b - a) * 1e6 for a, b in zip((t0, t1, t2), (t1, t2, t3), strict=True))


def measure(ports: int, gaps: list[float], count: int) -> dict[str, dict[str, float]]:
    with tempfile.TemporaryDirectory() as tmp:
        db, nid, macs = _database(os.path.join(tmp, "resolve.db"), ports)
        conn = db.engine.connect()
        try:
            db.read_on(conn, build.warm_resolve)
            out = {}
            for gap in gaps:
                samples = []
                for i in range(count):
                    time.sleep(gap)
                    samples.append(_one(db, conn, nid, macs[i % len(macs)]))
                out[f"{gap:g}"] = {
                    f"{step}_us": round(statistics.median(values), 1)
                    for step, values in zip(STEPS, zip(*samples, strict=True), strict=True)
                }
            return out
        finally:
            conn.close()
            db.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--ports", type=int, default=2000, help="ports in the network")
    ap.add_argument("--gaps", default="0,0.002,0.05,0.3", help="seconds asleep before each")
    ap.add_argument("--count", type=int, default=40, help="queries per gap")
    ap.add_argument("--json", default=str(RESULTS))
    plots.add_flag(ap)
    args = ap.parse_args()
    results = measure(args.ports, [float(x) for x in args.gaps.split(",")], args.count)
    table = Table("asleep before each", *(f"{s} p50" for s in STEPS))
    for gap, r in results.items():
        table.add_row(f"{gap} s", *(f"{r[f'{s}_us']} µs" for s in STEPS))
    Console().print(table)
    plots.save_stamped(
        args.json,
        {
            "ports": args.ports,
            "results": results,
        },
        args.plot,
    )


if __name__ == "__main__":
    main()
