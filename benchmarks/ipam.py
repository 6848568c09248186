"""Allocator benchmark: allocation rate and per-allocation cost versus pool size.

Run from the repository root::

    .venv/bin/python -m benchmarks.ipam            # SQLite and a throwaway PostgreSQL
    .venv/bin/python -m benchmarks.ipam --count 500

For each backend and each pool (a /24, a /8 and an IPv6 /64) it creates a fresh pool and
times `count` automatic allocations, one transaction each through `Database.write_sync`
(what an API request pays), then the same number inside a single transaction (what a bulk
create pays per value). The point to check: the cost per allocation must not depend on the
pool size. Then, for `allocate_many` (a /16, a /8 and an IPv6 /64), it times batches of
`--batch` values (default 1,000), each one transaction, and `release_many` of the same
batches: the figures are µs per value. Prints tables and writes `benchmarks/results/ipam.json`.
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
from alcor.ipam.pools.admin import default_buckets  # noqa: E402
from alcor.ipam.tables import ipam_buckets, ipam_free, ipam_pools, ipam_used  # noqa: E402
from alcor.store.db import Database, UnitOfWork  # noqa: E402
from alcor.store.schema import metadata  # noqa: E402
from benchmarks import plots  # noqa: E402
from tests.support.ipam_checks import check_pool  # noqa: E402

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
        "buckets": default_buckets(size),
        "allocations": n,
        "per_tx_allocs_per_s": round(n / total, 1),
        "per_tx_mean_ms": round(1000 * statistics.fmean(samples), 3),
        "per_tx_p50_ms": round(1000 * samples[len(samples) // 2], 3),
        "per_tx_p99_ms": round(1000 * samples[min(len(samples) - 1, int(len(samples) * 0.99))], 3),
        "in_one_tx_us_per_alloc": round(1e6 * bulk / n, 1),
    }


BATCH_POOLS = {
    "/16": "10.1.0.0/16",
    "/8": "10.0.0.0/8",
    "v6 /64": "2001:db8:0:1::/64",
}


def _measure_batches(
    db: Database, label: str, cidr: str, batch: int, rounds: int
) -> dict[str, Any]:
    ranges = addresses.default_pool_ranges(cidr, None)
    version = 6 if ":" in cidr else 4
    pool_id = f"bench-many-{label}-{time.monotonic_ns()}"
    db.write_sync(pools.ensure_pool, pool_id, ranges)

    def show(v: int) -> str:
        return addresses.int_to_ip(v, version)

    def many(uow: UnitOfWork, owners: list[str]) -> list[int]:
        return pools.allocate_many(uow, pool_id, owners, display=show)

    def release(uow: UnitOfWork, values: list[int]) -> int:
        return pools.release_many(uow, [(pool_id, v) for v in values])

    db.write_sync(many, ["warm"] * 10)
    alloc_s, release_s, batches = [], [], []
    for r in range(rounds):
        owners = [f"r{r}p{i}" for i in range(batch)]
        t = time.perf_counter()
        batches.append(db.write_sync(many, owners))
        alloc_s.append(time.perf_counter() - t)
    for values in batches[: rounds // 2]:  # half back: the next batches reuse free lists
        t = time.perf_counter()
        db.write_sync(release, values)
        release_s.append(time.perf_counter() - t)
    reuse_s = []
    for r in range(rounds // 2):
        t = time.perf_counter()
        db.write_sync(many, [f"again{r}p{i}" for i in range(batch)])
        reuse_s.append(time.perf_counter() - t)
    assert db.read_sync(check_pool, pool_id) == []
    us = 1e6 / batch
    return {
        "pool": label,
        "batch": batch,
        "rounds": rounds,
        "many_us_per_value_p50": round(us * statistics.median(alloc_s), 2),
        "many_us_per_value_max": round(us * max(alloc_s), 2),
        "many_values_per_s": round(batch / statistics.median(alloc_s)),
        "many_from_free_lists_us_per_value_p50": round(us * statistics.median(reuse_s), 2),
        "release_many_us_per_value_p50": round(us * statistics.median(release_s), 2),
    }


def run_backend(
    name: str, url: str, count: int, batch: int, rounds: int
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    db = Database(url, pool_size=2)
    metadata.create_all(db.engine, tables=[ipam_pools, ipam_buckets, ipam_used, ipam_free])
    try:
        single = [{"backend": name, **_measure(db, k, v, count)} for k, v in POOLS.items()]
        batches = [
            {"backend": name, **_measure_batches(db, k, v, batch, rounds)}
            for k, v in BATCH_POOLS.items()
        ]
        return single, batches
    finally:
        db.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=1000, help="allocations per pool")
    parser.add_argument("--batch", type=int, default=1000, help="values per allocate_many")
    parser.add_argument("--rounds", type=int, default=10, help="batches per pool")
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "ipam.json"))
    plots.add_flag(parser)
    args = parser.parse_args(argv)

    rows: list[dict[str, Any]] = []
    many: list[dict[str, Any]] = []

    def run(name: str, url: str) -> None:
        single, batches = run_backend(name, url, args.count, args.batch, args.rounds)
        rows.extend(single)
        many.extend(batches)

    with tempfile.TemporaryDirectory() as tmp:
        run("sqlite", f"sqlite:///{tmp}/ipam.db")
    if not args.no_postgres:
        from tests.support.postgres import PostgresServer, find_bin_dir

        if find_bin_dir() is None:
            print("PostgreSQL not installed: skipping it", file=sys.stderr)
        else:
            with PostgresServer() as server:
                run("postgresql", server.create_database("bench"))

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
    mcols = [
        ("backend", 10), ("pool", 7), ("batch", 6), ("many_us_per_value_p50", 12),
        ("many_us_per_value_max", 12), ("many_values_per_s", 10),
        ("many_from_free_lists_us_per_value_p50", 12), ("release_many_us_per_value_p50", 12),
    ]  # fmt: skip
    mheads = {
        "many_us_per_value_p50": "µs/value p50", "many_us_per_value_max": "µs/value max",
        "many_values_per_s": "values/s", "many_from_free_lists_us_per_value_p50": "reuse µs/v",
        "release_many_us_per_value_p50": "release µs/v",
    }  # fmt: skip
    print("\nallocate_many / release_many (one transaction per batch):")
    print(" ".join(f"{mheads.get(c, c):>{w}}" for c, w in mcols))
    for r in many:
        print(" ".join(f"{r[c]!s:>{w}}" for c, w in mcols))
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    meta = {
        "machine": f"{platform.machine()} {platform.system()} python {platform.python_version()}",
        "method": "one process, one thread; per_tx = one write_sync transaction per "
        "allocation; bulk = all allocations in one transaction; allocate_many = one "
        "write_sync transaction per batch (µs per value, display = the address text); "
        "release_many = half of those batches released, one transaction each; reuse = "
        "batches allocated after that (from free lists, then marks)",
    }
    doc = {"meta": meta, "results": rows, "allocate_many": many}
    out.write_text(json.dumps(doc, indent=2) + "\n")
    print(f"wrote {out}")
    if args.plot is not None:
        plots.render(out, args.plot)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
