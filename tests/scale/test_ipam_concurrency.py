"""Several server processes allocating from one PostgreSQL at once: no duplicates, ever.

4 OS processes x 3 threads, each process with its own `Database` (its own connection pool),
like several API replicas behind a load balancer:

- 600 concurrent allocation attempts into a /24-sized pool (254 values), one thread per
  process asking for batches of five (`allocate_many`, which crosses buckets there: about 17
  values each) in its first 30 attempts: no value twice, every attempt either granted in
  full or refused with PoolExhausted, and the pool ends exactly full (a refused batch means
  fewer than five were free, and every thread ends with 20 single attempts);
- 600 concurrent allocations into a /16-sized pool: singles, transactions of three single
  allocations (bulk create, old style), `allocate_many` batches of up to 25, and
  transactions mixing both, while the parent process edits the pool's ranges in the
  middle: no duplicates, every allocation still held by the owner it was given to, and
  every value inside the old or the new ranges;
- then all processes release everything concurrently: both pools end empty and consistent.
"""

from __future__ import annotations

import multiprocessing
import queue
import threading
import time
from collections import Counter
from typing import Any

import pytest
import sqlalchemy as sa

from alcor.ipam import errors, pools
from alcor.ipam.pools.ranges import RangeSet
from alcor.ipam.tables import ipam_buckets, ipam_free, ipam_pools, ipam_used
from alcor.store.db import Database, UnitOfWork
from alcor.store.schema import metadata
from tests.support.ipam_checks import check_pool

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

PROCESSES = 4
THREADS = 3
ATTEMPTS_SMALL = 50  # per thread: 4 * 3 * 50 = 600 attempts into the /24
BATCH_SMALL = 5  # thread 0 of each process: batches of this size in its first 30 attempts
ALLOCS_BIG = 50  # per thread, into the /16
SMALL = [(0x0A000001, 0x0A0000FE)]  # 10.0.0.1 - 10.0.0.254
BIG = [(0x0A010001, 0x0A01FFFE)]  # 10.1.0.1 - 10.1.255.254
# The edit: drop the top 1000 addresses and add 10.2.0.0/22; allocated values stay put.
BIG_EDITED = [(0x0A010001, 0x0A01FFFE - 1000), (0x0A020000, 0x0A0203FF)]


def _bulk(uow: UnitOfWork, owner: str, k: int) -> list[int]:
    return [pools.allocate(uow, "big", f"{owner}.{j}") for j in range(k)]


def _many(uow: UnitOfWork, pool_id: str, owner: str, k: int) -> list[int]:
    return pools.allocate_many(uow, pool_id, [f"{owner}.{j}" for j in range(k)])


def _mixed(uow: UnitOfWork, owner: str, k: int) -> list[int]:
    """allocate, allocate_many(k - 2), allocate: owners numbered like `_bulk`'s."""
    first = pools.allocate(uow, "big", f"{owner}.0")
    middle = pools.allocate_many(uow, "big", [f"{owner}.{j}" for j in range(1, k - 1)])
    return [first, *middle, pools.allocate(uow, "big", f"{owner}.{k - 1}")]


def _write(db: Database, retried: list[int], fn: Any, *args: Any) -> Any:
    """`db.write_sync`, retrying a transaction PostgreSQL aborted as a deadlock victim (the
    documented last resort of transactions that hold several buckets and find every other
    one locked for POLL_SECONDS), as an API server retries serialisation failures."""
    for attempt in range(5):
        try:
            return db.write_sync(fn, *args)
        except sa.exc.OperationalError as exc:
            if getattr(exc.orig, "sqlstate", None) != "40P01" or attempt == 4:
                raise
            retried.append(1)
    raise AssertionError("unreachable")


def _release_all(uow: UnitOfWork, items: list[tuple[str, int, str]]) -> None:
    pools.release_many(uow, [(pool_id, value) for pool_id, value, _ in items])


