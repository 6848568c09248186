"""Pool lifecycle: create (`ensure_pool`), edit the ranges (`update_pool`), delete (`delete_pool`).

Why a module of its own: these run when a subnet, a network type's id range or an external
network is created, edited or deleted: rarely, never on the allocation path. `update_pool`
is the one place that moves marks and free lists across a range edit (holding the pool row
and every bucket), and it never touches an allocation: values stay allocated even when they
leave the ranges.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql as pg_dialect
from sqlalchemy.dialects import sqlite as sqlite_dialect

from alcor.ipam.pools.buckets import (
    BUCKET_COLS,
    Pool,
    advance,
    bucket_of,
    held_buckets,
    is_pg,
    read_pool,
)
from alcor.ipam.pools.ranges import RangeSet, key, subtract_ranges
from alcor.ipam.tables import ipam_buckets, ipam_free, ipam_pools, ipam_used
from alcor.store.db import UnitOfWork

MAX_BUCKETS = 64


def default_buckets(pool_size: int) -> int:
    """Bucket count for a pool of `pool_size` values: about 16 values per bucket, 1..64.

    More buckets than concurrent allocators buys nothing; 64 covers several API processes
    with a handful of worker threads each, at 64 small rows per pool.
    """
    return max(1, min(MAX_BUCKETS, pool_size // 16))


def _dialect_insert(uow: UnitOfWork, table: sa.Table) -> Any:
    if is_pg(uow):
        return pg_dialect.insert(table)
    if uow.dialect == "sqlite":
        return sqlite_dialect.insert(table)
    raise RuntimeError(f"ipam: unsupported database dialect {uow.dialect}")


def ensure_pool(
    uow: UnitOfWork, pool_id: str, ranges: list[tuple[int, int]], buckets: int | None = None
) -> None:
    """Create the pool with these inclusive ranges if it does not exist (else do nothing).

    Idempotent and safe under concurrency: two transactions creating the same pool both
    succeed (the second waits for the first and then finds its row). An existing pool keeps
    its ranges; change them with `update_pool`.
    """
    exists = uow.conn.execute(
        sa.select(ipam_pools.c.nbuckets).where(ipam_pools.c.pool_id == pool_id)
    ).first()
    if exists is not None:
        return
    rs = RangeSet(ranges)
    n = buckets if buckets is not None else default_buckets(rs.size)
    if n < 1:
        raise ValueError("a pool needs at least one bucket")
    stmt = (
        _dialect_insert(uow, ipam_pools)
        .values(pool_id=pool_id, ranges=rs.encode(), nbuckets=n, gen=0)
        .on_conflict_do_nothing(index_elements=["pool_id"])
        .returning(ipam_pools.c.pool_id)  # rowcount is not reliable here (psycopg gives -1)
    )
    if uow.conn.execute(stmt).first() is None:
        return  # created concurrently by another transaction
    rows = []
    for b in range(n):
        hwm = rs.next_candidate(0, n, b)
        rows.append(
            {
                "pool_id": pool_id,
                "bucket": b,
                "hwm": None if hwm is None else key(hwm),
                "ahead": 0,
                "nfree": 0,
                "used": 0,
                "full": hwm is None,
                "gen": 0,
            }
        )
    uow.conn.execute(ipam_buckets.insert(), rows)
    uow.cache.pop(("ipam.pool", pool_id), None)


def update_pool(uow: UnitOfWork, pool_id: str, ranges: list[tuple[int, int]]) -> None:
    """Replace the pool's ranges. Allocated values never move, even if now outside.

    Locks the pool row and all its buckets (in bucket order) for the rest of the transaction:
    range edits are rare, and this makes every allocation either fully before or fully after
    the edit.
    """
    conn = uow.conn
    old = read_pool(conn, pool_id, lock=True)
    new = RangeSet(ranges)
    if new.ranges == old.ranges.ranges:
        return
    q = (
        sa.select(*BUCKET_COLS)
        .where(ipam_buckets.c.pool_id == pool_id)
        .order_by(ipam_buckets.c.bucket)
    )
    if is_pg(uow):
        q = q.with_for_update()
    states = [bucket_of(r) for r in conn.execute(q)]
    held_buckets(uow, pool_id).update(st.bucket for st in states)
    n = old.n
    added = RangeSet(subtract_ranges(new.ranges, old.ranges.ranges))
    removed = subtract_ranges(old.ranges.ranges, new.ranges)
    for lo, hi in removed:  # free values that left the ranges are no longer allocatable
        conn.execute(
            ipam_free.delete().where(
                ipam_free.c.pool_id == pool_id, ipam_free.c.vkey.between(key(lo), key(hi))
            )
        )
    for st in states:
        low = added.next_candidate(0, n, st.bucket)
        if low is not None and (st.hwm is None or low < st.hwm):
            # New values below the mark: lower the mark to the lowest of them. Free rows at or
            # above the new mark are redundant (the mark will reach them) and are dropped.
            conn.execute(
                ipam_free.delete().where(
                    ipam_free.c.pool_id == pool_id,
                    ipam_free.c.bucket == st.bucket,
                    ipam_free.c.vkey >= key(low),
                )
            )
            st.hwm = low
            st.ahead = conn.execute(
                sa.select(sa.func.count()).where(
                    ipam_used.c.pool_id == pool_id,
                    ipam_used.c.bucket == st.bucket,
                    ipam_used.c.vkey >= key(low),
                )
            ).scalar_one()
        advance(conn, pool_id, new, n, st)
    nfree: dict[int, int] = dict(
        conn.execute(  # type: ignore[arg-type]
            sa.select(ipam_free.c.bucket, sa.func.count())
            .where(ipam_free.c.pool_id == pool_id)
            .group_by(ipam_free.c.bucket)
        ).all()
    )
    gen = old.gen + 1
    for st in states:
        st.nfree = nfree.get(st.bucket, 0)
        st.gen = gen
    conn.execute(
        ipam_buckets.update()
        .where(
            ipam_buckets.c.pool_id == sa.bindparam("_p"),
            ipam_buckets.c.bucket == sa.bindparam("_b"),
        )
        .values(
            hwm=sa.bindparam("_h"),
            ahead=sa.bindparam("_a"),
            nfree=sa.bindparam("_f"),
            full=sa.bindparam("_full"),
            gen=sa.bindparam("_g"),
        ),
        [
            {
                "_p": pool_id,
                "_b": st.bucket,
                "_h": None if st.hwm is None else key(st.hwm),
                "_a": st.ahead,
                "_f": st.nfree,
                "_full": st.full,
                "_g": gen,
            }
            for st in states
        ],
    )
    conn.execute(
        ipam_pools.update()
        .where(ipam_pools.c.pool_id == pool_id)
        .values(ranges=new.encode(), gen=gen)
    )
    uow.cache[("ipam.pool", pool_id)] = Pool(pool_id, new, n, gen)


def delete_pool(uow: UnitOfWork, pool_id: str) -> None:
    """Remove the pool and every row of it (allocations included). No error if absent."""
    for table in (ipam_used, ipam_free, ipam_buckets, ipam_pools):
        uow.conn.execute(table.delete().where(table.c.pool_id == pool_id))
    uow.cache.pop(("ipam.pool", pool_id), None)
    uow.cache.pop(("ipam.held", pool_id), None)
