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
``display LIKE :pattern``). Write to it only through this package.

Modules
-------
- `ranges`: values, keys and range arithmetic (`RangeSet`), no database code.
- `buckets`: pool and bucket rows, read, locked and written the same way by every
  operation; the mark's advance past explicit values; the lock-ordering rule.
- `allocation`: `allocate`, one value per call (the request path).
- `batches`: `allocate_many`, the bulk-create path.
- `releases`: `release` and `release_many`.
- `admin`: `ensure_pool`, `update_pool`, `delete_pool` (and the default bucket count).
- `reads`: `used_count`, `size`, `owner_of`.

The names below are the API the rest of the code base uses (``from alcor.ipam import
pools``). Only `alcor.ipam.addresses` (``ranges.normalize_ranges``) and white-box tests
import from the submodules (`tests/support/ipam_checks.py` checks a pool's stored
invariants from scratch).
"""

from alcor.ipam.pools.admin import delete_pool, ensure_pool, update_pool
from alcor.ipam.pools.allocation import allocate
from alcor.ipam.pools.batches import allocate_many
from alcor.ipam.pools.ranges import key
from alcor.ipam.pools.reads import owner_of, size, used_count
from alcor.ipam.pools.releases import release, release_many

__all__ = [
    "allocate",
    "allocate_many",
    "delete_pool",
    "ensure_pool",
    "key",
    "owner_of",
    "release",
    "release_many",
    "size",
    "update_pool",
    "used_count",
]
