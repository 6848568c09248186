"""Example-based tests of the allocator API on SQLite and PostgreSQL (no mocks).

The property tests cover random small pools; these pin the API contract other code relies
on: huge pools cost rows only per allocation, the `ipam_used` columns are filterable as
documented, pools are created idempotently (also concurrently), deleted completely, and
range edits on either side of the high-water mark neither lose nor move values.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from alcor.ipam import addresses, errors, pools
from alcor.ipam.pools.admin import default_buckets
from alcor.ipam.pools.buckets import SCAN_BATCH
from alcor.ipam.pools.ranges import RangeSet, decode_ranges, unkey
from alcor.ipam.tables import ipam_buckets, ipam_free, ipam_pools, ipam_used
from alcor.store.db import Database, UnitOfWork
from alcor.store.schema import metadata
from tests.support.ipam_checks import check_pool

IPAM_TABLES = [ipam_pools, ipam_buckets, ipam_used, ipam_free]


@pytest.fixture
def db(db_url: str) -> Iterator[Database]:
    database = Database(db_url, pool_size=4)
    metadata.create_all(database.engine, tables=IPAM_TABLES)
    yield database
    database.close()


def _allocations_of(conn: sa.Connection, owner: str) -> list[tuple[str, int, str]]:
    """(pool_id, value, display) of everything allocated to `owner`, sorted: what the
    documented `ipam_used` columns give other code."""
    rows = conn.execute(
        sa.select(ipam_used.c.pool_id, ipam_used.c.vkey, ipam_used.c.display).where(
            ipam_used.c.owner == owner
        )
    ).all()
    return sorted((p, unkey(k), d) for p, k, d in rows)


def _release_owner(uow: UnitOfWork, owner: str) -> int:
    """Release everything allocated to `owner` with one `release_many`."""
    items = _allocations_of(uow.conn, owner)
    return pools.release_many(uow, [(p, v) for p, v, _ in items], owner)


def _pool_ranges(conn: sa.Connection, pool_id: str) -> list[tuple[int, int]]:
    """The pool's stored (normalised) ranges."""
    text = conn.execute(
        sa.select(ipam_pools.c.ranges).where(ipam_pools.c.pool_id == pool_id)
    ).scalar_one()
    return list(decode_ranges(text).ranges)


def _count(db: Database, table: sa.Table, pool_id: str) -> int:
    return int(
        db.read_sync(
            lambda c: c.execute(
                sa.select(sa.func.count()).select_from(table).where(table.c.pool_id == pool_id)
            ).scalar_one()
        )
    )


@pytest.mark.parametrize(
    ("cidr", "version"), [("10.0.0.0/8", 4), ("2001:db8:1:2::/64", 6), ("10.9.8.0/24", 4)]
)
def test_big_pools_store_rows_only_for_allocations(db: Database, cidr: str, version: int) -> None:
    ranges = addresses.default_pool_ranges(cidr, None)
    db.write_sync(pools.ensure_pool, "subnet", ranges)
    lo, hi = ranges[0]
    got = set()
    for i in range(150):
        v = db.write_sync(pools.allocate, "subnet", f"port{i}", None)
        assert lo <= v <= hi and v not in got
        got.add(v)
    assert _count(db, ipam_used, "subnet") == 150
    assert _count(db, ipam_free, "subnet") == 0
    assert _count(db, ipam_buckets, "subnet") == default_buckets(hi - lo + 1)
    assert db.read_sync(pools.used_count, "subnet") == 150
    assert db.read_sync(pools.size, "subnet") == hi - lo + 1
    assert db.read_sync(check_pool, "subnet") == []
    for v in sorted(got)[:50]:
        db.write_sync(pools.release, "subnet", v)
    assert _count(db, ipam_free, "subnet") == 50  # released below their marks: free rows
    kept = set(sorted(got)[50:])
    again = [db.write_sync(pools.allocate, "subnet", "again", None) for _ in range(50)]
    assert len(set(again)) == 50 and not set(again) & kept
    # A bucket reuses its free values before advancing its mark, so the free list shrinks.
    assert _count(db, ipam_free, "subnet") == 50 - len(set(again) & set(sorted(got)[:50]))
    assert db.read_sync(check_pool, "subnet") == []


