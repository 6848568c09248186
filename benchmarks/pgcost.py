"""What a port create costs on PostgreSQL: CPU of the server and of PostgreSQL, statements.

Usage:
  .venv/bin/python benchmarks/pgcost.py                 # one server, then two replicas
  options: --creates N (default 3000), --part one|replicas, --json PATH, --plot [PNG]

Rates on a shared 2-core machine swing with whatever else runs; CPU time per create does
not (much), so that is the figure this benchmark is about. For N port creates at
concurrency 50 (after a warm-up of 300), it reads the CPU time (user + system, /proc via
psutil) that each process spent between two snapshots and divides by N:
- the `alcor server` process(es), all threads (HTTP, resource layer, DB workers, the
  compiler publishing every create: the end snapshot is taken once the change log is
  published);
- PostgreSQL: the postmaster, its live backends and the backends that exited meanwhile
  (the postmaster's reaped-children times);
- NATS, HAProxy (replicas part) and this load generator, for completeness.
`pg_stat_statements` (preloaded in the throwaway cluster) counts the statements a create
runs, and `pg_stat_database` the transactions. The cluster keeps `fsync` off (a throwaway
disk) but runs `synchronous_commit = on`, as a deployment would.

Goals (issue 16): <= 2 ms server CPU and <= 1.2 ms PostgreSQL CPU per create; two replicas
behind HAProxy >= 500 creates/s at concurrency 50 on this 2-core machine.
Prints a table and writes JSON (default benchmarks/results/pgcost.json).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from alcor.lab.server_process import AlcorServer, lift_quotas  # noqa: E402
from alcor.southbound.nats_server import running  # noqa: E402
from benchmarks import plots  # noqa: E402
from benchmarks.api import creates, setup_network  # noqa: E402
from tests.support.postgres import PostgresServer  # noqa: E402
from tests.support.replicas import Replicas  # noqa: E402

PG_SETTINGS = {
    "shared_preload_libraries": "'pg_stat_statements'",
    "pg_stat_statements.track": "all",
    "synchronous_commit": "on",
}
CONCURRENCY = 50
WARMUP = 300


def cpu_seconds(proc: psutil.Process, reaped: bool = False) -> float:
    """User + system CPU of `proc` (and of its exited, waited-for children if `reaped`)."""
    t = proc.cpu_times()
    own = t.user + t.system
    return own + (t.children_user + t.children_system if reaped else 0.0)


def _is_session(proc: psutil.Process) -> bool:
    """A backend serving a client (its title names the user and database), rather than one
    of PostgreSQL's own workers (walwriter, autovacuum, checkpointer...)."""
    with contextlib.suppress(psutil.Error):
        return " postgres " in f" {' '.join(proc.cmdline())} "
    return False


class Meter:
    """CPU time of named process groups between `start` and `stop`."""

    def __init__(self, groups: dict[str, list[psutil.Process]], pg: psutil.Process) -> None:
        self.groups = groups
        self.server_procs = groups["server"]
        self.pg = pg
        self.before: dict[str, float] = {}

    def read(self) -> dict[str, float]:
        out = {name: sum(cpu_seconds(p) for p in procs) for name, procs in self.groups.items()}
        children = [p for p in self.pg.children(recursive=True) if p.is_running()]
        sessions = [p for p in children if _is_session(p)]
        out["postgresql"] = cpu_seconds(self.pg, reaped=True) + sum(map(cpu_seconds, children))
        out["pg sessions"] = sum(map(cpu_seconds, sessions))
        for p in self.server_procs:
            t = p.cpu_times()
            out["server user"] = out.get("server user", 0.0) + t.user
            out["server system"] = out.get("server system", 0.0) + t.system
        out["load generator"] = time.process_time()
        return out

    def start(self) -> None:
        self.before = self.read()

    def per_create_ms(self, n: int) -> dict[str, float]:
        after = self.read()
        return {k: round((after[k] - self.before[k]) * 1000 / n, 3) for k in after}


@contextlib.contextmanager
def statement_stats(url: str) -> Iterator[dict[str, Any]]:
    """Statements and transactions of the database at `url` during the block (filled in on
    leaving it): calls per statement text and the database's commits."""
    import psycopg

    conninfo = url.replace("postgresql+psycopg://", "postgresql://")
    out: dict[str, Any] = {}
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
        conn.execute("SELECT pg_stat_statements_reset()")
        commits = "SELECT xact_commit, xact_rollback FROM pg_stat_database WHERE datname = %s"
        dbname = conninfo.rsplit("/", 1)[1]
        before = conn.execute(commits, (dbname,)).fetchone()
        yield out
        after = conn.execute(commits, (dbname,)).fetchone()
        assert before is not None and after is not None
        out["commits"] = after[0] - before[0]
        out["rollbacks"] = after[1] - before[1]
        out["statements"] = conn.execute(
            "SELECT s.query, s.calls, s.total_exec_time FROM pg_stat_statements s"
            " JOIN pg_database d ON d.oid = s.dbid WHERE d.datname = %s"
            " AND s.query NOT LIKE '%%pg_stat_statements%%' ORDER BY s.calls DESC",
            (dbname,),
        ).fetchall()


