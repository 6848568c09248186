"""Property tests of the allocator against a plain Python model, on SQLite and PostgreSQL.

Random sequences of automatic and explicit allocations, batches (`allocate_many`, alone and
mixed with single allocations in one transaction), releases (including double releases),
batch releases (`release_many`, including refused ones), range edits and rolled-back
multi-allocation transactions are applied both to
the real allocator (each operation its own transaction, on a real database) and to a model
(a dict value -> owner and a set of in-range values). After every step the outcome must be
what the model allows, and after every sequence `check_pool` must find every stored
invariant intact. A refused batch (PoolExhausted, NotAllocated) is caught inside its
transaction, which then checks that it left no trace before committing. Pool edges sit at 0,
just below 2**32 and just below 2**128, so key width and mark overflow are exercised.
"""

from __future__ import annotations

import ipaddress
import itertools
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from alcor.ipam import addresses, errors, mac, pools
from alcor.ipam.pools.ranges import (
    MAX_VALUE,
    RangeSet,
    decode_ranges,
    key,
    normalize_ranges,
    subtract_ranges,
    unkey,
)
from alcor.ipam.tables import ipam_buckets, ipam_free, ipam_pools, ipam_used
from alcor.store.db import Database, UnitOfWork
from alcor.store.schema import metadata
from tests.support.ipam_checks import check_pool

