"""Allocator benchmark: allocation rate and per-allocation cost versus pool size.

Run from the repository root::

    .venv/bin/python -m benchmarks.ipam            # SQLite and a throwaway PostgreSQL
    .venv/bin/python -m benchmarks.ipam --count 500

For each backend and each pool (a /24, a /8 and an IPv6 /64) it creates a fresh pool and
times `count` automatic allocations, one transaction each through `Database.write_sync`
(what an API request pays), then the same number inside a single transaction (what a bulk
create pays per value). The point to check: the cost per allocation must not depend on the
pool size. Prints a table and writes `benchmarks/results/ipam.json`.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from alcor.ipam import addresses, pools  # noqa: E402
from alcor.ipam.tables import ipam_buckets, ipam_free, ipam_pools, ipam_used  # noqa: E402
from alcor.store.db import Database, UnitOfWork  # noqa: E402
from alcor.store.schema import metadata  # noqa: E402

POOLS = {
    "/24": "10.0.0.0/24",
    "/8": "10.0.0.0/8",
    "v6 /64": "2001:db8:0:1::/64",
}


def _bulk(uow: UnitOfWork, pool_id: str, n: int) -> None:
    for i in range(n):
        pools.allocate(uow, pool_id, f"bulk{i}")


def _measure(db: Database, label: str, cidr: str, count: int) -> dict[str, Any]:
    ranges = addresses.default_pool_ranges(cidr, None)
    size = sum(hi - lo + 1 for lo, hi in ranges)
    n = min(count, size // 2 - 1)  # a /24 has 254 values: stay below half for fairness
    pool_id = f"bench-{label}-{time.monotonic_ns()}"
    db.write_sync(pools.ensure_pool, pool_id, ranges)
    for i in range(10):  # warm up connections and statement caches
        db.write_sync(pools.allocate, pool_id, f"warm{i}")
    samples = []
    t_all = time.perf_counter()
    for i in range(n):
        t = time.perf_counter()
        db.write_sync(pools.allocate, pool_id, f"o{i}")
        samples.append(time.perf_counter() - t)
    total = time.perf_counter() - t_all
    bulk_pool = pool_id + "-bulk"
    db.write_sync(pools.ensure_pool, bulk_pool, ranges)
    t = time.perf_counter()
    db.write_sync(_bulk, bulk_pool, n)
    bulk = time.perf_counter() - t
    samples.sort()
    return {
        "pool": label,
        "size": size,
        "buckets": pools.default_buckets(size),
        "allocations": n,
        "per_tx_allocs_per_s": round(n / total, 1),
        "per_tx_mean_ms": round(1000 * statistics.fmean(samples), 3),
        "per_tx_p50_ms": round(1000 * samples[len(samples) // 2], 3),
        "per_tx_p99_ms": round(1000 * samples[min(len(samples) - 1, int(len(samples) * 0.99))], 3),
        "in_one_tx_us_per_alloc": round(1e6 * bulk / n, 1),
    }


def run_backend(name: str, url: str, count: int) -> list[dict[str, Any]]:
    db = Database(url, pool_size=2)
    metadata.create_all(db.engine, tables=[ipam_pools, ipam_buckets, ipam_used, ipam_free])
    try:
        return [{"backend": name, **_measure(db, k, v, count)} for k, v in POOLS.items()]
    finally:
        db.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=1000, help="allocations per pool")
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "ipam.json"))
    args = parser.parse_args(argv)

    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        rows += run_backend("sqlite", f"sqlite:///{tmp}/ipam.db", args.count)
    if not args.no_postgres:
        from tests.support.postgres import PostgresServer, find_bin_dir

        if find_bin_dir() is None:
            print("PostgreSQL not installed: skipping it", file=sys.stderr)
        else:
            with PostgresServer() as server:
                rows += run_backend("postgresql", server.create_database("bench"), args.count)

    cols = [
        ("backend", 10), ("pool", 7), ("buckets", 7), ("allocations", 11),
        ("per_tx_allocs_per_s", 12), ("per_tx_p50_ms", 9), ("per_tx_p99_ms", 9),
        ("in_one_tx_us_per_alloc", 14),
    ]  # fmt: skip
    heads = {
        "per_tx_allocs_per_s": "allocs/s (tx)", "per_tx_p50_ms": "p50 ms",
        "per_tx_p99_ms": "p99 ms", "in_one_tx_us_per_alloc": "µs/alloc bulk",
    }  # fmt: skip
    print(" ".join(f"{heads.get(c, c):>{w}}" for c, w in cols))
    for r in rows:
        print(" ".join(f"{r[c]!s:>{w}}" for c, w in cols))
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    meta = {
        "machine": f"{platform.machine()} {platform.system()} python {platform.python_version()}",
        "method": "one process, one thread; per_tx = one write_sync transaction per "
        "allocation; bulk = all allocations in one transaction",
    }
    out.write_text(json.dumps({"meta": meta, "results": rows}, indent=2) + "\n")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