async def measured_creates(
    url: str, network: str, n: int, meter: Meter, db_url: str, published: Any
) -> dict[str, Any]:
    await creates(url, network, WARMUP, CONCURRENCY)
    await asyncio.to_thread(published)
    with statement_stats(db_url) as stats:
        meter.start()
        load = await creates(url, network, n, CONCURRENCY)
        await asyncio.to_thread(published)
        cpu = meter.per_create_ms(n)
    statements = stats["statements"]
    return {
        **load,
        "cpu_ms_per_create": cpu,
        "commits_per_create": round(stats["commits"] / n, 2),
        "rollbacks": stats["rollbacks"],
        "statements_per_create": round(sum(s[1] for s in statements) / n, 2),
        "top_statements": [
            {
                "per_create": round(calls / n, 3),
                "ms_per_call": round(total / calls, 4),
                "sql": " ".join(query.split())[:160],
            }
            for query, calls, total in statements[:25]
        ],
    }


def wait_published(urls: list[str]) -> None:
    """Until a server of `urls` reports its change log published (lag 0)."""
    import httpx

    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        for url in urls:
            text = httpx.get(f"{url}/metrics", timeout=10).text
            lag = [ln for ln in text.splitlines() if ln.startswith("alcor_changelog_lag_rows ")]
            if lag and float(lag[0].split()[1]) == 0:
                return
        time.sleep(0.1)
    raise RuntimeError("the change log was not published within 120 s")


def server_procs(server: AlcorServer) -> tuple[psutil.Process, list[psutil.Process]]:
    assert server.proc is not None
    proc = psutil.Process(server.proc.pid)
    return proc, proc.children(recursive=True)


def part_one(n: int) -> dict[str, Any]:
    """One `alcor server` (its embedded NATS) on PostgreSQL."""
    with PostgresServer(settings=PG_SETTINGS) as pg:
        db_url = pg.create_database("pgcost")
        with AlcorServer(db_url) as srv:
            proc, children = server_procs(srv)
            meter = Meter({"server": [proc], "nats": children}, psutil.Process(pg.postmaster_pid()))
            lift_quotas(srv.url)
            net, _ = setup_network(srv.url, "10.128.0.0/12")
            return asyncio.run(
                measured_creates(srv.url, net, n, meter, db_url, lambda: wait_published([srv.url]))
            )


def part_replicas(n: int, count: int = 2) -> dict[str, Any]:
    """`count` replicas behind HAProxy, one nats-server, one PostgreSQL."""
    with PostgresServer(settings=PG_SETTINGS) as pg, running() as nats:
        db_url = pg.create_database("pgcost")
        cluster = Replicas(db_url, nats.url, count=count)
        try:
            cluster.start()
            assert cluster.balancer.proc is not None and nats.proc is not None
            meter = Meter(
                {
                    "server": [server_procs(s)[0] for s in cluster.servers],
                    "nats": [psutil.Process(nats.proc.pid)],
                    "haproxy": [psutil.Process(cluster.balancer.proc.pid)],
                },
                psutil.Process(pg.postmaster_pid()),
            )
            url = cluster.balancer.url
            lift_quotas(url)
            net, _ = setup_network(url, "10.128.0.0/12")
            urls = [s.url for s in cluster.servers]
            res = asyncio.run(
                measured_creates(url, net, n, meter, db_url, lambda: wait_published(urls))
            )
            return {"replicas": count, **res}
        finally:
            cluster.stop()


def print_table(results: dict[str, Any]) -> None:
    print(f"\nPort create on PostgreSQL, concurrency {CONCURRENCY} (CPU ms per create)")
    names = ["server", "postgresql", "pg sessions", "nats", "haproxy", "load generator"]
    print(f"{'setup':14} {'creates/s':>9} {'p50 ms':>7} {'p99 ms':>7} {'stmts':>6} {'commits':>7} "
          + " ".join(f"{n[:10]:>10}" for n in names))  # fmt: skip
    for label, r in results.items():
        cpu = r["cpu_ms_per_create"]
        print(
            f"{label:14} {r['rate_per_s']:>9.0f} {r['p50_ms']:>7.1f} {r['p99_ms']:>7.1f} "
            f"{r['statements_per_create']:>6.1f} {r['commits_per_create']:>7.2f} "
            + " ".join(f"{cpu[n]:>10.3f}" if n in cpu else f"{'':>10}" for n in names)
        )
    for label, r in results.items():
        print(f"\nstatements per create ({label}):")
        for s in r["top_statements"][:15]:
            print(f"  {s['per_create']:>6.2f} x {s['ms_per_call']:>7.3f} ms  {s['sql'][:110]}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--creates", type=int, default=3000)
    parser.add_argument("--part", choices=["one", "replicas"], action="append")
    parser.add_argument("--json", help="where to write results")
    plots.add_flag(parser)
    args = parser.parse_args()
    parts = args.part or ["one", "replicas"]
    results: dict[str, Any] = {}
    load = os.getloadavg()
    if "one" in parts:
        results["one server"] = part_one(args.creates)
    if "replicas" in parts:
        results["two replicas"] = part_replicas(args.creates)
    print_table(results)
    doc = {"creates": args.creates, "concurrency": CONCURRENCY, "results": results}
    write_results(Path(args.json or ROOT / "benchmarks/results/pgcost.json"), doc, load, args.plot)


def write_results(
    out: Path, doc: dict[str, Any], load_before: tuple[float, ...], plot: str | None
) -> None:
    """Write `doc` with the load averages before and now as JSON to `out`; chart it if
    `plot` is not None (`--plot`)."""
    doc["load_before"] = [round(x, 2) for x in load_before]
    doc["load_after"] = [round(x, 2) for x in os.getloadavg()]
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(doc, indent=2))
    print(f"\nload average before {doc['load_before']}, after {doc['load_after']}")
    print(f"JSON written to {out}")
    if plot is not None:
        plots.render(out, plot)


if __name__ == "__main__":
    main()
