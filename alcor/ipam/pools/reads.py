"""Questions about a pool that change nothing: `used_count`, `size`, `owner_of`.

Why a module of its own: request paths ask them (a subnet's in-use and gateway checks, IP
availability), on a plain read connection as well as inside a unit of work, and they never
lock: `used_count` sums the per-bucket counters (one row per bucket, not one per value).
"""

from __future__ import annotations

import sqlalchemy as sa

from alcor.ipam.pools.buckets import Pool, conn_of, load_pool, read_pool
from alcor.ipam.pools.ranges import MAX_VALUE, key
from alcor.ipam.tables import ipam_buckets, ipam_used
from alcor.store.db import UnitOfWork


def _pool_for_read(uow: UnitOfWork | sa.Connection, pool_id: str) -> Pool:
    if isinstance(uow, UnitOfWork):
        return load_pool(uow, pool_id)
    return read_pool(uow, pool_id)


def used_count(uow: UnitOfWork | sa.Connection, pool_id: str) -> int:
    """How many values are allocated in the pool (inside the ranges or not)."""
    conn = conn_of(uow)
    _pool_for_read(uow, pool_id)
    total = conn.execute(
        sa.select(sa.func.coalesce(sa.func.sum(ipam_buckets.c.used), 0)).where(
            ipam_buckets.c.pool_id == pool_id
        )
    ).scalar_one()
    return int(total)


def size(uow: UnitOfWork | sa.Connection, pool_id: str) -> int:
    """How many values the pool's ranges hold (may exceed 2**64 for IPv6)."""
    if isinstance(uow, UnitOfWork):
        uow.cache.pop(("ipam.pool", pool_id), None)  # the current ranges, not a memo
    return _pool_for_read(uow, pool_id).ranges.size


def owner_of(uow: UnitOfWork | sa.Connection, pool_id: str, value: int) -> str | None:
    """Who holds `value` in the pool, or None if it is free."""
    pool = _pool_for_read(uow, pool_id)
    if not 0 <= value <= MAX_VALUE:
        return None
    owner: str | None = (
        conn_of(uow)
        .execute(
            sa.select(ipam_used.c.owner).where(
                ipam_used.c.pool_id == pool_id,
                ipam_used.c.bucket == value % pool.n,
                ipam_used.c.vkey == key(value),
            )
        )
        .scalar()
    )
    return owner
