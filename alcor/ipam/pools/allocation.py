"""One value per call: `allocate`, automatic (any free value) or explicit (this value).

Why a module of its own: this is the request path of every port, network and floating-IP
create, so it stays short and its statements are built once (`alcor.store.prepared.hot`).
An automatic allocation locks one random non-full bucket with SKIP LOCKED and waits only
when others hold every non-full bucket; an explicit one locks the value's own bucket.
Batches (`batches.allocate_many`) follow the same bucket rules with a loop of their own.
"""

from __future__ import annotations

import random

import sqlalchemy as sa

from alcor.ipam.errors import OutOfRange, PoolExhausted, ValueInUse
from alcor.ipam.pools.buckets import (
    BUCKET_COLS,
    INS_USED,
    Bucket,
    Display,
    Pool,
    advance,
    bucket_of,
    fresh,
    held_buckets,
    is_pg,
    load_pool,
    lock_bucket,
    safe_to_wait_for,
    write_bucket,
)
from alcor.ipam.pools.events import ALLOCATED
from alcor.ipam.pools.ranges import MAX_VALUE, key, unkey
from alcor.ipam.tables import ipam_buckets, ipam_free, ipam_used
from alcor.store.db import UnitOfWork
from alcor.store.prepared import hot

# Statements are built once, as in `buckets` (building one costs more than running it).
_B = sa.bindparam
_PICK = hot(
    sa.select(*BUCKET_COLS)
    .where(ipam_buckets.c.pool_id == _B("pool_id"), ipam_buckets.c.full.is_(False))
    .order_by(sa.case((ipam_buckets.c.bucket >= _B("start"), 0), else_=1), ipam_buckets.c.bucket)
    .limit(1)
)
_PICK_SKIP_LOCKED = hot(_PICK.with_for_update(skip_locked=True))
_SEL_FREE = (
    sa.select(ipam_free.c.vkey)
    .where(ipam_free.c.pool_id == _B("pool_id"), ipam_free.c.bucket == _B("bucket"))
    .order_by(ipam_free.c.vkey)
    .limit(1)
)
_DEL_FREE = ipam_free.delete().where(
    ipam_free.c.pool_id == _B("pool_id"),
    ipam_free.c.bucket == _B("bucket"),
    ipam_free.c.vkey == _B("vkey"),
)


def allocate(
    uow: UnitOfWork,
    pool_id: str,
    owner: str,
    value: int | None = None,
    *,
    outside_ok: bool = False,
    display: Display = None,
) -> int:
    """Allocate `value` (or any free value if None) to `owner`; return it.

    `display` is stored with the allocation for filtering: a string, or a function of the
    value (for automatic allocations, e.g. ``lambda v: int_to_ip(v, 4)``); default: the
    decimal value.
    Raises PoolNotFound, PoolExhausted (automatic), ValueInUse / OutOfRange (explicit).
    """
    pool = load_pool(uow, pool_id)
    if value is None:
        value = _allocate_any(uow, pool, owner, display)
    else:
        value = _allocate_value(uow, pool, owner, value, outside_ok, display)
    uow.emit(ALLOCATED, {"pool_id": pool_id, "count": 1})
    return value


def _insert_used(
    uow: UnitOfWork, pool_id: str, bucket: int, value: int, owner: str, display: Display
) -> None:
    uow.defer(
        INS_USED,
        {
            "pool_id": pool_id,
            "bucket": bucket,
            "vkey": key(value),
            "owner": owner,
            "display": (
                str(value) if display is None else display(value) if callable(display) else display
            ),
        },
    )


def _pick_unlocked(uow: UnitOfWork, pool: Pool) -> Bucket | None:
    """Lock a non-full bucket nobody else holds, starting at a random one (None if none)."""
    start = random.randrange(pool.n)
    q = _PICK_SKIP_LOCKED if is_pg(uow) else _PICK
    row = uow.execute(q, {"pool_id": pool.pool_id, "start": start}).first()
    if row is None:
        return None
    held_buckets(uow, pool.pool_id).add(row.bucket)
    return bucket_of(row)


