"""1M ports in PostgreSQL: port create and a 1,000-port list at 10k ports and at 1M ports.

Usage:
  .venv/bin/python benchmarks/pgscale.py            # takes minutes (not for CI)
  options: --ports N (default 1,000,000), --json PATH, --plot [PNG]

One `alcor server` on a throwaway PostgreSQL (`fsync` off, `synchronous_commit` on). The
ports are loaded through the bulk API (POST /v2.0/ports with 1,000 ports a request), so
every one is a real port: its row, its IP allocation in the allocator's tables, its MAC
under the unique index, its change-log row published by the compiler, exactly as any
other create writes them. After the load the script runs ANALYZE, as an operator does after
a bulk load (autovacuum would, some minutes later), and checks that the allocator agrees
with the ports (used addresses = ports, `tests/support/ipam_checks.check_pool`).

Measured at 10k ports and again at 1M, in the same run: port create into the big network at
concurrency 1 and 10 (p50/p99), and listing a network of 1,000 ports (p50/p99 of 30).
Goals (issue 16): create p99 <= 50 ms, the list at 1M <= 1.2x its time at 10k.
Prints a table and writes JSON (default benchmarks/results/pgscale.json).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from alcor.lab.server_process import AlcorServer, lift_quotas  # noqa: E402
from benchmarks import plots  # noqa: E402
from benchmarks.api import bulk, creates, setup_network, timed_get  # noqa: E402
from benchmarks.pgcost import wait_published, write_results  # noqa: E402
from tests.support.postgres import PostgresServer  # noqa: E402

BULK = 1000
MEASURED = 1300  # ports that `measure` creates


def fill(url: str, network: str, have: int, target: int) -> tuple[int, float]:
    """Bulk-create ports into `network` until `target` exist, one request at a time (two at
    once into one network collide on random MACs now and then: a 409, see the README);
    (count, seconds)."""
    t0 = last = time.perf_counter()
    while have < target:
        have += bulk(url, network, min(BULK, target - have))["ports"]
        if time.perf_counter() - last > 30:
            last = time.perf_counter()
            load = os.getloadavg()[0]
            print(f"  {have:,} ports ({have / (last - t0):,.0f}/s), load {load:.1f}", flush=True)
    return have, time.perf_counter() - t0


async def measure(url: str, big_net: str, list_net: str) -> dict[str, Any]:
    return {
        "create_c1": await creates(url, big_net, 300, 1),
        "create_c10": await creates(url, big_net, 1000, 10),
        "list_1000": await timed_get(url, f"/v2.0/ports?network_id={list_net}", 30),
    }


def settle(db_url: str, list_net: str) -> dict[str, Any]:
    """Wait (up to 10 min) until no autovacuum worker runs, so that a measurement does not
    share the machine with the vacuum of a bulk load; return the list query's plan."""
    import psycopg

    conninfo = db_url.replace("postgresql+psycopg://", "postgresql://")
    t0 = time.perf_counter()
    with psycopg.connect(conninfo, autocommit=True) as conn:
        busy = "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'autovacuum worker'"
        while time.perf_counter() - t0 < 600:
            row = conn.execute(busy).fetchone()
            if row is None or row[0] == 0:
                break
            time.sleep(1)
        plan = conn.execute(
            "EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) SELECT * FROM ports WHERE network_id = %s"
            " ORDER BY id LIMIT 1001",
            (list_net,),
        ).fetchall()
    return {"waited_for_autovacuum_s": round(time.perf_counter() - t0, 1),
            "list_plan": [r[0] for r in plan]}  # fmt: skip


def analyze_and_check(db_url: str, big_subnet: str, expected: int) -> dict[str, Any]:
    """ANALYZE, then the allocator's books against the ports."""
    import psycopg

    from alcor.ipam import pools
    from alcor.store.db import Database
    from tests.support.ipam_checks import check_pool

    conninfo = db_url.replace("postgresql+psycopg://", "postgresql://")
    t0 = time.perf_counter()
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute("ANALYZE")
        ports = conn.execute("SELECT count(*) FROM ports").fetchone()
    analyze_s = time.perf_counter() - t0
    db = Database(db_url, pool_size=1)
    try:
        used = db.read_sync(pools.used_count, big_subnet)
        problems = db.read_sync(check_pool, big_subnet)
    finally:
        db.close()
    assert ports is not None
    return {
        "ports_in_table": ports[0],
        "used_in_big_subnet": used,
        "expected_in_big_subnet": expected,
        "pool_problems": problems[:5],
        "analyze_s": round(analyze_s, 1),
    }


def run(target: int) -> dict[str, Any]:
    settings = {"synchronous_commit": "on", "max_wal_size": "'4GB'"}
    with PostgresServer(settings=settings) as pg:
        db_url = pg.create_database("pgscale")
        with AlcorServer(db_url) as srv:
            url = srv.url
            lift_quotas(url)
            list_net, _ = setup_network(url, "10.200.0.0/16")
            bulk(url, list_net, 1000)
            big_net, big_sub = setup_network(url, "10.0.0.0/11")
            in_big, _ = fill(url, big_net, 0, 10_000 - 1000)
            wait_published([url])
            small = {"ports": 1000 + in_big, **settle(db_url, list_net)}
            small.update(asyncio.run(measure(url, big_net, list_net)))
            print(f"at {small['ports']:,} ports: {json.dumps(small)}", flush=True)
            in_big += MEASURED
            loaded = target - 1000 - in_big
            in_big, fill_s = fill(url, big_net, in_big, target - 1000)
            wait_published([url])
            check = analyze_and_check(db_url, big_sub, in_big)
            print(f"loaded: {json.dumps(check)}", flush=True)
            large = {"ports": 1000 + in_big, **settle(db_url, list_net)}
            large.update(asyncio.run(measure(url, big_net, list_net)))
    return {
        "fill_seconds": round(fill_s, 1),
        "fill_ports_per_s": round(loaded / fill_s, 1),
        "check": check,
        "small": small,
        "large": large,
        "list_ratio": round(large["list_1000"]["p50_ms"] / small["list_1000"]["p50_ms"], 2),
    }


def print_table(res: dict[str, Any]) -> None:
    small, large = res["small"], res["large"]
    print(f"\nPostgreSQL at {small['ports']:,} and {large['ports']:,} ports")
    print(f"{'measure':32} {'p50 small':>10} {'p99 small':>10} {'p50 large':>10} {'p99 large':>10}")
    for key, name in (
        ("create_c1", "port create, c=1"),
        ("create_c10", "port create, c=10"),
        ("list_1000", "list 1,000 ports"),
    ):
        a, b = small[key], large[key]
        print(
            f"{name:32} {a['p50_ms']:>10.2f} {a['p99_ms']:>10.2f} "
            f"{b['p50_ms']:>10.2f} {b['p99_ms']:>10.2f}"
        )
    print(f"list at large / small (p50): {res['list_ratio']}x")
    print(f"bulk load: {res['fill_ports_per_s']:,.0f} ports/s; checks: {res['check']}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--ports", type=int, default=1_000_000)
    parser.add_argument("--json", help="where to write results")
    plots.add_flag(parser)
    args = parser.parse_args()
    load = os.getloadavg()
    res = run(args.ports)
    print_table(res)
    out = Path(args.json or ROOT / "benchmarks/results/pgscale.json")
    write_results(out, {"results": res}, load, args.plot)


if __name__ == "__main__":
    main()