def test_display_and_owner_are_filterable(db: Database) -> None:
    cidr = "10.1.0.0/24"
    db.write_sync(pools.ensure_pool, "s1", addresses.default_pool_ranges(cidr, "10.1.0.1"))

    def alloc(uow: UnitOfWork, owner: str, ip: str | None) -> str:
        value = None if ip is None else addresses.ip_to_int(ip)
        if value is None:  # automatic: the display form is computed from the value
            v = pools.allocate(uow, "s1", owner, display=lambda x: addresses.int_to_ip(x, 4))
            return addresses.int_to_ip(v, 4)
        pools.allocate(uow, "s1", owner, value, outside_ok=True, display=ip)
        return str(ip)

    assert db.write_sync(alloc, "port-a", "10.1.0.1") == "10.1.0.1"  # the gateway: outside
    auto = db.write_sync(alloc, "port-b", None)
    db.write_sync(alloc, "port-b", "10.1.0.77")
    rows = db.read_sync(
        lambda c: c.execute(
            sa.select(ipam_used.c.owner)
            .where(ipam_used.c.display.like("10.1.0.7_"))
            .order_by(ipam_used.c.owner)
        ).all()
    )
    assert [r.owner for r in rows] == ["port-b"]
    exact = db.read_sync(
        lambda c: c.execute(
            sa.select(ipam_used.c.owner).where(ipam_used.c.display == auto)
        ).scalar_one()
    )
    assert exact == "port-b"
    assert db.read_sync(_allocations_of, "port-b") == sorted(
        [
            ("s1", addresses.ip_to_int(auto), auto),
            ("s1", addresses.ip_to_int("10.1.0.77"), "10.1.0.77"),
        ]
    )
    assert db.write_sync(_release_owner, "port-b") == 2
    assert db.read_sync(_allocations_of, "port-b") == []
    assert db.read_sync(pools.used_count, "s1") == 1


def test_pool_lifecycle_and_errors(db: Database) -> None:
    with pytest.raises(errors.PoolNotFound):
        db.write_sync(pools.allocate, "nope", "x")
    with pytest.raises(errors.PoolNotFound):
        db.read_sync(pools.used_count, "nope")
    db.write_sync(pools.ensure_pool, "vni", [(1000, 1999)], 8)
    db.write_sync(pools.ensure_pool, "vni", [(1, 5)], None)  # exists: unchanged
    assert db.read_sync(_pool_ranges, "vni") == [(1000, 1999)]
    assert _count(db, ipam_buckets, "vni") == 8
    assert db.write_sync(pools.allocate, "vni", "net1", 1500) == 1500
    with pytest.raises(errors.ValueInUse) as info:
        db.write_sync(pools.allocate, "vni", "net2", 1500)
    assert info.value.owner == "net1"
    with pytest.raises(errors.OutOfRange):
        db.write_sync(pools.allocate, "vni", "net2", 5)
    with pytest.raises(errors.NotAllocated):
        db.write_sync(pools.release, "vni", 1501)
    assert db.read_sync(pools.owner_of, "vni", 1500) == "net1"
    db.write_sync(pools.delete_pool, "vni")
    for table in IPAM_TABLES:
        assert _count(db, table, "vni") == 0
    db.write_sync(pools.delete_pool, "vni")  # idempotent


def test_range_edits_on_both_sides_of_the_mark(db: Database) -> None:
    db.write_sync(pools.ensure_pool, "p", [(100, 119)], 2)
    first = [db.write_sync(pools.allocate, "p", "a", None) for _ in range(6)]
    assert len(set(first)) == 6 and all(100 <= v <= 119 for v in first)
    db.write_sync(lambda u: pools.allocate(u, "p", "x", 150, outside_ok=True))  # far ahead, outside
    # Extend below the marks and above them; shrink away part of the middle.
    db.write_sync(pools.update_pool, "p", [(90, 103), (110, 160)])
    assert db.read_sync(check_pool, "p") == []
    owners = {v: db.read_sync(pools.owner_of, "p", v) for v in [*first, 150]}
    assert all(owners[v] == "a" for v in first) and owners[150] == "x"  # nothing moved
    rest = []
    while True:
        try:
            rest.append(db.write_sync(pools.allocate, "p", "b", None))
        except errors.PoolExhausted:
            break
    expected = set(range(90, 104)) | set(range(110, 161))
    assert set(rest) == expected - set(first) - {150}
    assert db.read_sync(check_pool, "p") == []


@pytest.mark.postgres
def test_concurrent_ensure_pool(pg_url: str) -> None:
    dbs = [Database(pg_url, pool_size=2) for _ in range(4)]
    metadata.create_all(dbs[0].engine, tables=IPAM_TABLES)
    barrier = threading.Barrier(len(dbs))
    failures: list[BaseException] = []

    def create(db: Database) -> None:
        barrier.wait()
        try:
            db.write_sync(pools.ensure_pool, "shared", [(1, 4000)], None)
        except BaseException as exc:  # pragma: no cover - reported below
            failures.append(exc)

    threads = [threading.Thread(target=create, args=(d,)) for d in dbs]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failures == []
    assert _count(dbs[0], ipam_buckets, "shared") == default_buckets(4000)
    for d in dbs:
        d.close()


# -- batches ----------------------------------------------------------------------------------
class _Statements:
    """Counts the statements (an executemany counts once) sent on an engine."""

    def __init__(self, engine: sa.Engine) -> None:
        self.count = 0
        self.engine = engine

    def __enter__(self) -> _Statements:
        sa.event.listen(self.engine, "before_cursor_execute", self._seen)
        return self

    def __exit__(self, *exc: object) -> None:
        sa.event.remove(self.engine, "before_cursor_execute", self._seen)

    def _seen(self, *args: object) -> None:
        self.count += 1


