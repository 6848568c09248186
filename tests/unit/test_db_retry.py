"""A unit of work chosen as a PostgreSQL deadlock victim is run again, not failed: two
transactions lock two rows in opposite orders; both must commit."""

from __future__ import annotations

import threading

import pytest
import sqlalchemy as sa

from alcor.store.db import Database, UnitOfWork

pytestmark = pytest.mark.postgres


def test_deadlock_victim_is_retried(pg_url: str) -> None:
    db = Database(pg_url)
    meta = sa.MetaData()
    rows = sa.Table(
        "retry_rows",
        meta,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("hits", sa.Integer, nullable=False),
    )
    meta.create_all(db.engine)
    with db.engine.begin() as conn:
        conn.execute(rows.insert(), [{"id": 1, "hits": 0}, {"id": 2, "hits": 0}])
    both_hold_one = threading.Barrier(2, timeout=10)
    attempts = {1: 0, 2: 0}

    def work(uow: UnitOfWork, first: int, second: int) -> None:
        attempts[first] += 1
        for rid in (first, second):
            uow.execute(rows.update().where(rows.c.id == rid).values(hits=rows.c.hits + 1))
            if rid == first and attempts[first] == 1:
                both_hold_one.wait()

    threads = [
        threading.Thread(target=db.write_sync, args=(work, a, b)) for a, b in ((1, 2), (2, 1))
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    hits = db.read_sync(lambda c: dict(c.execute(sa.select(rows.c.id, rows.c.hits)).all()))
    assert hits == {1: 2, 2: 2}  # both transactions committed exactly once
    assert sorted(attempts.values()) == [1, 2]  # one of them was the victim and ran again
    db.close()