def _wait_for_bucket(uow: UnitOfWork, pool: Pool, deadline: list[float]) -> Bucket | None:
    """Every non-full bucket is locked by others: wait for one (None = look again)."""
    open_buckets = [
        b
        for (b,) in uow.conn.execute(
            sa.select(ipam_buckets.c.bucket).where(
                ipam_buckets.c.pool_id == pool.pool_id, ipam_buckets.c.full.is_(False)
            )
        )
    ]
    safe = safe_to_wait_for(uow, pool, open_buckets, deadline)
    if safe is None:
        return None
    q = (
        sa.select(*BUCKET_COLS)
        .where(
            ipam_buckets.c.pool_id == pool.pool_id,
            ipam_buckets.c.bucket == random.choice(safe),
            ipam_buckets.c.full.is_(False),
        )
        .with_for_update()
    )
    row = uow.conn.execute(q).first()
    if row is None:  # it filled up while we waited
        return None
    held_buckets(uow, pool.pool_id).add(row.bucket)
    return bucket_of(row)


def _allocate_any(uow: UnitOfWork, pool: Pool, owner: str, display: Display) -> int:
    deadline: list[float] = []
    while True:
        st = _pick_unlocked(uow, pool)
        if st is None:
            if not is_pg(uow):
                raise PoolExhausted(pool.pool_id)
            st = _wait_for_bucket(uow, pool, deadline)
            if st is None:
                continue
        pool = fresh(uow, pool, st)
        if st.nfree > 0:
            where = {"pool_id": pool.pool_id, "bucket": st.bucket}
            k = uow.conn.execute(_SEL_FREE, where).scalar_one()
            uow.conn.execute(_DEL_FREE, {**where, "vkey": k})
            value = unkey(k)
            st.nfree -= 1
        elif st.hwm is not None:
            value = st.hwm
            st.hwm = value + pool.n  # `ahead` is unchanged: `value` itself was free
            advance(uow.conn, pool.pool_id, pool.ranges, pool.n, st)
        else:  # the flag said non-full but it is full: repair it and try another bucket
            write_bucket(uow, pool.pool_id, st)
            continue
        st.used += 1
        _insert_used(uow, pool.pool_id, st.bucket, value, owner, display)
        write_bucket(uow, pool.pool_id, st)
        return value


def _allocate_value(
    uow: UnitOfWork,
    pool: Pool,
    owner: str,
    value: int,
    outside_ok: bool,
    display: Display,
) -> int:
    if not 0 <= value <= MAX_VALUE:
        raise OutOfRange(pool.pool_id, value)
    if value not in pool.ranges and not outside_ok:
        raise OutOfRange(pool.pool_id, value)  # early, without taking a lock
    st = lock_bucket(uow, pool, value % pool.n)
    pool = fresh(uow, pool, st)
    in_range = value in pool.ranges
    if not in_range and not outside_ok:
        raise OutOfRange(pool.pool_id, value)
    holder = uow.conn.execute(
        sa.select(ipam_used.c.owner).where(
            ipam_used.c.pool_id == pool.pool_id,
            ipam_used.c.bucket == st.bucket,
            ipam_used.c.vkey == key(value),
        )
    ).scalar()
    if holder is not None:
        raise ValueInUse(pool.pool_id, value, holder)
    _insert_used(uow, pool.pool_id, st.bucket, value, owner, display)
    st.used += 1
    if st.hwm is not None and value >= st.hwm:
        st.ahead += 1
        if value == st.hwm:
            advance(uow.conn, pool.pool_id, pool.ranges, pool.n, st)
    elif in_range:  # below the mark and free: it is on the free list
        gone = uow.conn.execute(
            ipam_free.delete().where(
                ipam_free.c.pool_id == pool.pool_id,
                ipam_free.c.bucket == st.bucket,
                ipam_free.c.vkey == key(value),
            )
        ).rowcount
        if gone != 1:
            raise AssertionError(f"ipam: {value} of {pool.pool_id} neither used nor free")
        st.nfree -= 1
    write_bucket(uow, pool.pool_id, st)
    return value