@pytest.mark.parametrize(
    ("cidr", "version"), [("10.0.0.0/16", 4), ("10.0.0.0/8", 4), ("2001:db8:1:2::/64", 6)]
)
def test_allocate_many_costs_statements_per_bucket_not_per_value(
    db: Database, cidr: str, version: int
) -> None:
    ranges = addresses.default_pool_ranges(cidr, None)
    db.write_sync(pools.ensure_pool, "subnet", ranges)
    rs = RangeSet(ranges)
    shown = {}

    def show(v: int) -> str:
        shown[v] = addresses.int_to_ip(v, version)
        return shown[v]

    owners = [f"port{i}" for i in range(1000)]
    with _Statements(db.engine) as stmts:
        got = db.write_sync(lambda u: pools.allocate_many(u, "subnet", owners, display=show))
    # BEGIN, read pool, pick bucket(s), update buckets, insert used, COMMIT: one bucket of a
    # /16 holds 1,024 values, so at most two buckets are touched.
    assert stmts.count <= 8, stmts.count
    assert len(got) == len(set(got)) == 1000 and all(v in rs for v in got)
    assert {v % default_buckets(rs.size) for v in got} != set(range(64))  # few buckets
    for v, owner in zip(got[:50], owners, strict=False):
        assert db.read_sync(pools.owner_of, "subnet", v) == owner
    assert db.read_sync(_allocations_of, "port7") == [("subnet", got[7], shown[got[7]])]
    assert db.read_sync(pools.used_count, "subnet") == 1000
    assert db.read_sync(check_pool, "subnet") == []
    # Released below their marks, the values go on free lists; the next batch reuses them.
    with _Statements(db.engine) as stmts:
        assert db.write_sync(pools.release_many, [("subnet", v) for v in got[:600]]) == 600
    assert stmts.count <= 12, stmts.count  # lock, a DELETE per bucket (500 keys per IN), ...
    assert _count(db, ipam_free, "subnet") == 600
    again = db.write_sync(pools.allocate_many, "subnet", ["again"] * 700)
    assert len(set(again)) == 700 and not set(again) & set(got[600:])
    # A bucket's free list is drained before its mark moves, so the free lists shrink.
    reused = set(again) & set(got[:600])
    assert _count(db, ipam_free, "subnet") == 600 - len(reused)
    assert db.read_sync(check_pool, "subnet") == []


def test_allocate_many_steps_over_explicit_values_ahead_of_the_mark(db: Database) -> None:
    db.write_sync(pools.ensure_pool, "p", [(0, 1999)], 2)
    explicit = {3, 5, 7, 9, 10, 12, *range(101, 2 * SCAN_BATCH * 2 + 101, 2)}
    explicit.add(1500)  # far ahead
    db.write_sync(lambda u: [pools.allocate(u, "p", "x", v) for v in sorted(explicit)])
    db.write_sync(lambda u: pools.allocate(u, "p", "y", 5000, outside_ok=True))  # outside
    got = db.write_sync(pools.allocate_many, "p", ["m"] * 900)
    assert len(set(got)) == 900 and not set(got) & explicit
    # Drains one bucket (the odd one loses every explicit value) before touching another.
    assert db.read_sync(check_pool, "p") == []
    rest = 2000 - len(explicit) - 900
    with pytest.raises(errors.PoolExhausted):
        db.write_sync(pools.allocate_many, "p", ["z"] * (rest + 1))
    assert db.read_sync(pools.used_count, "p") == len(explicit) + 1 + 900
    last = db.write_sync(pools.allocate_many, "p", ["z"] * rest)
    assert set(got) | set(last) | explicit == set(range(2000))
    assert db.read_sync(check_pool, "p") == []
    with pytest.raises(errors.PoolExhausted):
        db.write_sync(pools.allocate_many, "p", ["z"])


def test_release_many_is_all_or_nothing(db: Database) -> None:
    db.write_sync(pools.ensure_pool, "p", [(1, 300)], 4)
    vals = db.write_sync(pools.allocate_many, "p", [f"o{i}" for i in range(200)])
    spare = max(set(range(1, 301)) - set(vals))
    with pytest.raises(errors.NotAllocated):  # one value not allocated: nothing released
        db.write_sync(pools.release_many, [("p", v) for v in vals[:100]] + [("p", spare)])
    with pytest.raises(errors.NotAllocated):  # released twice in one call
        db.write_sync(pools.release_many, [("p", vals[0]), ("p", vals[0])])
    with pytest.raises(errors.NotAllocated):  # not all of that owner
        db.write_sync(pools.release_many, [("p", vals[0]), ("p", vals[1])], "o0")
    with pytest.raises(errors.PoolNotFound):
        db.write_sync(pools.release_many, [("p", vals[0]), ("nope", 1)])
    assert db.read_sync(pools.used_count, "p") == 200
    assert db.write_sync(pools.release_many, [("p", v) for v in reversed(vals)]) == 200
    assert db.write_sync(pools.release_many, []) == 0
    assert db.read_sync(pools.used_count, "p") == 0
    assert db.read_sync(check_pool, "p") == []
