"""Pool and bucket rows: the state every allocator operation reads, locks and writes.

Why a module of its own: allocating, releasing and editing ranges all take the same steps
on the same rows (the design is in the package docstring): read the pool's ranges (memoised
per transaction, re-read when a locked bucket's ``gen`` shows they changed), lock a bucket
(``FOR UPDATE`` on PostgreSQL, remembering which buckets the transaction holds), write its
state back with the ``full`` flag kept exact, move its high-water mark past the explicit
values ahead of it, and decide which bucket a transaction may wait for without risking a
deadlock. Here, those rules exist once.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from alcor.ipam.errors import PoolExhausted, PoolNotFound
from alcor.ipam.pools.ranges import RangeSet, decode_ranges, key, unkey
from alcor.ipam.tables import ipam_buckets, ipam_pools, ipam_used
from alcor.store.db import UnitOfWork
from alcor.store.prepared import hot

SCAN_BATCH = 256  # allocated keys read per query when the mark has to skip explicit values
POLL_SECONDS = 2.0  # how long a multi-bucket holder polls before waiting plainly

# The human form stored in `ipam_used.display`: text, a function of the value, or None.
Display = str | Callable[[int], str] | None


@dataclass
class Pool:
    pool_id: str
    ranges: RangeSet
    n: int
    gen: int


@dataclass
class Bucket:
    bucket: int
    hwm: int | None
    ahead: int
    nfree: int
    used: int
    gen: int

    @property
    def full(self) -> bool:
        return self.hwm is None and self.nfree == 0


BUCKET_COLS = (
    ipam_buckets.c.bucket,
    ipam_buckets.c.hwm,
    ipam_buckets.c.ahead,
    ipam_buckets.c.nfree,
    ipam_buckets.c.used,
    ipam_buckets.c.gen,
)


# Hot-path statements are built once: building a Core statement and computing its cache key
# cost more than executing it (measured: ~60% of an allocation's CPU time on SQLite).
_B = sa.bindparam
SEL_POOL = hot(
    sa.select(ipam_pools.c.ranges, ipam_pools.c.nbuckets, ipam_pools.c.gen).where(
        ipam_pools.c.pool_id == _B("pool_id")
    )
)
UPD_BUCKET = hot(
    ipam_buckets.update()
    .where(ipam_buckets.c.pool_id == _B("_p"), ipam_buckets.c.bucket == _B("_b"))
    .values(
        hwm=_B("_h"),
        ahead=_B("_a"),
        nfree=_B("_f"),
        used=_B("_u"),
        full=_B("_full"),
        gen=_B("_g"),
    )
)
INS_USED = hot(ipam_used.insert())


def bucket_of(row: Any) -> Bucket:
    return Bucket(
        row.bucket,
        None if row.hwm is None else unkey(row.hwm),
        row.ahead,
        row.nfree,
        row.used,
        row.gen,
    )


def conn_of(uow: UnitOfWork | sa.Connection) -> sa.Connection:
    return uow.conn if isinstance(uow, UnitOfWork) else uow


def is_pg(uow: UnitOfWork) -> bool:
    return uow.dialect == "postgresql"


def held_buckets(uow: UnitOfWork, pool_id: str) -> set[int]:
    """Buckets of `pool_id` this transaction has locked (kept in the unit of work's memo)."""
    held: set[int] = uow.cache.setdefault(("ipam.held", pool_id), set())
    return held


def read_pool(conn: sa.Connection | UnitOfWork, pool_id: str, *, lock: bool = False) -> Pool:
    q = SEL_POOL
    dialect = conn.dialect if isinstance(conn, UnitOfWork) else conn.dialect.name
    if lock and dialect == "postgresql":
        q = q.with_for_update()
    row = conn.execute(q, {"pool_id": pool_id}).first()
    if row is None:
        raise PoolNotFound(pool_id)
    return Pool(pool_id, decode_ranges(row.ranges), row.nbuckets, row.gen)


def load_pool(uow: UnitOfWork, pool_id: str) -> Pool:
    """The pool, memoised per transaction (ranges are re-validated via `gen` after locking)."""
    memo = ("ipam.pool", pool_id)
    pool: Pool | None = uow.cache.get(memo)
    if pool is None:
        pool = read_pool(uow, pool_id)
        uow.cache[memo] = pool
    return pool


def fresh(uow: UnitOfWork, pool: Pool, st: Bucket) -> Pool:
    """`pool` if its ranges are those the locked bucket was last written with, else re-read."""
    if st.gen == pool.gen:
        return pool
    pool = read_pool(uow.conn, pool.pool_id)
    uow.cache[("ipam.pool", pool.pool_id)] = pool
    return pool


def lock_bucket(uow: UnitOfWork, pool: Pool, bucket: int) -> Bucket:
    q = sa.select(*BUCKET_COLS).where(
        ipam_buckets.c.pool_id == pool.pool_id, ipam_buckets.c.bucket == bucket
    )
    if is_pg(uow):
        q = q.with_for_update()
    row = uow.conn.execute(q).first()
    if row is None:  # the pool was deleted (or re-created) since we read it
        uow.cache.pop(("ipam.pool", pool.pool_id), None)
        raise PoolNotFound(pool.pool_id)
    held_buckets(uow, pool.pool_id).add(bucket)
    return bucket_of(row)


def bucket_params(pool_id: str, st: Bucket) -> dict[str, Any]:
    return {
        "_p": pool_id,
        "_b": st.bucket,
        "_h": None if st.hwm is None else key(st.hwm),
        "_a": st.ahead,
        "_f": st.nfree,
        "_u": st.used,
        "_full": st.full,
        "_g": st.gen,
    }


def write_bucket(uow: UnitOfWork, pool_id: str, st: Bucket) -> None:
    uow.defer(UPD_BUCKET, bucket_params(pool_id, st))


def advance(conn: sa.Connection, pool_id: str, ranges: RangeSet, n: int, st: Bucket) -> None:
    """Move `st.hwm` to the first free in-range value of its residue at or above it.

    Free means: not in `ipam_used`. Only the `ahead` allocated values at/above the mark can be
    in the way, so with `ahead == 0` this is pure arithmetic.
    """
    if st.hwm is None:
        st.ahead = 0
        return
    cand = ranges.next_candidate(st.hwm, n, st.bucket)
    if cand is None:
        st.hwm, st.ahead = None, 0
        return
    if st.ahead == 0:
        st.hwm = cand
        return
    passed = 0  # allocated values stepped over: they leave the "ahead" count
    base = sa.select(ipam_used.c.vkey).where(
        ipam_used.c.pool_id == pool_id, ipam_used.c.bucket == st.bucket
    )
    cond = ipam_used.c.vkey >= key(st.hwm)
    while True:
        keys = conn.execute(base.where(cond).order_by(ipam_used.c.vkey).limit(SCAN_BATCH))
        rows = [k for (k,) in keys]
        for k in rows:
            used = unkey(k)
            if used > cand:
                st.hwm, st.ahead = cand, st.ahead - passed
                return
            passed += 1
            if used == cand:
                nxt = ranges.next_candidate(cand + n, n, st.bucket)
                if nxt is None:
                    st.hwm, st.ahead = None, 0
                    return
                cand = nxt
        if len(rows) < SCAN_BATCH:
            st.hwm, st.ahead = cand, st.ahead - passed
            if st.ahead < 0:
                raise AssertionError(f"ipam: negative ahead in {pool_id}/{st.bucket}")
            return
        cond = ipam_used.c.vkey > rows[-1]


def safe_to_wait_for(
    uow: UnitOfWork, pool: Pool, open_buckets: list[int], deadline: list[float]
) -> list[int] | None:
    """Buckets this transaction may block on. Lock ordering: while holding buckets, wait only
    for a higher one (no wait cycles); None = poll again shortly; after POLL_SECONDS any open
    bucket, and PostgreSQL's deadlock detector arbitrates."""
    if not open_buckets:
        raise PoolExhausted(pool.pool_id)
    held = held_buckets(uow, pool.pool_id)
    safe = [b for b in open_buckets if not held or b > max(held)]
    if safe:
        return safe
    now = time.monotonic()
    if not deadline:
        deadline.append(now + POLL_SECONDS)
    if now < deadline[0]:
        time.sleep(random.uniform(0.005, 0.05))
        return None
    return open_buckets
