"""The fast path for hot statements gives exactly what SQLAlchemy gives: values, types,
errors, fallbacks, on SQLite and on PostgreSQL."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from alcor.store.db import Database
from alcor.store.prepared import FastResult, hot

_md = sa.MetaData()
_t = sa.Table(
    "fast_t",
    _md,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("flag", sa.Boolean(), nullable=True),
    sa.Column("doc", sa.JSON(), nullable=True),
    sa.Column("at", sa.Float(), nullable=True),
    sa.Column("n", sa.BigInteger(), nullable=True),
)
_INSERT = hot(_t.insert())
_BY_ID = hot(sa.select(_t).where(_t.c.id == sa.bindparam("id")))
_FIRST_TRUE = hot(sa.select(_t.c.id).where(_t.c.flag.is_(True)).order_by(_t.c.id).limit(1))
_BUMP = hot(_t.update().where(_t.c.id == sa.bindparam("key")).values(n=sa.bindparam("n")))
_IN = hot(sa.select(_t.c.id).where(_t.c.id.in_(sa.bindparam("ids", expanding=True))))
_COLD = sa.select(_t).where(_t.c.id == sa.bindparam("id"))


@pytest.fixture
def db(db_url: str) -> Database:
    database = Database(db_url)
    _md.create_all(database.engine)
    yield database
    database.close()


ROWS = [
    {"id": "a", "flag": True, "doc": {"k": [1, 2]}, "at": 1.5, "n": 1},
    {"id": "b", "flag": False, "doc": None, "at": None, "n": None},
    {"id": "c", "flag": True, "doc": [], "at": 2.0, "n": 2**40},
]


def test_fast_results_equal_sqlalchemy_results(db: Database) -> None:
    def work(uow: object) -> None:
        uow.execute(_INSERT, ROWS)  # type: ignore[attr-defined]

    db.write_sync(work)

    def read(uow: object) -> list[tuple[object, object]]:
        out = []
        for row in ROWS:
            fast = uow.execute(_BY_ID, {"id": row["id"]})  # type: ignore[attr-defined]
            slow = uow.conn.execute(_COLD, {"id": row["id"]})  # type: ignore[attr-defined]
            out.append((fast, slow.first()))
        return out

    for fast, slow in db.write_sync(read):
        assert isinstance(fast, FastResult)
        got = fast.first()
        assert tuple(got) == tuple(slow)
        assert got.flag is slow.flag and got.doc == slow.doc and got.id == slow.id


def test_literals_updates_and_fallbacks(db: Database) -> None:
    def work(uow: object) -> tuple[object, ...]:
        u: object = uow
        u.execute(_INSERT, ROWS)  # type: ignore[attr-defined]
        first = u.execute(_FIRST_TRUE, {}).scalar()  # type: ignore[attr-defined]
        bumped = u.execute(_BUMP, {"key": "b", "n": 7}).rowcount  # type: ignore[attr-defined]
        n = u.execute(_BY_ID, {"id": "b"}).first().n  # type: ignore[attr-defined]
        expanding = u.execute(_IN, {"ids": ["a", "c"]}).all()  # type: ignore[attr-defined]
        partial = u.execute(_INSERT, {"id": "d"})  # type: ignore[attr-defined]
        return first, bumped, n, sorted(r[0] for r in expanding), partial

    first, bumped, n, expanding, partial = db.write_sync(work)
    assert (first, bumped, n, expanding) == ("a", 1, 7, ["a", "c"])
    assert not isinstance(partial, FastResult)  # a missing bind goes through SQLAlchemy


def test_errors_are_sqlalchemy_errors(db: Database) -> None:
    def twice(uow: object) -> None:
        uow.execute(_INSERT, ROWS[0])  # type: ignore[attr-defined]
        uow.execute(_INSERT, ROWS[0])  # type: ignore[attr-defined]

    with pytest.raises(sa.exc.IntegrityError):
        db.write_sync(twice)
    assert (
        db.read_sync(lambda c: c.execute(sa.select(sa.func.count()).select_from(_t)).scalar()) == 0
    )
