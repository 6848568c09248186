"""The allocator's stored invariants, checked from scratch: `check_pool`, for tests.

`alcor.ipam.pools` keeps its bucket rows exact incrementally (``used``, ``nfree``, ``ahead``,
the ``full`` flag, ``gen``, marks and free lists; the package docstring says what each
means). `check_pool` reads every row of one pool and restates those invariants on its own, so
a test can assert that any sequence of operations, however concurrent, left the pool
consistent. It reads all rows, so it belongs in tests (and `benchmarks/ipam.py`), not in the
server; it uses the package's row helpers (`pools.buckets`) to read the stored state.
"""

from __future__ import annotations

import sqlalchemy as sa

from alcor.ipam.pools.buckets import BUCKET_COLS, bucket_of, conn_of, read_pool
from alcor.ipam.pools.ranges import MAX_VALUE, unkey
from alcor.ipam.tables import ipam_buckets, ipam_free, ipam_used
from alcor.store.db import UnitOfWork


def check_pool(uow: UnitOfWork | sa.Connection, pool_id: str) -> list[str]:
    """Verify every invariant of one pool; return the violations (empty = consistent)."""
    conn = conn_of(uow)
    pool = read_pool(conn, pool_id)
    n, rs = pool.n, pool.ranges
    problems: list[str] = []
    buckets = {
        r.bucket: (bucket_of(r), r.full)
        for r in conn.execute(
            sa.select(*BUCKET_COLS, ipam_buckets.c.full).where(ipam_buckets.c.pool_id == pool_id)
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
