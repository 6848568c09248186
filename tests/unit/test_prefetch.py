"""Prefetched reads (`UnitOfWork.prefetch`): served once from the pipeline's results, and
never after a write to a table they read, on real PostgreSQL (on SQLite it does nothing)."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from alcor.store import prepared
from alcor.store.db import Database, UnitOfWork

meta = sa.MetaData()
things = sa.Table(
    "prefetch_things",
    meta,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("name", sa.String(32), nullable=False),
)
others = sa.Table("prefetch_others", meta, sa.Column("id", sa.Integer, primary_key=True))
BY_ID = prepared.hot(sa.select(things.c.name).where(things.c.id == sa.bindparam("id")))
COUNT = prepared.hot(sa.select(sa.func.count()).select_from(others))
RENAME = prepared.hot(
    things.update().where(things.c.id == sa.bindparam("tid")).values(name=sa.bindparam("n"))
)
ADD_OTHER = prepared.hot(others.insert().values(id=sa.bindparam("id")))


@pytest.fixture
def db(db_url: str) -> Database:
    database = Database(db_url)
    meta.create_all(database.engine)
    with database.engine.begin() as conn:
        conn.execute(things.insert(), [{"id": 1, "name": "a"}, {"id": 2, "name": "b"}])
    yield database
    database.close()


def test_a_prefetched_read_answers_once_and_as_the_statement_would(db: Database) -> None:
    def work(uow: UnitOfWork) -> list[object]:
        uow.prefetch([(BY_ID, {"id": 1}), (BY_ID, {"id": 2}), (COUNT, {})])
        held = len(uow.prefetched)
        got = [uow.execute(BY_ID, {"id": 1}).scalar(), uow.execute(BY_ID, {"id": 2}).scalar()]
        return [held, *got, uow.execute(BY_ID, {"id": 1}).scalar(), len(uow.prefetched)]

    held, first, second, again, left = db.write_sync(work)
    assert (first, second, again) == ("a", "b", "a")
    # PostgreSQL: three prefetched, two used (COUNT has no parameters: never served);
    # SQLite: nothing prefetched
    assert (held, left) == ((3, 1) if db.dialect == "postgresql" else (0, 0))


def test_a_write_drops_what_it_may_change_and_only_that(db: Database) -> None:
    def work(uow: UnitOfWork) -> tuple[str, str, int]:
        uow.prefetch([(BY_ID, {"id": 1}), (BY_ID, {"id": 2})])
        uow.defer(ADD_OTHER, {"id": 7})  # another table: both reads stay
        kept = len(uow.prefetched)
        uow.execute(RENAME, {"tid": 1, "n": "renamed"})
        return uow.execute(BY_ID, {"id": 1}).scalar(), uow.execute(BY_ID, {"id": 2}).scalar(), kept

    renamed, other, kept = db.write_sync(work)
    assert (renamed, other) == ("renamed", "b")
    assert kept == (2 if db.dialect == "postgresql" else 0)


def test_a_statement_sqlalchemy_runs_drops_everything(db: Database) -> None:
    def work(uow: UnitOfWork) -> str:
        uow.prefetch([(BY_ID, {"id": 1}), (BY_ID, {"id": 2})])
        uow.execute(sa.text("UPDATE prefetch_things SET name = 'x' WHERE id = 1"))
        return str(uow.execute(BY_ID, {"id": 1}).scalar())

    assert db.write_sync(work) == "x"


def test_reads_prefetched_inside_a_savepoint_that_rolls_back_are_dropped(db: Database) -> None:
    def work(uow: UnitOfWork) -> str:
        with pytest.raises(RuntimeError), uow.savepoint():
            uow.defer(RENAME, {"tid": 1, "n": "undone"})
            uow.prefetch([(BY_ID, {"id": 1}), (BY_ID, {"id": 2})])  # sees "undone"
            raise RuntimeError
        return str(uow.execute(BY_ID, {"id": 1}).scalar())

    assert db.write_sync(work) == "a"
