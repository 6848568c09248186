"""Many values per call: `allocate_many`, the batch form of `allocate` for bulk creates.

Why a module of its own: a batch chooses every value in memory before writing anything (so
PoolExhausted leaves the transaction as it was), drains one bucket at a time (free list,
then mark, runs of free values taken arithmetically), writes with three executemany
statements, and on PostgreSQL locks several buckets without deadlocking (SKIP LOCKED first,
then a restart in ascending bucket order). None of that belongs on the single-value path.
"""

from __future__ import annotations

import bisect
import random
from collections.abc import Iterator, Sequence
from typing import Any

import sqlalchemy as sa

from alcor.ipam.errors import PoolExhausted
from alcor.ipam.pools.buckets import (
    BUCKET_COLS,
    INS_USED,
    SCAN_BATCH,
    UPD_BUCKET,
    Bucket,
    Display,
    Pool,
    bucket_of,
    bucket_params,
    fresh,
    held_buckets,
    is_pg,
    load_pool,
    safe_to_wait_for,
)
from alcor.ipam.pools.events import ALLOCATED
from alcor.ipam.pools.ranges import RangeSet, key, unkey
from alcor.ipam.tables import ipam_buckets, ipam_free, ipam_used
from alcor.store.db import UnitOfWork

_B = sa.bindparam

# allocate_many: buckets read/locked one statement each, then all writes as executemany.
_PICK_ANY = (
    sa.select(*BUCKET_COLS)
    .where(
        ipam_buckets.c.pool_id == _B("pool_id"),
        ipam_buckets.c.full.is_(False),
        ipam_buckets.c.bucket.not_in(_B("done", expanding=True)),
    )
    .order_by(sa.case((ipam_buckets.c.bucket >= _B("start"), 0), else_=1), ipam_buckets.c.bucket)
)
_PICK_ONE_SKIP_LOCKED = _PICK_ANY.limit(1).with_for_update(skip_locked=True)
_PICK_ASCENDING = (
    sa.select(*BUCKET_COLS)
    .where(
        ipam_buckets.c.pool_id == _B("pool_id"),
        ipam_buckets.c.full.is_(False),
        ipam_buckets.c.bucket >= _B("floor"),
        ipam_buckets.c.bucket.not_in(_B("done", expanding=True)),
    )
    .order_by(ipam_buckets.c.bucket)
    .limit(1)
    .with_for_update()
)
_OPEN_BUCKETS = sa.select(ipam_buckets.c.bucket).where(
    ipam_buckets.c.pool_id == _B("pool_id"),
    ipam_buckets.c.full.is_(False),
    ipam_buckets.c.bucket.not_in(_B("done", expanding=True)),
)
_WAIT_BUCKET = (
    sa.select(*BUCKET_COLS)
    .where(
        ipam_buckets.c.pool_id == _B("pool_id"),
        ipam_buckets.c.bucket == _B("bucket"),
        ipam_buckets.c.full.is_(False),
    )
    .with_for_update()
)
_SEL_FREE_N = (
    sa.select(ipam_free.c.vkey)
    .where(ipam_free.c.pool_id == _B("pool_id"), ipam_free.c.bucket == _B("bucket"))
    .order_by(ipam_free.c.vkey)
    .limit(_B("m", type_=sa.Integer))
)
_DEL_FREE_UPTO = ipam_free.delete().where(
    ipam_free.c.pool_id == _B("_p"),
    ipam_free.c.bucket == _B("_b"),
    ipam_free.c.vkey <= _B("_k"),
)
_SEL_USED_KEYS = (
    sa.select(ipam_used.c.vkey)
    .where(ipam_used.c.pool_id == _B("pool_id"), ipam_used.c.bucket == _B("bucket"))
    .order_by(ipam_used.c.vkey)
    .limit(_B("m", type_=sa.Integer))
)
_SEL_USED_FROM = _SEL_USED_KEYS.where(ipam_used.c.vkey >= _B("k"))
_SEL_USED_AFTER = _SEL_USED_KEYS.where(ipam_used.c.vkey > _B("k"))