IPAM_TABLES = [ipam_pools, ipam_buckets, ipam_used, ipam_free]
UNIVERSE = 40  # values base .. base+UNIVERSE-1 are the ones sequences play with
BASES = [0, 2**32 - UNIVERSE // 2, MAX_VALUE + 1 - UNIVERSE]


@pytest.fixture(scope="module")
def db(module_db_url: str) -> Iterator[Database]:
    database = Database(module_db_url, pool_size=2)
    metadata.create_all(database.engine, tables=IPAM_TABLES)
    yield database
    database.close()


def _examples(db: Database, sqlite: int, postgres: int) -> int:
    return sqlite if db.dialect == "sqlite" else postgres


# -- strategies -------------------------------------------------------------------------------
offsets = st.integers(0, UNIVERSE - 1)
range_lists = st.lists(
    st.tuples(offsets, offsets).map(lambda t: (min(t), max(t))), min_size=0, max_size=3
)
ops = st.one_of(
    st.tuples(st.just("auto")),
    st.tuples(st.just("explicit"), st.integers(-2, UNIVERSE + 1), st.booleans()),
    st.tuples(st.just("release"), st.integers(0, 10**6)),
    st.tuples(st.just("release_free"), st.integers(-2, UNIVERSE + 1)),
    st.tuples(st.just("update"), range_lists),
    st.tuples(st.just("rollback"), st.integers(1, 4)),
    st.tuples(st.just("many"), st.integers(0, 12), st.booleans()),
    st.tuples(st.just("mixed"), st.integers(1, 6), st.integers(0, 2)),
    st.tuples(
        st.just("release_many"),
        st.lists(st.integers(0, 10**6), max_size=8),
        st.sampled_from(["ok", "owner", "double", "free", "wrong_owner"]),
    ),
)


class Model:
    def __init__(self, base: int, ranges: list[tuple[int, int]]) -> None:
        self.base = base
        self.values: set[int] = set()
        self.used: dict[int, str] = {}
        self.set_ranges(ranges)

    def set_ranges(self, ranges: list[tuple[int, int]]) -> None:
        self.values = {v for lo, hi in ranges for v in range(lo, hi + 1)}

    def free(self) -> set[int]:
        return self.values - set(self.used)


def _explicit(
    uow: UnitOfWork, pool_id: str, owner: str, v: int, outside_ok: bool, display: str | None
) -> int:
    return pools.allocate(uow, pool_id, owner, v, outside_ok=outside_ok, display=display)


class Boom(Exception):
    pass


def _allocate_then_fail(uow: UnitOfWork, pool_id: str, k: int) -> None:
    for i in range(k):
        try:
            pools.allocate(uow, pool_id, f"doomed{i}")
        except errors.PoolExhausted:
            break
    raise Boom


def _used_rows(conn: sa.Connection, pool_id: str) -> dict[int, tuple[str, str]]:
    return {
        unkey(k): (o, d)
        for k, o, d in conn.execute(
            sa.select(ipam_used.c.vkey, ipam_used.c.owner, ipam_used.c.display).where(
                ipam_used.c.pool_id == pool_id
            )
        )
    }


def _state(conn: sa.Connection, pool_id: str) -> tuple[Any, ...]:
    """Everything stored for the pool (to show that a refused call changed nothing)."""
    return tuple(
        sorted(tuple(r) for r in conn.execute(sa.select(t).where(t.c.pool_id == pool_id)))
        for t in IPAM_TABLES
    )


def _many_checked(uow: UnitOfWork, pool_id: str, owners: list[str]) -> list[int] | None:
    """allocate_many; on PoolExhausted check it left the transaction untouched (None)."""
    before = _state(uow.conn, pool_id)
    try:
        return pools.allocate_many(uow, pool_id, owners, display=lambda v: f"m{v}")
    except errors.PoolExhausted:
        assert _state(uow.conn, pool_id) == before, "a refused batch wrote something"
        assert check_pool(uow, pool_id) == []
        return None


def _mixed(uow: UnitOfWork, pool_id: str, owner: str, k: int, where: int) -> list[int]:
    """A bulk create: single allocations before/after a batch, all in one transaction."""
    got = []
    if where != 1:
        got.append(pools.allocate(uow, pool_id, owner))
    got += pools.allocate_many(uow, pool_id, [owner] * k)
    if where != 0:
        got.append(pools.allocate(uow, pool_id, owner))
    return got


def _release_many_checked(
    uow: UnitOfWork, pool_id: str, values: list[int], owner: str | None
) -> int | None:
    """release_many; on NotAllocated check it left the transaction untouched (None)."""
    before = _state(uow.conn, pool_id)
    try:
        return pools.release_many(uow, [(pool_id, v) for v in values], owner)
    except errors.NotAllocated:
        assert _state(uow.conn, pool_id) == before, "a refused release_many wrote something"
        return None


def _run_sequence(
    db: Database, base: int, nbuckets: int, initial: list[tuple[int, int]], steps: list[Any]
) -> None:
    pool_id = f"prop-{uuid.uuid4().hex[:12]}"
    shift = [(base + lo, base + hi) for lo, hi in initial]
    db.write_sync(pools.ensure_pool, pool_id, shift, nbuckets)
    model = Model(base, shift)
    assert db.read_sync(pools.size, pool_id) == len(model.values)
    counter = itertools.count()
    try:
        for step in steps:
            _apply(db, pool_id, model, step, counter)
            assert db.read_sync(pools.used_count, pool_id) == len(model.used)
        problems = db.read_sync(check_pool, pool_id)
        assert problems == []
        stored = db.read_sync(
            lambda c: {
                unkey(k): o
                for k, o in c.execute(
                    sa.select(ipam_used.c.vkey, ipam_used.c.owner).where(
                        ipam_used.c.pool_id == pool_id
                    )
                )
            }
        )
        assert stored == model.used
        # Exhaustion exactly when every in-range value is used: fill the rest (half in one
        # batch, half one by one), then fail, for a batch of one as for a single allocation.
        free = len(model.free())
        assert db.write_sync(_many_checked, pool_id, ["x"] * (free + 1)) is None
        batch = db.write_sync(pools.allocate_many, pool_id, ["filler"] * (free // 2))
        assert len(set(batch)) == len(batch) == free // 2 and set(batch) <= model.free()
        model.used.update(dict.fromkeys(batch, "filler"))
        for _ in range(free - free // 2):
            v = db.write_sync(pools.allocate, pool_id, "filler")
            assert v in model.free()
            model.used[v] = "filler"
        with pytest.raises(errors.PoolExhausted):
            db.write_sync(pools.allocate, pool_id, "one-too-many")
        assert db.write_sync(_many_checked, pool_id, ["one-too-many"]) is None
        assert db.write_sync(pools.allocate_many, pool_id, []) == []
        assert db.read_sync(check_pool, pool_id) == []
        # Every allocation can be released exactly once, after which the pool is empty: the
        # fillers in one release_many, the others one by one.
        fillers = [v for v, o in model.used.items() if o == "filler"]
        assert db.write_sync(_release_many_checked, pool_id, fillers, "filler") == len(fillers)
        for v in fillers:
            del model.used[v]
        for v, owner in sorted(model.used.items()):
            db.write_sync(pools.release, pool_id, v, owner)
        assert db.read_sync(pools.used_count, pool_id) == 0
        assert db.read_sync(check_pool, pool_id) == []
    finally:
        db.write_sync(pools.delete_pool, pool_id)


def _apply(db: Database, pool_id: str, model: Model, step: Any, counter: Any) -> None:
    kind = step[0]
    owner = f"o{next(counter)}"
    if kind == "auto":
        free = model.free()
        if not free:
            with pytest.raises(errors.PoolExhausted):
                db.write_sync(pools.allocate, pool_id, owner)
            return
        v = db.write_sync(pools.allocate, pool_id, owner)
        assert v in free, f"{v} not free and in range"
        model.used[v] = owner
    elif kind == "explicit":
        _, off, outside_ok = step
        v = model.base + off
        if not 0 <= v <= MAX_VALUE or (v not in model.values and not outside_ok):
            with pytest.raises(errors.OutOfRange):
                db.write_sync(_explicit, pool_id, owner, v, outside_ok, None)
        elif v in model.used:
            with pytest.raises(errors.ValueInUse) as info:
                db.write_sync(_explicit, pool_id, owner, v, outside_ok, None)
            assert info.value.owner == model.used[v]
        else:
            got = db.write_sync(_explicit, pool_id, owner, v, outside_ok, f"d{v}")
            assert got == v
            model.used[v] = owner
            assert db.read_sync(pools.owner_of, pool_id, v) == owner
    elif kind == "release":
        if not model.used:
            return
        v = sorted(model.used)[step[1] % len(model.used)]
        holder = model.used.pop(v)
        with pytest.raises(errors.NotAllocated):  # wrong owner: refused, nothing changes
            db.write_sync(pools.release, pool_id, v, holder + "-not")
        db.write_sync(pools.release, pool_id, v, holder)
        with pytest.raises(errors.NotAllocated):  # the second release is detected
            db.write_sync(pools.release, pool_id, v)
        assert db.read_sync(pools.owner_of, pool_id, v) is None
    elif kind == "release_free":
        v = model.base + step[1]
        if v in model.used:
            return
        with pytest.raises(errors.NotAllocated):
            db.write_sync(pools.release, pool_id, v)
    elif kind == "update":
        new = [(model.base + lo, model.base + hi) for lo, hi in step[1]]
        before = dict(model.used)
        db.write_sync(pools.update_pool, pool_id, new)
        model.set_ranges(new)
        assert db.read_sync(pools.size, pool_id) == len(model.values)
        after = db.read_sync(
            lambda c: {
                unkey(k): o
                for k, o in c.execute(
                    sa.select(ipam_used.c.vkey, ipam_used.c.owner).where(
                        ipam_used.c.pool_id == pool_id
                    )
                )
            }
        )
        assert after == before, "a range edit moved or dropped an allocation"
    elif kind == "rollback":
        with pytest.raises(Boom):
            db.write_sync(_allocate_then_fail, pool_id, step[1])
    elif kind == "many":
        _, k, same_owner = step
        free = model.free()
        owners = [owner] * k if same_owner else [f"{owner}.{i}" for i in range(k)]
        got = db.write_sync(_many_checked, pool_id, owners)
        if k > len(free):
            assert got is None, f"batch of {k} granted with {len(free)} free"
            return
        assert got is not None, f"batch of {k} refused with {len(free)} free"
        assert len(got) == len(set(got)) == k and set(got) <= free
        model.used.update(zip(got, owners, strict=True))
        shown = db.read_sync(_used_rows, pool_id)
        assert all(shown[v] == (o, f"m{v}") for v, o in zip(got, owners, strict=True))
    elif kind == "mixed":
        _, k, where = step
        free = model.free()
        need = k + (2 if where == 2 else 1)
        if need > len(free):
            with pytest.raises(errors.PoolExhausted):
                db.write_sync(_mixed, pool_id, owner, k, where)
            return
        got = db.write_sync(_mixed, pool_id, owner, k, where)
        assert len(got) == len(set(got)) == need and set(got) <= free
        model.used.update(dict.fromkeys(got, owner))
    elif kind == "release_many":
        _, picks, mode = step
        used = sorted(model.used)
        chosen = sorted({used[i % len(used)] for i in picks}) if used else []
        who: str | None = None
        bad = False
        if mode == "owner" and chosen:
            who = model.used[chosen[0]]
            chosen = [v for v in chosen if model.used[v] == who]
        elif mode == "double" and chosen:
            chosen.append(chosen[0])
            bad = True
        elif mode == "free":
            spare = sorted(model.free())
            if spare:
                chosen.insert(len(chosen) // 2, spare[len(picks) % len(spare)])
                bad = True
        elif mode == "wrong_owner" and chosen:
            who, bad = "nobody", True
        got = db.write_sync(_release_many_checked, pool_id, chosen, who)
        if bad:
            assert got is None
            return
        assert got == len(chosen)
        for v in chosen:
            del model.used[v]
    else:  # pragma: no cover
        raise AssertionError(kind)


def test_random_operation_sequences(db: Database) -> None:
    """Allocate / explicit / release / edit / rollback sequences agree with the model."""

    @settings(
        max_examples=_examples(db, sqlite=150, postgres=40),
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(
        base=st.sampled_from(BASES),
        nbuckets=st.integers(1, 7),
        initial=range_lists,
        steps=st.lists(ops, max_size=40),
    )
    def check(base: int, nbuckets: int, initial: list[tuple[int, int]], steps: list[Any]) -> None:
        _run_sequence(db, base, nbuckets, initial, steps)

    check()


# -- pure helpers -----------------------------------------------------------------------------
small_ranges = st.lists(
    st.tuples(st.integers(0, 200), st.integers(0, 200)).map(lambda t: (min(t), max(t))),
    max_size=5,
)


def _values(ranges: list[tuple[int, int]]) -> set[int]:
    return {v for lo, hi in ranges for v in range(lo, hi + 1)}


@given(small_ranges)
def test_normalize_ranges_is_the_same_set_sorted_and_disjoint(
    ranges: list[tuple[int, int]],
) -> None:
    norm = normalize_ranges(ranges)
    assert _values(norm) == _values(ranges)
    for (_, hi), (lo, _) in itertools.pairwise(norm):
        assert hi + 1 < lo  # disjoint and not adjacent (adjacent ones are merged)


@given(small_ranges, small_ranges)
def test_subtract_ranges_is_set_difference(
    a: list[tuple[int, int]], b: list[tuple[int, int]]
) -> None:
    na, nb = normalize_ranges(a), normalize_ranges(b)
    assert _values(subtract_ranges(na, nb)) == _values(na) - _values(nb)


@given(small_ranges, st.integers(1, 9), st.data())
def test_next_candidate_is_the_smallest_match(
    ranges: list[tuple[int, int]], n: int, data: Any
) -> None:
    rs = RangeSet(ranges)
    residue = data.draw(st.integers(0, n - 1))
    start = data.draw(st.integers(0, 210))
    want = min((v for v in _values(ranges) if v >= start and v % n == residue), default=None)
    assert rs.next_candidate(start, n, residue) == want
    assert rs.size == len(_values(ranges))
    assert all((v in rs) == (v in _values(ranges)) for v in range(0, 202))
    assert decode_ranges(rs.encode()).ranges == rs.ranges


@given(st.integers(0, MAX_VALUE), st.integers(0, MAX_VALUE))
def test_keys_sort_like_values(a: int, b: int) -> None:
    assert len(key(a)) == 32
    assert unkey(key(a)) == a
    assert (key(a) < key(b)) == (a < b)


@given(st.integers(0, 2**32 - 1))
def test_ipv4_round_trip(v: int) -> None:
    text = addresses.int_to_ip(v, 4)
    assert addresses.ip_to_int(text) == v
    assert addresses.canonical_ip(text) == text


@given(st.integers(0, 2**128 - 1))
def test_ipv6_round_trip(v: int) -> None:
    text = addresses.int_to_ip(v, 6)
    assert addresses.ip_to_int(text) == v
    assert text == str(ipaddress.IPv6Address(v))


@given(
    st.one_of(
        st.tuples(st.just(4), st.integers(0, 2**32 - 1), st.integers(20, 32)),
        st.tuples(st.just(6), st.integers(0, 2**128 - 1), st.integers(116, 128)),
    ),
    st.data(),
)
def test_default_pools_stay_in_the_subnet_and_skip_reserved(net: Any, data: Any) -> None:
    version, addr, plen = net
    network = ipaddress.ip_network((addr, plen), strict=False)
    first, last = int(network.network_address), int(network.broadcast_address)
    gateway = data.draw(st.one_of(st.none(), st.integers(first, last)))
    gw_text = None if gateway is None else addresses.int_to_ip(gateway, version)
    ranges = addresses.default_pool_ranges(str(network), gw_text)
    assert addresses.ranges_within(ranges, str(network))
    assert not addresses.ranges_overlap(ranges)
    values = RangeSet(ranges)
    if first != last:
        assert first not in values
        if version == 4:
            assert last not in values
        if gateway is not None:
            assert gateway not in values
    pools_text = addresses.ranges_to_pools(ranges, version)
    assert addresses.pool_ranges(pools_text) == ranges


def test_default_pools_examples() -> None:
    ip = addresses.ip_to_int
    assert addresses.default_pool_ranges("10.0.0.0/24", "10.0.0.1") == [
        (ip("10.0.0.2"), ip("10.0.0.254"))
    ]
    assert addresses.default_pool_ranges("10.0.0.0/24", "10.0.0.100") == [
        (ip("10.0.0.1"), ip("10.0.0.99")),
        (ip("10.0.0.101"), ip("10.0.0.254")),
    ]
    assert addresses.default_pool_ranges("10.0.0.0/31", None) == []
    assert addresses.default_pool_ranges("10.0.0.7/32", None) == [(ip("10.0.0.7"),) * 2]
    assert addresses.default_pool_ranges("2001:db8::/64", "2001:db8::1") == [
        (ip("2001:db8::2"), ip("2001:db8::ffff:ffff:ffff:ffff"))
    ]
    with pytest.raises(ValueError):
        addresses.pool_ranges([{"start": "10.0.0.9", "end": "10.0.0.1"}])
    with pytest.raises(ValueError):
        addresses.pool_ranges(
            [{"start": "10.0.0.1", "end": "10.0.0.2"}, {"start": "::1", "end": "::2"}]
        )


@given(st.sampled_from(["fa:16:3e:00:00:00", "fa:16:3e:4f:00:00", "02:00:00:00:00:00"]))
def test_random_mac_keeps_the_base(base: str) -> None:
    got = mac.random_mac(base)
    assert mac.valid_mac(got)
    for b, g in list(zip(base.split(":"), got.split(":"), strict=True))[:3]:
        assert b == g
    for b, g in list(zip(base.split(":"), got.split(":"), strict=True))[3:]:
        assert b == "00" or b == g
    assert mac.canonical_mac(got.upper().replace(":", "-")) == got