def _worker(url: str, proc: int, start: Any, go_release: Any, out: Any) -> None:
    db = Database(url, pool_size=THREADS)
    mine: list[list[tuple[str, int, str]]] = [[] for _ in range(THREADS)]
    exhausted = [0] * THREADS
    granted = [0] * THREADS
    errors_seen: list[str] = []
    retried: list[int] = []

    def allocate(t: int) -> None:
        try:
            for i in range(ATTEMPTS_SMALL):
                owner = f"p{proc}t{t}s{i}"
                k = BATCH_SMALL if t == 0 and i < 30 and i % 2 == 0 else 1
                try:
                    if k == 1:
                        values = [_write(db, retried, pools.allocate, "small", owner)]
                        mine[t].append(("small", values[0], owner))
                    else:
                        values = _write(db, retried, _many, "small", owner, k)
                        assert len(values) == k
                        mine[t].extend(("small", v, f"{owner}.{j}") for j, v in enumerate(values))
                    granted[t] += 1
                except errors.PoolExhausted:
                    exhausted[t] += 1
            done = 0
            i = 0
            while done < ALLOCS_BIG:
                owner = f"p{proc}t{t}b{i}"
                left = ALLOCS_BIG - done
                if t == 1 and i % 2 == 0:  # a batch
                    values = _write(db, retried, _many, "big", owner, min(25, left))
                elif t == 2 and i % 2 == 0 and left >= 3:  # singles around a batch
                    values = _write(db, retried, _mixed, owner, min(8, left))
                else:  # t == 0: three singles in one transaction, or one
                    k = 3 if i % 2 == 0 and left >= 3 else 1
                    values = _write(db, retried, _bulk, owner, k)
                mine[t].extend(("big", v, f"{owner}.{j}") for j, v in enumerate(values))
                done += len(values)
                i += 1
        except Exception as exc:  # reported to the parent, which fails the test
            errors_seen.append(repr(exc))

    def release(t: int) -> None:
        try:
            items = mine[t]
            step = 25 if t == 1 else 5  # a few values per transaction, or a batch
            for n in range(0, len(items), step):
                db.write_sync(_release_all, items[n : n + step])
        except Exception as exc:
            errors_seen.append(repr(exc))

    start.wait()
    threads = [threading.Thread(target=allocate, args=(t,)) for t in range(THREADS)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    allocated = [x for m in mine for x in m]
    counts = (sum(granted), sum(exhausted), len(retried))
    out.put(("allocated", proc, allocated, counts, list(errors_seen)))
    go_release.wait()
    threads = [threading.Thread(target=release, args=(t,)) for t in range(THREADS)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    out.put(("released", proc, [], 0, list(errors_seen)))
    db.close()


def test_many_processes_allocate_without_duplicates(pg_url: str) -> None:
    db = Database(pg_url, pool_size=2)
    metadata.create_all(db.engine, tables=[ipam_pools, ipam_buckets, ipam_used, ipam_free])
    db.write_sync(pools.ensure_pool, "small", SMALL)
    db.write_sync(pools.ensure_pool, "big", BIG)
    ctx = multiprocessing.get_context("spawn")
    start = ctx.Barrier(PROCESSES + 1)
    go_release = ctx.Barrier(PROCESSES + 1)
    out = ctx.Queue()
    procs = [
        ctx.Process(target=_worker, args=(pg_url, p, start, go_release, out))
        for p in range(PROCESSES)
    ]
    for p in procs:
        p.start()
    try:
        start.wait(timeout=60)
        t0 = time.monotonic()
        # The range edit, from another process (this one), in the middle of the big pool's run.
        deadline = time.monotonic() + 60
        while db.read_sync(pools.used_count, "big") < PROCESSES * THREADS * ALLOCS_BIG // 2:
            assert time.monotonic() < deadline, "allocations stalled"
            time.sleep(0.02)
        db.write_sync(pools.update_pool, "big", BIG_EDITED)
        edited_at = db.read_sync(pools.used_count, "big")

        results = [out.get(timeout=120) for _ in procs]
        elapsed = time.monotonic() - t0
        assert all(r[0] == "allocated" for r in results)
        assert [e for r in results for e in r[4]] == []
        allocated = [x for r in results for x in r[2]]
        granted = sum(r[3][0] for r in results)
        exhausted = sum(r[3][1] for r in results)
        retried = sum(r[3][2] for r in results)
        assert retried <= 20, f"{retried} deadlock retries"

        small = [v for p, v, _ in allocated if p == "small"]
        big = [v for p, v, _ in allocated if p == "big"]
        assert len(small) == len(set(small)) == 254, Counter(small).most_common(3)
        assert granted + exhausted == PROCESSES * THREADS * ATTEMPTS_SMALL
        assert exhausted >= PROCESSES * THREADS * ATTEMPTS_SMALL - 254
        assert len(big) == len(set(big)) == PROCESSES * THREADS * ALLOCS_BIG
        old, new = RangeSet(BIG), RangeSet(BIG_EDITED)
        assert all(v in old or v in new for v in big)
        assert 0 < edited_at < len(big)  # the edit really happened mid-run
        # Nothing moved: every value is held by exactly the owner it was handed to.
        for pool_id, value, owner in allocated:
            assert db.read_sync(pools.owner_of, pool_id, value) == owner
        assert db.read_sync(pools.used_count, "small") == 254
        assert db.read_sync(pools.used_count, "big") == len(big)
        assert db.read_sync(check_pool, "small") == []
        assert db.read_sync(check_pool, "big") == []

        go_release.wait(timeout=60)
        released = [out.get(timeout=120) for _ in procs]
        assert [e for r in released for e in r[4]] == []
        assert db.read_sync(pools.used_count, "small") == 0
        assert db.read_sync(pools.used_count, "big") == 0
        assert db.read_sync(check_pool, "small") == []
        assert db.read_sync(check_pool, "big") == []
        print(f"\nipam concurrency: {len(allocated)} allocations, {exhausted} exhausted, "
              f"{retried} deadlock retries, {elapsed:.1f}s for the allocation phase")  # fmt: skip
    finally:
        for p in procs:
            p.join(timeout=30)
            if p.is_alive():
                p.kill()
                p.join()
        try:
            while True:
                out.get_nowait()
        except queue.Empty:
            pass
        db.close()
