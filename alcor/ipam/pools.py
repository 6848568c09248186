"""Bucketed range allocator: collision-free allocation of integers from inclusive ranges.

Used for fixed IPs (one pool per subnet, IPv4 and IPv6), VXLAN ids (one pool per network
type) and floating IPs. Every function takes the caller's unit of work first and runs inside
its transaction, so an allocation commits or rolls back together with the port/network row
that owns it (a failed request changes nothing).

Design
------
Values (up to 128 bits) are spread over N buckets by residue: ``bucket = value % N``, N fixed
when the pool is created (``default_buckets``: 1 for tiny pools, ``size // 16`` up to 64).
Each bucket row (`ipam_buckets`) holds, for its residue:

- ``hwm``: the high-water mark: the smallest value of that residue inside the ranges that
  has never been handed out and is free; NULL when none is left. Allocation from the mark
  is "take it, advance by N".
- a free list (`ipam_free`, counted in ``nfree``): released values *below* the mark.
  Released values at or above the mark need no row: the mark will reach them again.
- ``ahead``: how many allocated rows of the bucket lie at or above the mark (values taken
  explicitly before the mark got there). While it is 0, advancing the mark needs no query;
  otherwise the advance walks the bucket's allocated keys from the mark in index order
  (batches of 256) and skips them, so each explicit value is stepped over once.
- ``full`` = ``hwm IS NULL AND nfree = 0``, kept exact on every write (allocate, explicit
  allocate, release, range edit), so "all buckets full" is exactly "pool exhausted".
- ``used``: the number of allocated values, so `used_count` reads N rows, not the values.

Allocation (``value=None``) starts at a random bucket and takes the first non-full one with
``SELECT ... FOR UPDATE SKIP LOCKED`` (PostgreSQL): concurrent allocators from any number of
server processes land on different buckets and never wait for each other while an unlocked
non-full bucket exists. Only if every non-full bucket is locked by others does it wait with a
plain ``FOR UPDATE`` on one of them (re-checking it is still non-full once the lock is
granted), so exhaustion is never reported merely because of contention. Free-list values are
reused before the mark advances, which keeps the free list short (at most the number of
values released and not yet reused) at the price of reusing a released address soon.

An explicit value locks its own bucket (``FOR UPDATE``, waiting), checks the value is free
and in range (``outside_ok`` admits values outside the ranges, e.g. the gateway or a fixed IP
outside the allocation pools), removes it from the free list if it is below the mark, or
counts it in ``ahead`` if it is at/above (the later advance skips it).

A release locks the value's bucket, deletes the `ipam_used` row (raising `NotAllocated` if
there is none, so a double release is detected) and, if the value is inside the ranges and
below the mark, puts it on the free list.

Range edits (`update_pool`) lock the pool row and every bucket (in bucket order), and never
touch `ipam_used`: an allocated value stays allocated even if now outside the ranges.
- Removed intervals: their free-list rows are deleted; a mark that now points outside the
  ranges advances to the next in-range candidate (or NULL).
- Added intervals: in each bucket, if the lowest added value of the residue is below the
  mark, the mark moves back down to it (free-list rows at or above the new mark are dropped,
  the mark will reach them; ``ahead`` is recounted). Added values above the mark need
  nothing. So no value is ever lost or duplicated, whichever side of the mark ranges move.
- ``gen`` is bumped on the pool and copied to every bucket; an allocator that read the pool's
  ranges before it got its bucket lock sees the mismatch and re-reads them.

Costs
-----
Rows exist only for allocated values and released-not-yet-reused ones, plus N bucket rows
per pool: a 10.0.0.0/8 or an IPv6 /64 costs the same as a /24. An automatic allocation is
~4 statements (read pool, lock bucket, insert the used row, update the bucket; plus a
select+delete when reusing a free value), independent of the pool size and of how full it
is. Range edits cost O(N) statements plus the free rows they drop.

Batches (bulk create/delete): `allocate_many` drains one bucket at a time (free list, then
mark) and chooses every value before writing anything, then writes with three executemany
statements (free rows, bucket rows, used rows): a constant number of statements per bucket
touched, ~10-15 µs per value on SQLite in batches of 1,000 (`benchmarks/ipam.py`).
`release_many` locks the buckets of each pool with one statement and deletes one bucket's
values with one ``DELETE ... RETURNING``.

Why not the alternatives
------------------------
- One row per address (pre-populated availability table, as Neutron's old IPAM): a /8 is
  16M rows and an IPv6 /64 impossible; subnet create cost grows with the size.
- Random probing with a unique constraint and retry: each collision aborts the statement
  (a savepoint round trip on PostgreSQL), probes grow without bound as the pool fills, and
  "exhausted" can only be guessed after many misses.
- A single counter row per pool: every allocation in the pool serialises on one row lock held
  to commit (the whole request), and released values need a free list anyway.
- The original Alcor design was buckets too, but chose a bucket without locking it and
  retried on conflicts; here the bucket lock *is* the serialisation, taken with SKIP LOCKED.

Concurrency notes (PostgreSQL, READ COMMITTED as set by `alcor.store.db`)
-----------------------------------------------------------------------
- A transaction allocating once holds at most one bucket of a pool when it finishes with the
  allocator. A transaction allocating several values (bulk create) may hold several; to stay
  deadlock-free it only *waits* for a bucket numbered above every bucket it already holds in
  that pool, and otherwise polls with SKIP LOCKED for a while before waiting plainly.
- Explicit values and releases must lock a specific bucket. Two transactions that each hold a
  bucket and then ask for a specific value in the other's bucket can deadlock; PostgreSQL
  detects that and aborts one (SQLSTATE 40P01), which callers may retry like a
  serialisation failure. `release_many` releases in bucket order, so transactions that free
  several values never deadlock each other.
- SQLite has one writer, so no locking clauses are emitted there.

Table `ipam_used` (for other code)
----------------------------------
``pool_id`` (text), ``bucket`` (int), ``vkey`` (32 hex digits, the value), ``owner`` (text,
indexed: the port/network/floating IP id), ``display`` (text, indexed: the human form given by
the caller, e.g. "10.0.0.5"). The port code filters ports by fixed IP with
``EXISTS (SELECT 1 FROM ipam_used WHERE ipam_used.owner = ports.id AND display = :ip)`` (or
``display LIKE :pattern``). Write to it only through this module.
"""