def _ahead_keys(conn: sa.Connection, pool_id: str, st: Bucket) -> Iterator[int]:
    """The bucket's allocated values at or above its mark, ascending, read lazily in batches
    of SCAN_BATCH and never more than the `st.ahead` there are (no query when it is 0)."""
    left = st.ahead if st.hwm is not None else 0
    q, k = _SEL_USED_FROM, key(st.hwm or 0)
    while left > 0:
        m = min(SCAN_BATCH, left)
        keys = conn.execute(q, {"pool_id": pool_id, "bucket": st.bucket, "k": k, "m": m})
        rows = [r for (r,) in keys]
        if not rows:
            raise AssertionError(f"ipam: ahead {st.ahead} of {pool_id}/{st.bucket} overstated")
        yield from map(unkey, rows)
        left -= len(rows)
        q, k = _SEL_USED_AFTER, rows[-1]


def _take_from_mark(
    conn: sa.Connection, pool_id: str, ranges: RangeSet, n: int, st: Bucket, want: int
) -> list[int]:
    """Hand out up to `want` values from the bucket's mark upwards; advance the mark.

    Runs of free candidates are taken arithmetically (a `range` per stretch); the `ahead`
    explicit allocations at/above the mark are read in key order (batches of SCAN_BATCH,
    never more than `ahead` keys) and stepped over once each, as `advance` does.
    """
    out: list[int] = []
    cand = st.hwm
    if cand is None:
        st.ahead = 0
        return out
    b = st.bucket
    ahead = _ahead_keys(conn, pool_id, st)
    nxt_used = next(ahead, None)
    passed = 0
    his = ranges.his
    while cand is not None:
        while nxt_used is not None and nxt_used < cand:  # outside the ranges: now below
            passed += 1
            nxt_used = next(ahead, None)
        if nxt_used == cand:  # taken explicitly earlier: step over it
            passed += 1
            nxt_used = next(ahead, None)
            cand = ranges.next_candidate(cand + n, n, b)
            continue
        if len(out) >= want:
            break  # `cand` is free and in range: the new mark
        hi = his[bisect.bisect_left(his, cand)]
        if nxt_used is not None and nxt_used <= hi:
            hi = nxt_used - 1
        count = min(want - len(out), (hi - cand) // n + 1)
        stop = cand + count * n
        out.extend(range(cand, stop, n))
        cand = ranges.next_candidate(stop, n, b)
    if cand is None:
        st.hwm, st.ahead = None, 0
    else:
        st.hwm, st.ahead = cand, st.ahead - passed
        if st.ahead < 0:
            raise AssertionError(f"ipam: negative ahead in {pool_id}/{b}")
    return out


def _wait_for_any(
    uow: UnitOfWork, pool: Pool, done: set[int], deadline: list[float]
) -> Bucket | None:
    """`allocation._wait_for_bucket` for a batch: ignores the buckets the batch has drained."""
    open_buckets = [
        b
        for (b,) in uow.conn.execute(_OPEN_BUCKETS, {"pool_id": pool.pool_id, "done": sorted(done)})
    ]
    safe = safe_to_wait_for(uow, pool, open_buckets, deadline)
    if safe is None:
        return None
    row = uow.conn.execute(
        _WAIT_BUCKET, {"pool_id": pool.pool_id, "bucket": random.choice(safe)}
    ).first()
    if row is None:  # it filled up while we waited
        return None
    held_buckets(uow, pool.pool_id).add(row.bucket)
    return bucket_of(row)


class _Restart(Exception):
    """A batch must give back the buckets it locked and lock them in ascending order."""


class _Batch:
    """What `allocate_many` has chosen so far (nothing of it written yet)."""

    def __init__(self, pool: Pool) -> None:
        self.pool = pool
        self.start = random.randrange(pool.n)
        self.done: set[int] = set()  # buckets locked and drained (or finished with)
        self.touched: list[Bucket] = []
        self.free_upto: list[dict[str, Any]] = []
        self.taken: list[tuple[int, int]] = []  # (bucket, value) in hand-out order

    def take(self, uow: UnitOfWork, st: Bucket, want: int) -> bool:
        """Take what the locked bucket `st` has, up to what is missing; True when complete."""
        pool = self.pool = fresh(uow, self.pool, st)
        self.done.add(st.bucket)
        self.touched.append(st)
        before = len(self.taken)
        need = want - before
        if st.nfree > 0:
            where = {"pool_id": pool.pool_id, "bucket": st.bucket, "m": min(need, st.nfree)}
            reused = list(uow.conn.execute(_SEL_FREE_N, where).scalars())
            if reused:
                self.free_upto.append({"_p": pool.pool_id, "_b": st.bucket, "_k": reused[-1]})
                self.taken.extend((st.bucket, unkey(k)) for k in reused)
                st.nfree -= len(reused)
                need -= len(reused)
        if need > 0 and st.hwm is not None:
            values = _take_from_mark(uow.conn, pool.pool_id, pool.ranges, pool.n, st, need)
            self.taken.extend((st.bucket, v) for v in values)
        st.used += len(self.taken) - before
        return len(self.taken) >= want


def _choose_pg(uow: UnitOfWork, pool: Pool, want: int) -> _Batch:
    """Lock and drain buckets for a batch on PostgreSQL, deadlock-free.

    First pass: buckets nobody holds (SKIP LOCKED), from a random one on, never waiting
    while it holds a bucket it locked itself. If it runs out of unlocked buckets after
    locking some, it rolls back to a savepoint taken before the first lock (which releases
    those row locks; nothing was written) and starts again in strict ascending order: wait
    for the lowest non-full bucket above every bucket of the pool this transaction holds,
    then for the next one above it, and so on. Ordered waits cannot form a cycle with each
    other, nor with `allocate`, `update_pool` and `release_many`, which wait in the same
    order. A transaction that already held buckets of the pool before the call and finds
    nothing above them falls back to `_wait_for_any` (poll, then PostgreSQL's deadlock
    detector arbitrates), as `allocate` does.
    """
    held = held_buckets(uow, pool.pool_id)
    held_before = set(held)
    strict = False
    while True:
        plan = _Batch(pool)
        savepoint = uow.conn.begin_nested()
        try:
            _lock_for_batch(uow, plan, want, strict, held_before)
        except _Restart:
            savepoint.rollback()
            held.intersection_update(held_before)
            strict = True
            continue
        except BaseException:
            savepoint.rollback()
            held.intersection_update(held_before)
            raise
        savepoint.commit()  # RELEASE SAVEPOINT: the row locks now belong to the transaction
        return plan


def _lock_for_batch(
    uow: UnitOfWork, plan: _Batch, want: int, strict: bool, held_before: set[int]
) -> None:
    conn, pool_id = uow.conn, plan.pool.pool_id
    held = held_buckets(uow, pool_id)
    floor0 = floor = max(held_before) + 1 if held_before else 0
    if strict:  # buckets this transaction held already: no waiting for those
        for b in sorted(held_before):
            row = conn.execute(_WAIT_BUCKET, {"pool_id": pool_id, "bucket": b}).first()
            if row is not None and plan.take(uow, bucket_of(row), want):
                return
            plan.done.add(b)
    deadline: list[float] = []
    while True:
        if not strict:
            params = {"pool_id": pool_id, "start": plan.start, "done": sorted(plan.done)}
            row = conn.execute(_PICK_ONE_SKIP_LOCKED, params).first()
            if row is None and plan.done:
                raise _Restart  # only locked ones left: give ours back, queue up in order
        else:
            params = {"pool_id": pool_id, "floor": floor, "done": sorted(plan.done)}
            row = conn.execute(_PICK_ASCENDING, params).first()
            if row is None and floor > floor0 and _open_buckets(uow, pool_id, plan.done):
                raise _Restart  # a bucket below us was released meanwhile: start over
        if row is not None:
            held.add(row.bucket)
            st = bucket_of(row)
            floor = st.bucket + 1
        else:
            got = _wait_for_any(uow, plan.pool, plan.done, deadline)
            if got is None:
                continue
            st = got
            floor = max(floor, st.bucket + 1)
        if plan.take(uow, st, want):
            return


def _open_buckets(uow: UnitOfWork, pool_id: str, done: set[int]) -> list[int]:
    params = {"pool_id": pool_id, "done": sorted(done)}
    return [b for (b,) in uow.conn.execute(_OPEN_BUCKETS, params)]


def allocate_many(
    uow: UnitOfWork, pool_id: str, owners: Sequence[str], *, display: Display = None
) -> list[int]:
    """Allocate ``len(owners)`` values automatically; value ``i`` goes to ``owners[i]``.

    The batch form of ``allocate(uow, pool_id, owner)`` for bulk creates: all values or none.
    It drains one bucket at a time (its free list first, then its mark), so it touches as
    few buckets as the pool's state allows, and the number of statements depends on the
    buckets touched, not on the number of values:

    - per bucket: one read (PostgreSQL: one ``FOR UPDATE SKIP LOCKED`` pick; SQLite: one
      read of all non-full buckets for the whole batch), plus one ``SELECT ... LIMIT m`` if
      it reuses free-list values, plus one key scan per SCAN_BATCH explicit values it has to
      step over ahead of the mark;
    - per batch: one executemany DELETE of the reused free-list rows, one executemany UPDATE
      of the touched buckets, one executemany INSERT of every `ipam_used` row.

    Locking on PostgreSQL is that of `allocate`: unlocked buckets first (SKIP LOCKED); if
    every remaining non-full bucket is held by others, wait only for a bucket numbered above
    every bucket of the pool this transaction holds (polling up to POLL_SECONDS otherwise),
    and take the pool's ranges again if the bucket's ``gen`` shows they changed meanwhile.
    PoolExhausted is raised only when the buckets not yet drained by this batch are all
    committed-full, i.e. the pool really has fewer than ``len(owners)`` free values.

    On PoolExhausted nothing has been written: the values are chosen in memory and written
    only once all of them are found, so the current transaction is left exactly as it was
    (the bucket rows it locked on PostgreSQL stay locked until it ends). ``display`` is as
    for `allocate` (a function of the value, or one text for all, default the decimal).
    Raises PoolNotFound, PoolExhausted.
    """
    pool = load_pool(uow, pool_id)
    want = len(owners)
    if want == 0:
        return []
    conn = uow.conn
    if not is_pg(uow):
        plan = _Batch(pool)
        rows = conn.execute(_PICK_ANY, {"pool_id": pool_id, "start": plan.start, "done": []})
        for row in rows.all():
            if plan.take(uow, bucket_of(row), want):
                break
        else:
            raise PoolExhausted(pool_id)
    else:
        plan = _choose_pg(uow, pool, want)
    pool, touched, free_upto, taken = plan.pool, plan.touched, plan.free_upto, plan.taken
    # Every value found: write. (Nothing above wrote, so PoolExhausted left no trace.)
    if free_upto:
        conn.execute(_DEL_FREE_UPTO, free_upto)
    conn.execute(UPD_BUCKET, [bucket_params(pool_id, st) for st in touched])
    if display is None:
        shown = [str(v) for _, v in taken]
    elif callable(display):
        shown = [display(v) for _, v in taken]
    else:
        shown = [display] * want
    conn.execute(
        INS_USED,
        [
            {"pool_id": pool_id, "bucket": b, "vkey": key(v), "owner": o, "display": d}
            for (b, v), o, d in zip(taken, owners, shown, strict=True)
        ],
    )
    uow.emit(ALLOCATED, {"pool_id": pool_id, "count": want})
    return [v for _, v in taken]
