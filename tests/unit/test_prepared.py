"""The fast path for hot statements gives exactly what SQLAlchemy gives: values, types,
errors, fallbacks, on SQLite and on PostgreSQL."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from alcor.store.db import Database
from alcor.store.prepared import FastResult, SelectIn, hot

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


_ALL_BY_ID = SelectIn(sa.select(_t).order_by(_t.c.id), _t.c.id)
_other = _t.alias("other")
_TWO_IDS = SelectIn(  # one column name twice: labelled apart, as SQLAlchemy's mappings do
    sa.select(_t.c.id, _other.c.id).select_from(_t.join(_other, _other.c.id == _t.c.id)),
    _t.c.id,
)
_DROP = SelectIn(_t.delete(), _t.c.id)


def test_select_in_equals_sqlalchemy_in_every_size(db: Database) -> None:
    many = [
        {"id": f"m{i:04d}", "flag": i % 2 == 0, "doc": {"i": i}, "at": i / 2, "n": i}
        for i in range(1000)
    ]

    def work(uow: object) -> None:
        uow.execute(_INSERT, ROWS + many)  # type: ignore[attr-defined]

    db.write_sync(work)
    ids = [r["id"] for r in ROWS + many]

    def read(conn: sa.Connection) -> None:
        for n in (1, 2, 3, 5, 17, 900, 901, 1003):
            wanted = ids[:n] + ids[:2]  # duplicates select nothing more
            fast = _ALL_BY_ID.rows(conn, wanted)
            slow = conn.execute(sa.select(_t).where(_t.c.id.in_(wanted))).mappings().all()
            assert sorted(map(dict, fast), key=lambda r: r["id"]) == [
                dict(r) for r in sorted(slow, key=lambda r: r["id"])
            ]
            assert all(type(r["flag"]) is bool for r in fast)
        assert _ALL_BY_ID.rows(conn, []) == []
        slow = conn.execute(_TWO_IDS.stmt.where(_t.c.id.in_(["a"]))).mappings().all()
        assert _TWO_IDS.rows(conn, ["a"]) == [dict(r) for r in slow] == [{"id": "a", "id_1": "a"}]

    db.read_sync(read)

    def drop(uow: object) -> None:
        _DROP.run(uow.conn, ["a", "b", "m0001"])  # type: ignore[attr-defined]

    db.write_sync(drop)
    left = db.read_sync(lambda c: c.execute(sa.select(sa.func.count()).select_from(_t)).scalar())
    assert left == len(ROWS) + len(many) - 3


def test_deferred_writes_keep_their_order_and_fail_their_transaction(db: Database) -> None:
    """Writes deferred by a unit of work are seen by every later statement of it (fast path
    or SQLAlchemy's), commit with it, and a failing one fails it as a whole."""

    def make(uow: object) -> tuple[object, object]:
        uow.defer(_INSERT, [ROWS[0]])  # type: ignore[attr-defined]
        fast = uow.execute(_BY_ID, {"id": "a"}).first()  # type: ignore[attr-defined]
        uow.defer(_INSERT, [ROWS[1]])  # type: ignore[attr-defined]
        slow = uow.conn.execute(_COLD, {"id": "b"}).first()  # type: ignore[attr-defined]
        uow.defer(_BUMP, {"key": "a", "n": 7})  # type: ignore[attr-defined]
        uow.defer(_INSERT, [ROWS[2]])  # type: ignore[attr-defined]
        return fast, slow

    fast, slow = db.write_sync(make)
    assert fast is not None and fast.id == "a" and slow is not None and slow.id == "b"
    rows = db.read_sync(lambda c: c.execute(sa.select(_t.c.id, _t.c.n).order_by(_t.c.id)).all())
    assert [tuple(r) for r in rows] == [("a", 7), ("b", None), ("c", 2**40)]

    def clash(uow: object) -> None:
        uow.defer(_BUMP, {"key": "b", "n": 1})  # type: ignore[attr-defined]
        uow.defer(_INSERT, [{**ROWS[0], "id": "d"}, ROWS[0]])  # type: ignore[attr-defined]

    with pytest.raises(sa.exc.IntegrityError):
        db.write_sync(clash)
    # nothing of the failed transaction stayed, and its connection serves the next one
    assert db.read_sync(lambda c: c.execute(_COLD, {"id": "d"}).first()) is None
    assert db.read_sync(lambda c: c.execute(_COLD, {"id": "b"}).first().n) is None

    def rolled_back(uow: object) -> None:
        uow.defer(_INSERT, [{**ROWS[0], "id": "e"}])  # type: ignore[attr-defined]
        raise ValueError("changed my mind")

    with pytest.raises(ValueError):
        db.write_sync(rolled_back)
    db.write_sync(lambda uow: uow.defer(_BUMP, {"key": "c", "n": 3}))
    assert db.read_sync(lambda c: c.execute(_COLD, {"id": "e"}).first()) is None
    assert db.read_sync(lambda c: c.execute(_COLD, {"id": "c"}).first().n) == 3