from __future__ import annotations

import bisect
import functools
import random
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql as pg_dialect
from sqlalchemy.dialects import sqlite as sqlite_dialect

from alcor.ipam.errors import (
    NotAllocated,
    OutOfRange,
    PoolExhausted,
    PoolNotFound,
    ValueInUse,
)
from alcor.ipam.tables import ipam_buckets, ipam_free, ipam_pools, ipam_used
from alcor.store.db import UnitOfWork
from alcor.store.prepared import hot

MAX_VALUE = (1 << 128) - 1
MAX_BUCKETS = 64
SCAN_BATCH = 256  # allocated keys read per query when the mark has to skip explicit values
POLL_SECONDS = 2.0  # how long a multi-bucket holder polls before waiting plainly

__all__ = [
    "MAX_VALUE",
    "RangeSet",
    "allocate",
    "allocate_many",
    "check_pool",
    "default_buckets",
    "delete_pool",
    "ensure_pool",
    "key",
    "normalize_ranges",
    "owner_of",
    "release",
    "release_many",
    "size",
    "unkey",
    "update_pool",
    "used_count",
]


# -- values, keys and ranges -----------------------------------------------------------------
def key(value: int) -> str:
    """The stored form of a value: 32 lower-case hex digits (text order == numeric order)."""
    return format(value, "032x")


def unkey(text: str) -> int:
    return int(text, 16)


