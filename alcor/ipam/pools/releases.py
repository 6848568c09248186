"""Giving values back: `release` (one value) and `release_many` (several, all or none).

Why a module of its own: a release must lock the value's own bucket, so the order in which
releases lock is what keeps concurrent deletes deadlock-free (`release_many` locks a pool's
buckets in ascending order with one statement); and both check that the value is allocated
(to the owner, if given), so every allocation is released exactly once: a second release
raises NotAllocated instead of freeing someone else's later allocation.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa

from alcor.ipam.errors import NotAllocated, PoolNotFound
from alcor.ipam.pools.buckets import (
    BUCKET_COLS,
    INS_USED,
    UPD_BUCKET,
    Bucket,
    bucket_of,
    bucket_params,
    fresh,
    held_buckets,
    is_pg,
    load_pool,
    lock_bucket,
    write_bucket,
)
from alcor.ipam.pools.events import RELEASED
from alcor.ipam.pools.ranges import MAX_VALUE, key, unkey
from alcor.ipam.tables import ipam_buckets, ipam_free, ipam_used
from alcor.store.db import UnitOfWork

_B = sa.bindparam

# release_many: one lock statement per pool, one DELETE ... RETURNING per bucket.
_LOCK_BUCKETS = (
    sa.select(*BUCKET_COLS)
    .where(
        ipam_buckets.c.pool_id == _B("pool_id"),
        ipam_buckets.c.bucket.in_(_B("buckets", expanding=True)),
    )
    .order_by(ipam_buckets.c.bucket)
)
_LOCK_BUCKETS_PG = _LOCK_BUCKETS.with_for_update()
_DEL_USED = ipam_used.delete().where(
    ipam_used.c.pool_id == _B("pool_id"),
    ipam_used.c.bucket == _B("bucket"),
    ipam_used.c.vkey.in_(_B("keys", expanding=True)),
)
_DEL_USED_ANY = _DEL_USED.returning(ipam_used.c.vkey, ipam_used.c.owner, ipam_used.c.display)
_DEL_USED_OF = _DEL_USED.where(ipam_used.c.owner == _B("owner")).returning(
    ipam_used.c.vkey, ipam_used.c.owner, ipam_used.c.display
)
_INS_FREE = ipam_free.insert()
IN_CHUNK = 500  # keys per IN list (SQLite's bound-parameter limit is far above)


def release(uow: UnitOfWork, pool_id: str, value: int, owner: str | None = None) -> None:
    """Free an allocated value. Raises NotAllocated if it is not allocated (to `owner`).

    Because of that check every allocation can be released exactly once; a second release
    of the same value fails instead of freeing someone else's later allocation silently.
    """
    pool = load_pool(uow, pool_id)
    if not 0 <= value <= MAX_VALUE:
        raise NotAllocated(pool_id, value, owner)
    st = lock_bucket(uow, pool, value % pool.n)
    pool = fresh(uow, pool, st)
    where: list[sa.ColumnElement[bool]] = [
        ipam_used.c.pool_id == pool_id,
        ipam_used.c.bucket == st.bucket,
        ipam_used.c.vkey == key(value),
    ]
    if owner is not None:
        where.append(ipam_used.c.owner == owner)
    if uow.conn.execute(ipam_used.delete().where(*where)).rowcount != 1:
        raise NotAllocated(pool_id, value, owner)
    st.used -= 1
    if st.hwm is not None and value >= st.hwm:
        st.ahead -= 1  # the mark will reach it again
    elif value in pool.ranges:
        uow.conn.execute(
            ipam_free.insert().values(pool_id=pool_id, bucket=st.bucket, vkey=key(value))
        )
        st.nfree += 1
    write_bucket(uow, pool_id, st)
    uow.emit(RELEASED, {"pool_id": pool_id, "count": 1})


def release_many(
    uow: UnitOfWork, items: Iterable[tuple[str, int]], owner: str | None = None
) -> int:
    """Release several (pool_id, value) allocations, all or none; return how many.

    The fast path for deleting many (use it, not a loop over `release`, whenever one
    transaction frees more than one value). Per pool, one statement locks the buckets
    concerned, in ascending bucket order (``ORDER BY bucket FOR UPDATE`` on PostgreSQL)
    whatever order the items come in, so two transactions releasing several values never
    lock buckets in opposite orders (which PostgreSQL would break as a deadlock). Per bucket,
    one ``DELETE ... RETURNING`` removes its values (IN lists of up to IN_CHUNK keys). Then one
    executemany INSERT puts the values below their marks back on the free lists and one
    executemany UPDATE writes every touched bucket.

    Raises PoolNotFound, or NotAllocated for a value that is not allocated (to `owner`, if
    given) or is listed twice. Nothing is released then: the checks that need no query come
    first, and rows already deleted by this call are inserted back before raising (bucket
    rows are written only at the end).
    """
    grouped: dict[str, dict[int, set[int]]] = {}
    for p, v in items:
        pool = load_pool(uow, p)
        if not 0 <= v <= MAX_VALUE:
            raise NotAllocated(p, v, owner)
        vals = grouped.setdefault(p, {}).setdefault(v % pool.n, set())
        if v in vals:  # the second release of the same value
            raise NotAllocated(p, v, owner)
        vals.add(v)
    conn = uow.conn
    lock = _LOCK_BUCKETS_PG if is_pg(uow) else _LOCK_BUCKETS
    delete = _DEL_USED_ANY if owner is None else _DEL_USED_OF
    gone: list[dict[str, Any]] = []  # the deleted ipam_used rows (to restore on failure)
    states: list[tuple[str, Bucket]] = []
    free_rows: list[dict[str, Any]] = []
    for p in sorted(grouped):
        buckets = grouped[p]
        pool = load_pool(uow, p)
        rows = conn.execute(lock, {"pool_id": p, "buckets": sorted(buckets)}).all()
        if len(rows) != len(buckets):  # the pool was deleted (or re-created) since we read it
            uow.cache.pop(("ipam.pool", p), None)
            _restore(conn, gone)
            raise PoolNotFound(p)
        held_buckets(uow, p).update(r.bucket for r in rows)
        for row in rows:
            st = bucket_of(row)
            pool = fresh(uow, pool, st)
            keys = sorted(key(v) for v in buckets[st.bucket])
            deleted: set[str] = set()
            for i in range(0, len(keys), IN_CHUNK):
                params = {"pool_id": p, "bucket": st.bucket, "keys": keys[i : i + IN_CHUNK]}
                if owner is not None:
                    params["owner"] = owner
                for k, o, d in conn.execute(delete, params):
                    deleted.add(k)
                    gone.append(
                        {"pool_id": p, "bucket": st.bucket, "vkey": k, "owner": o, "display": d}
                    )
            if len(deleted) != len(keys):
                _restore(conn, gone)
                missing = min(k for k in keys if k not in deleted)
                raise NotAllocated(p, unkey(missing), owner)
            for k in keys:
                v = unkey(k)
                if st.hwm is not None and v >= st.hwm:
                    st.ahead -= 1  # the mark will reach it again
                elif v in pool.ranges:
                    free_rows.append({"pool_id": p, "bucket": st.bucket, "vkey": k})
                    st.nfree += 1
            st.used -= len(keys)
            states.append((p, st))
    if free_rows:
        conn.execute(_INS_FREE, free_rows)
    if states:
        conn.execute(UPD_BUCKET, [bucket_params(p, st) for p, st in states])
    for p, values in grouped.items():
        uow.emit(RELEASED, {"pool_id": p, "count": sum(map(len, values.values()))})
    return len(gone)


def _restore(conn: sa.Connection, rows: list[dict[str, Any]]) -> None:
    """Put back `ipam_used` rows deleted by a `release_many` that then failed."""
    if rows:
        conn.execute(INS_USED, rows)