def normalize_ranges(ranges: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    """Validate inclusive ranges and return them sorted, with overlaps/adjacency merged."""
    out: list[tuple[int, int]] = []
    for lo, hi in sorted((int(a), int(b)) for a, b in ranges):
        if lo < 0 or hi > MAX_VALUE or lo > hi:
            raise ValueError(f"invalid range {lo}..{hi}")
        if out and lo <= out[-1][1] + 1:
            if hi > out[-1][1]:
                out[-1] = (out[-1][0], hi)
        else:
            out.append((lo, hi))
    return out


def subtract_ranges(
    a: Sequence[tuple[int, int]], b: Sequence[tuple[int, int]]
) -> list[tuple[int, int]]:
    """The values of normalised ranges `a` that are not in normalised ranges `b`."""
    out: list[tuple[int, int]] = []
    j = 0
    for lo, hi in a:
        cur = lo
        while j < len(b) and b[j][1] < cur:
            j += 1
        k = j
        while k < len(b) and b[k][0] <= hi and cur <= hi:
            if b[k][0] > cur:
                out.append((cur, b[k][0] - 1))
            cur = max(cur, b[k][1] + 1)
            k += 1
        if cur <= hi:
            out.append((cur, hi))
    return out


class RangeSet:
    """Immutable normalised ranges with the arithmetic the allocator needs."""

    __slots__ = ("his", "ranges", "size")

    def __init__(self, ranges: Iterable[tuple[int, int]]) -> None:
        self.ranges: tuple[tuple[int, int], ...] = tuple(normalize_ranges(ranges))
        self.his = tuple(hi for _, hi in self.ranges)
        self.size = sum(hi - lo + 1 for lo, hi in self.ranges)

    def __contains__(self, value: int) -> bool:
        i = bisect.bisect_left(self.his, value)
        return i < len(self.ranges) and self.ranges[i][0] <= value

    def next_candidate(self, start: int, n: int, residue: int) -> int | None:
        """The smallest v >= start with v % n == residue inside the ranges, or None."""
        i = bisect.bisect_left(self.his, start)
        while i < len(self.ranges):
            lo, hi = self.ranges[i]
            first = max(lo, start)
            cand = first + ((residue - first) % n)
            if cand <= hi:
                return cand
            i += 1
        return None

    def encode(self) -> str:
        return ",".join(f"{key(lo)}:{key(hi)}" for lo, hi in self.ranges)


@functools.lru_cache(maxsize=4096)
def _decode(text: str) -> RangeSet:
    if not text:
        return RangeSet(())
    pairs = []
    for part in text.split(","):
        lo, _, hi = part.partition(":")
        pairs.append((unkey(lo), unkey(hi)))
    return RangeSet(pairs)


def default_buckets(pool_size: int) -> int:
    """Bucket count for a pool of `pool_size` values: about 16 values per bucket, 1..64.

    More buckets than concurrent allocators buys nothing; 64 covers several API processes
    with a handful of worker threads each, at 64 small rows per pool.
    """
    return max(1, min(MAX_BUCKETS, pool_size // 16))


# The human form stored in `ipam_used.display`: text, a function of the value, or None.
Display = str | Callable[[int], str] | None


# -- rows ------------------------------------------------------------------------------------
@dataclass
class _Pool:
    pool_id: str
    ranges: RangeSet
    n: int
    gen: int


@dataclass
class _Bucket:
    bucket: int
    hwm: int | None
    ahead: int
    nfree: int
    used: int
    gen: int

    @property
    def full(self) -> bool:
        return self.hwm is None and self.nfree == 0


_BUCKET_COLS = (
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
_SEL_POOL = hot(
    sa.select(ipam_pools.c.ranges, ipam_pools.c.nbuckets, ipam_pools.c.gen).where(
        ipam_pools.c.pool_id == _B("pool_id")
    )
)
_PICK = hot(
    sa.select(*_BUCKET_COLS)
    .where(ipam_buckets.c.pool_id == _B("pool_id"), ipam_buckets.c.full.is_(False))
    .order_by(sa.case((ipam_buckets.c.bucket >= _B("start"), 0), else_=1), ipam_buckets.c.bucket)
    .limit(1)
)
_PICK_SKIP_LOCKED = _PICK.with_for_update(skip_locked=True)
_UPD_BUCKET = hot(
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
_INS_USED = hot(ipam_used.insert())
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


def _bucket_of(row: Any) -> _Bucket:
    return _Bucket(
        row.bucket,
        None if row.hwm is None else unkey(row.hwm),
        row.ahead,
        row.nfree,
        row.used,
        row.gen,
    )


def _conn(uow: UnitOfWork | sa.Connection) -> sa.Connection:
    return uow.conn if isinstance(uow, UnitOfWork) else uow


def _is_pg(uow: UnitOfWork) -> bool:
    return uow.dialect == "postgresql"


def _held(uow: UnitOfWork, pool_id: str) -> set[int]:
    """Buckets of `pool_id` this transaction has locked (kept in the unit of work's memo)."""
    held: set[int] = uow.cache.setdefault(("ipam.held", pool_id), set())
    return held


def _read_pool(conn: sa.Connection | UnitOfWork, pool_id: str, *, lock: bool = False) -> _Pool:
    q = _SEL_POOL
    dialect = conn.dialect if isinstance(conn, UnitOfWork) else conn.dialect.name
    if lock and dialect == "postgresql":
        q = q.with_for_update()
    row = conn.execute(q, {"pool_id": pool_id}).first()
    if row is None:
        raise PoolNotFound(pool_id)
    return _Pool(pool_id, _decode(row.ranges), row.nbuckets, row.gen)


def _load_pool(uow: UnitOfWork, pool_id: str) -> _Pool:
    """The pool, memoised per transaction (ranges are re-validated via `gen` after locking)."""
    memo = ("ipam.pool", pool_id)
    pool: _Pool | None = uow.cache.get(memo)
    if pool is None:
        pool = _read_pool(uow, pool_id)
        uow.cache[memo] = pool
    return pool


def _fresh(uow: UnitOfWork, pool: _Pool, st: _Bucket) -> _Pool:
    """`pool` if its ranges are those the locked bucket was last written with, else re-read."""
    if st.gen == pool.gen:
        return pool
    pool = _read_pool(uow.conn, pool.pool_id)
    uow.cache[("ipam.pool", pool.pool_id)] = pool
    return pool


def _lock_bucket(uow: UnitOfWork, pool: _Pool, bucket: int) -> _Bucket:
    q = sa.select(*_BUCKET_COLS).where(
        ipam_buckets.c.pool_id == pool.pool_id, ipam_buckets.c.bucket == bucket
    )
    if _is_pg(uow):
        q = q.with_for_update()
    row = uow.conn.execute(q).first()
    if row is None:  # the pool was deleted (or re-created) since we read it
        uow.cache.pop(("ipam.pool", pool.pool_id), None)
        raise PoolNotFound(pool.pool_id)
    _held(uow, pool.pool_id).add(bucket)
    return _bucket_of(row)


def _bucket_params(pool_id: str, st: _Bucket) -> dict[str, Any]:
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


def _write_bucket(uow: UnitOfWork, pool_id: str, st: _Bucket) -> None:
    uow.execute(_UPD_BUCKET, _bucket_params(pool_id, st))


def _advance(conn: sa.Connection, pool_id: str, ranges: RangeSet, n: int, st: _Bucket) -> None:
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


# -- pools -----------------------------------------------------------------------------------
def _dialect_insert(uow: UnitOfWork, table: sa.Table) -> Any:
    if _is_pg(uow):
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
    old = _read_pool(conn, pool_id, lock=True)
    new = RangeSet(ranges)
    if new.ranges == old.ranges.ranges:
        return
    q = (
        sa.select(*_BUCKET_COLS)
        .where(ipam_buckets.c.pool_id == pool_id)
        .order_by(ipam_buckets.c.bucket)
    )
    if _is_pg(uow):
        q = q.with_for_update()
    states = [_bucket_of(r) for r in conn.execute(q)]
    _held(uow, pool_id).update(st.bucket for st in states)
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
        _advance(conn, pool_id, new, n, st)
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
    uow.cache[("ipam.pool", pool_id)] = _Pool(pool_id, new, n, gen)


def delete_pool(uow: UnitOfWork, pool_id: str) -> None:
    """Remove the pool and every row of it (allocations included). No error if absent."""
    for table in (ipam_used, ipam_free, ipam_buckets, ipam_pools):
        uow.conn.execute(table.delete().where(table.c.pool_id == pool_id))
    uow.cache.pop(("ipam.pool", pool_id), None)
    uow.cache.pop(("ipam.held", pool_id), None)


# -- allocation ------------------------------------------------------------------------------
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
    pool = _load_pool(uow, pool_id)
    if value is None:
        return _allocate_any(uow, pool, owner, display)
    return _allocate_value(uow, pool, owner, value, outside_ok, display)


def _insert_used(
    uow: UnitOfWork, pool_id: str, bucket: int, value: int, owner: str, display: Display
) -> None:
    uow.execute(
        _INS_USED,
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


def _pick_unlocked(uow: UnitOfWork, pool: _Pool) -> _Bucket | None:
    """Lock a non-full bucket nobody else holds, starting at a random one (None if none)."""
    start = random.randrange(pool.n)
    q = _PICK_SKIP_LOCKED if _is_pg(uow) else _PICK
    row = uow.execute(q, {"pool_id": pool.pool_id, "start": start}).first()
    if row is None:
        return None
    _held(uow, pool.pool_id).add(row.bucket)
    return _bucket_of(row)


def _safe_to_wait_for(
    uow: UnitOfWork, pool: _Pool, open_buckets: list[int], deadline: list[float]
) -> list[int] | None:
    """Buckets this transaction may block on. Lock ordering: while holding buckets, wait only
    for a higher one (no wait cycles); None = poll again shortly; after POLL_SECONDS any open
    bucket, and PostgreSQL's deadlock detector arbitrates."""
    if not open_buckets:
        raise PoolExhausted(pool.pool_id)
    held = _held(uow, pool.pool_id)
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


def _wait_for_bucket(uow: UnitOfWork, pool: _Pool, deadline: list[float]) -> _Bucket | None:
    """Every non-full bucket is locked by others: wait for one (None = look again)."""
    open_buckets = [
        b
        for (b,) in uow.conn.execute(
            sa.select(ipam_buckets.c.bucket).where(
                ipam_buckets.c.pool_id == pool.pool_id, ipam_buckets.c.full.is_(False)
            )
        )
    ]
    safe = _safe_to_wait_for(uow, pool, open_buckets, deadline)
    if safe is None:
        return None
    q = (
        sa.select(*_BUCKET_COLS)
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
    _held(uow, pool.pool_id).add(row.bucket)
    return _bucket_of(row)


def _allocate_any(uow: UnitOfWork, pool: _Pool, owner: str, display: Display) -> int:
    deadline: list[float] = []
    while True:
        st = _pick_unlocked(uow, pool)
        if st is None:
            if not _is_pg(uow):
                raise PoolExhausted(pool.pool_id)
            st = _wait_for_bucket(uow, pool, deadline)
            if st is None:
                continue
        pool = _fresh(uow, pool, st)
        if st.nfree > 0:
            where = {"pool_id": pool.pool_id, "bucket": st.bucket}
            k = uow.conn.execute(_SEL_FREE, where).scalar_one()
            uow.conn.execute(_DEL_FREE, {**where, "vkey": k})
            value = unkey(k)
            st.nfree -= 1
        elif st.hwm is not None:
            value = st.hwm
            st.hwm = value + pool.n  # `ahead` is unchanged: `value` itself was free
            _advance(uow.conn, pool.pool_id, pool.ranges, pool.n, st)
        else:  # the flag said non-full but it is full: repair it and try another bucket
            _write_bucket(uow, pool.pool_id, st)
            continue
        st.used += 1
        _insert_used(uow, pool.pool_id, st.bucket, value, owner, display)
        _write_bucket(uow, pool.pool_id, st)
        return value


def _allocate_value(
    uow: UnitOfWork,
    pool: _Pool,
    owner: str,
    value: int,
    outside_ok: bool,
    display: Display,
) -> int:
    if not 0 <= value <= MAX_VALUE:
        raise OutOfRange(pool.pool_id, value)
    if value not in pool.ranges and not outside_ok:
        raise OutOfRange(pool.pool_id, value)  # early, without taking a lock
    st = _lock_bucket(uow, pool, value % pool.n)
    pool = _fresh(uow, pool, st)
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
            _advance(uow.conn, pool.pool_id, pool.ranges, pool.n, st)
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
    _write_bucket(uow, pool.pool_id, st)
    return value


# -- batches ---------------------------------------------------------------------------------
# allocate_many: buckets read/locked one statement each, then all writes as executemany.
_PICK_ANY = (
    sa.select(*_BUCKET_COLS)
    .where(
        ipam_buckets.c.pool_id == _B("pool_id"),
        ipam_buckets.c.full.is_(False),
        ipam_buckets.c.bucket.not_in(_B("done", expanding=True)),
    )
    .order_by(sa.case((ipam_buckets.c.bucket >= _B("start"), 0), else_=1), ipam_buckets.c.bucket)
)
_PICK_ONE_SKIP_LOCKED = _PICK_ANY.limit(1).with_for_update(skip_locked=True)
_PICK_ASCENDING = (
    sa.select(*_BUCKET_COLS)
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
    sa.select(*_BUCKET_COLS)
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
# release_many: one lock statement per pool, one DELETE ... RETURNING per bucket.
_LOCK_BUCKETS = (
    sa.select(*_BUCKET_COLS)
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


def _ahead_keys(conn: sa.Connection, pool_id: str, st: _Bucket) -> Iterator[int]:
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
    conn: sa.Connection, pool_id: str, ranges: RangeSet, n: int, st: _Bucket, want: int
) -> list[int]:
    """Hand out up to `want` values from the bucket's mark upwards; advance the mark.

    Runs of free candidates are taken arithmetically (a `range` per stretch); the `ahead`
    explicit allocations at/above the mark are read in key order (batches of SCAN_BATCH,
    never more than `ahead` keys) and stepped over once each, as `_advance` does.
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
    uow: UnitOfWork, pool: _Pool, done: set[int], deadline: list[float]
) -> _Bucket | None:
    """`_wait_for_bucket` for a batch: ignores the buckets the batch already drained."""
    open_buckets = [
        b
        for (b,) in uow.conn.execute(_OPEN_BUCKETS, {"pool_id": pool.pool_id, "done": sorted(done)})
    ]
    safe = _safe_to_wait_for(uow, pool, open_buckets, deadline)
    if safe is None:
        return None
    row = uow.conn.execute(
        _WAIT_BUCKET, {"pool_id": pool.pool_id, "bucket": random.choice(safe)}
    ).first()
    if row is None:  # it filled up while we waited
        return None
    _held(uow, pool.pool_id).add(row.bucket)
    return _bucket_of(row)


class _Restart(Exception):
    """A batch must give back the buckets it locked and lock them in ascending order."""


class _Batch:
    """What `allocate_many` has chosen so far (nothing of it written yet)."""

    def __init__(self, pool: _Pool) -> None:
        self.pool = pool
        self.start = random.randrange(pool.n)
        self.done: set[int] = set()  # buckets locked and drained (or finished with)
        self.touched: list[_Bucket] = []
        self.free_upto: list[dict[str, Any]] = []
        self.taken: list[tuple[int, int]] = []  # (bucket, value) in hand-out order

    def take(self, uow: UnitOfWork, st: _Bucket, want: int) -> bool:
        """Take what the locked bucket `st` has, up to what is missing; True when complete."""
        pool = self.pool = _fresh(uow, self.pool, st)
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


def _choose_pg(uow: UnitOfWork, pool: _Pool, want: int) -> _Batch:
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
    held = _held(uow, pool.pool_id)
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
    held = _held(uow, pool_id)
    floor0 = floor = max(held_before) + 1 if held_before else 0
    if strict:  # buckets this transaction held already: no waiting for those
        for b in sorted(held_before):
            row = conn.execute(_WAIT_BUCKET, {"pool_id": pool_id, "bucket": b}).first()
            if row is not None and plan.take(uow, _bucket_of(row), want):
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
            st = _bucket_of(row)
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
    pool = _load_pool(uow, pool_id)
    want = len(owners)
    if want == 0:
        return []
    conn = uow.conn
    if not _is_pg(uow):
        plan = _Batch(pool)
        rows = conn.execute(_PICK_ANY, {"pool_id": pool_id, "start": plan.start, "done": []})
        for row in rows.all():
            if plan.take(uow, _bucket_of(row), want):
                break
        else:
            raise PoolExhausted(pool_id)
    else:
        plan = _choose_pg(uow, pool, want)
    pool, touched, free_upto, taken = plan.pool, plan.touched, plan.free_upto, plan.taken
    # Every value found: write. (Nothing above wrote, so PoolExhausted left no trace.)
    if free_upto:
        conn.execute(_DEL_FREE_UPTO, free_upto)
    conn.execute(_UPD_BUCKET, [_bucket_params(pool_id, st) for st in touched])
    if display is None:
        shown = [str(v) for _, v in taken]
    elif callable(display):
        shown = [display(v) for _, v in taken]
    else:
        shown = [display] * want
    conn.execute(
        _INS_USED,
        [
            {"pool_id": pool_id, "bucket": b, "vkey": key(v), "owner": o, "display": d}
            for (b, v), o, d in zip(taken, owners, shown, strict=True)
        ],
    )
    return [v for _, v in taken]


def release(uow: UnitOfWork, pool_id: str, value: int, owner: str | None = None) -> None:
    """Free an allocated value. Raises NotAllocated if it is not allocated (to `owner`).

    Because of that check every allocation can be released exactly once; a second release
    of the same value fails instead of freeing someone else's later allocation silently.
    """
    pool = _load_pool(uow, pool_id)
    if not 0 <= value <= MAX_VALUE:
        raise NotAllocated(pool_id, value, owner)
    st = _lock_bucket(uow, pool, value % pool.n)
    pool = _fresh(uow, pool, st)
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
    _write_bucket(uow, pool_id, st)


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
        pool = _load_pool(uow, p)
        if not 0 <= v <= MAX_VALUE:
            raise NotAllocated(p, v, owner)
        vals = grouped.setdefault(p, {}).setdefault(v % pool.n, set())
        if v in vals:  # the second release of the same value
            raise NotAllocated(p, v, owner)
        vals.add(v)
    conn = uow.conn
    lock = _LOCK_BUCKETS_PG if _is_pg(uow) else _LOCK_BUCKETS
    delete = _DEL_USED_ANY if owner is None else _DEL_USED_OF
    gone: list[dict[str, Any]] = []  # the deleted ipam_used rows (to restore on failure)
    states: list[tuple[str, _Bucket]] = []
    free_rows: list[dict[str, Any]] = []
    for p in sorted(grouped):
        buckets = grouped[p]
        pool = _load_pool(uow, p)
        rows = conn.execute(lock, {"pool_id": p, "buckets": sorted(buckets)}).all()
        if len(rows) != len(buckets):  # the pool was deleted (or re-created) since we read it
            uow.cache.pop(("ipam.pool", p), None)
            _restore(conn, gone)
            raise PoolNotFound(p)
        _held(uow, p).update(r.bucket for r in rows)
        for row in rows:
            st = _bucket_of(row)
            pool = _fresh(uow, pool, st)
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
        conn.execute(_UPD_BUCKET, [_bucket_params(p, st) for p, st in states])
    return len(gone)


def _restore(conn: sa.Connection, rows: list[dict[str, Any]]) -> None:
    """Put back `ipam_used` rows deleted by a `release_many` that then failed."""
    if rows:
        conn.execute(_INS_USED, rows)


# -- reading ---------------------------------------------------------------------------------
def _pool_for_read(uow: UnitOfWork | sa.Connection, pool_id: str) -> _Pool:
    if isinstance(uow, UnitOfWork):
        return _load_pool(uow, pool_id)
    return _read_pool(uow, pool_id)


def used_count(uow: UnitOfWork | sa.Connection, pool_id: str) -> int:
    """How many values are allocated in the pool (inside the ranges or not)."""
    conn = _conn(uow)
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
        _conn(uow)
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


def check_pool(uow: UnitOfWork | sa.Connection, pool_id: str) -> list[str]:
    """Verify every invariant of one pool; return the violations (empty = consistent).

    Reads all rows of the pool, so it is for tests and offline checks (`alcor db check`),
    not for request paths.
    """
    conn = _conn(uow)
    pool = _read_pool(conn, pool_id)
    n, rs = pool.n, pool.ranges
    problems: list[str] = []
    buckets = {
        r.bucket: (_bucket_of(r), r.full)
        for r in conn.execute(
            sa.select(*_BUCKET_COLS, ipam_buckets.c.full).where(ipam_buckets.c.pool_id == pool_id)
        )
    }
    if sorted(buckets) != list(range(n)):
        problems.append(f"bucket rows {sorted(buckets)} != 0..{n - 1}")
    used: dict[int, list[int]] = {b: [] for b in range(n)}
    for b, k in conn.execute(
        sa.select(ipam_used.c.bucket, ipam_used.c.vkey).where(ipam_used.c.pool_id == pool_id)
    ):
        v = unkey(k)
        if v % n != b:
            problems.append(f"used {v} filed in bucket {b}")
        used.setdefault(b, []).append(v)
    free: dict[int, list[int]] = {b: [] for b in range(n)}
    for b, k in conn.execute(
        sa.select(ipam_free.c.bucket, ipam_free.c.vkey).where(ipam_free.c.pool_id == pool_id)
    ):
        free.setdefault(b, []).append(unkey(k))
    for b, (st, full_flag) in buckets.items():
        u, f = set(used.get(b, [])), free.get(b, [])
        if st.gen != pool.gen:
            problems.append(f"bucket {b}: gen {st.gen} != pool gen {pool.gen}")
        if st.used != len(u):
            problems.append(f"bucket {b}: used {st.used} != {len(u)} rows")
        if st.nfree != len(f):
            problems.append(f"bucket {b}: nfree {st.nfree} != {len(f)} rows")
        if full_flag != st.full:
            problems.append(f"bucket {b}: full flag {full_flag} but hwm/nfree say {st.full}")
        ahead = 0 if st.hwm is None else sum(1 for v in u if v >= st.hwm)
        if st.ahead != ahead:
            problems.append(f"bucket {b}: ahead {st.ahead} != {ahead}")
        if st.hwm is not None and (st.hwm % n != b or st.hwm not in rs or st.hwm in u):
            problems.append(f"bucket {b}: hwm {st.hwm} not a free in-range value")
        for v in f:
            if v % n != b or v not in rs or v in u or (st.hwm is not None and v >= st.hwm):
                problems.append(f"bucket {b}: bad free entry {v}")
        # Every in-range value below the mark is used or free (small pools only).
        if rs.size <= 4096:
            top = MAX_VALUE + 1 if st.hwm is None else st.hwm
            for lo, hi in rs.ranges:
                nxt = rs.next_candidate(lo, n, b)
                cur = hi + 1 if nxt is None else nxt
                while cur <= hi and cur < top:
                    if cur not in u and cur not in f:
                        problems.append(f"bucket {b}: {cur} lost (neither used nor free)")
                    cur += n
    return problems
